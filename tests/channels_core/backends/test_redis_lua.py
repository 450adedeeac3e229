"""``lua_pattern``: capacity globs run inside Redis as Lua patterns, and must agree with :mod:`fnmatch`.

The Python side of a backend looks capacities up with ``fnmatch.fnmatchcase``;
``Group.send`` on Redis looks them up inside a Lua script. The real check runs
each translated pattern with ``string.find`` in a real redis-server.
"""

from __future__ import annotations

import fnmatch

import pytest

from channels_core.backends.redis_lua import lua_pattern
from channels_core.testing import RedisServer

#: Runs in Redis: which of ARGV[2..] the Lua pattern ARGV[1] finds, as 1 or 0, the way GROUP_SEND tests capacity.
MATCH_ALL = """
local found = {}
for i = 2, #ARGV do
  found[#found + 1] = string.find(ARGV[i], ARGV[1]) ~= nil and 1 or 0
end
return found
"""

NAMES = [
    "",
    "a",
    "-",
    "chat",
    "chat.",
    "chat.a",
    "chat.b",
    "chat.x",
    "chat.abc",
    "chat.xyz",
    "chat.-x",
    "chat._x",
    "chat.room-1",
    "chat.room-x",
    "chat.room-12",
    "Chat.a",
    "chatxa",
    "tiny.one",
    "tinyxone",
    "tiny.one.two",
    "a-b.c_d",
    "ab.c_d",
    "x-y",
    "b-x",
    "room.1",
    "room11",
    "django.websocket.connect",
    "django.websocket.receive",
    "django.wsgi.request",
    "!django.websocket.send.srv1.k3J9",
    "!django.wsgi.response.aB3",
    "!tiny.one",
    "!chat.a",
    "!",
]

GLOBS = [
    # literal names: dots and dashes are not magic
    "tiny.one",
    "a-b.c_d",
    "chat",
    # *
    "*",
    "chat.*",
    "*.connect",
    "django.*.connect",
    "*-*",
    "*.*.*",
    # ?
    "?",
    "chat.?",
    "chat.room-?",
    "????",
    # [abc], ranges, [!abc]
    "chat.[abc]",
    "chat.[abc]*",
    "chat.[!abc]",
    "chat.[!abc]*",
    "chat.room-[0-9]",
    "chat.room-[!0-9]",
    "[a-c]-[x-z]",
    "chat.[-_]x",
    "chat.[a-]*",
    "room[.]1",
    "[!a-z]*",
    "*[!0-9]",
    # response channels (a leading ! is literal outside brackets)
    "!*",
    "!django.websocket.send.*",
    "!tiny.*",
    "!?hat.a",
    "[!!]*",
    # brackets that fnmatch reads specially
    "chat.[]a]",
    "chat.[!]a]",
    "chat.[^a]",
    "chat.[",
    "chat.[]",
]


@pytest.fixture(scope="module")
def lua_matches(redis_server: RedisServer):
    client = redis_server.client()
    script = client.register_script(MATCH_ALL)

    def matches(pattern: str) -> dict[str, bool]:
        found = script(keys=[], args=[pattern, *NAMES])
        return dict(zip(NAMES, (bool(f) for f in found), strict=True))

    yield matches
    client.close()


@pytest.mark.parametrize("glob", GLOBS)
def test_lua_pattern_agrees_with_fnmatch_in_redis(lua_matches, glob: str) -> None:
    expected = {name: fnmatch.fnmatchcase(name, glob) for name in NAMES}
    assert lua_matches(lua_pattern(glob)) == expected


def test_the_table_is_not_trivial() -> None:
    """Nearly every glob matches some names and misses others, so agreement means something."""
    match_all_or_nothing = {"*", "chat.[", "chat.[]"}
    for glob in GLOBS:
        verdicts = {fnmatch.fnmatchcase(name, glob) for name in NAMES}
        assert (verdicts == {True, False}) is (glob not in match_all_or_nothing), glob


def test_the_one_liner_from_the_docs_agrees(redis_server: RedisServer) -> None:
    """The plain ``string.find`` form, one name at a time, as ``GROUP_SEND`` runs it."""
    client = redis_server.client()
    try:
        for name, glob in [("tiny.one", "tiny.one"), ("tinyxone", "tiny.one"), ("!tiny.a", "!tiny.*")]:
            found = client.eval("return string.find(ARGV[1], ARGV[2]) ~= nil", 0, name, lua_pattern(glob))
            assert bool(found) is fnmatch.fnmatchcase(name, glob), (name, glob)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("glob", "pattern"),
    [
        ("tiny.one", "^tiny%.one$"),
        ("chat.*", "^chat%..*$"),
        ("a-b?", "^a%-b.$"),
        ("chat.[abc]", "^chat%.[abc]$"),
        ("chat.[!abc]", "^chat%.[^abc]$"),
        ("!tiny.*", "^!tiny%..*$"),
    ],
)
def test_lua_pattern_is_anchored_and_escaped(glob: str, pattern: str) -> None:
    assert lua_pattern(glob) == pattern
