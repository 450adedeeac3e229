"""The Lua scripts of the Redis backend: each multi-step operation is one atomic round trip.

Storage layout, under the backend's key prefix ``P``:

* ``Pq:<queue>``: a list of entries ``<deadline ms>|<channels>|<json>``, oldest
  first. ``<channels>`` is the channel the message was sent to, or, for a
  group send, ``@<id>``: the members in that queue, kept once in ``Ps:<id>``.
* ``Pg:<group>``: a sorted set of the queues holding members of the group,
  scored by the latest expiry (ms) of a member there.
* ``Pm:<group>:<queue>``: a sorted set of the group's members stored in that
  queue, scored by their expiry (ms).
* ``Ps:<id>``: a snapshot of members, comma-joined; ``<id>`` is its SHA-1, so a
  snapshot never changes and group sends share it. It lives as long as the
  entries that name it.
* ``Pc:<group>:<queue>``: the id of the current snapshot of that queue's
  members. Re-added members only refresh their expiry, so the membership
  changes rarely and a group send costs the same for 10 members or 10,000;
  anything that changes the membership deletes this key.

With several shards, each shard keeps the queues it holds and the group
members stored in them, so ``Group.send`` is one script per shard. Deadlines
use the Redis server's clock (``TIME``), so clients need not agree on the
time. Every key gets a TTL of the expiry it serves, so nothing outlives it.
Receiving needs no script: one ``BLMPOP`` waits and pops a batch (see
:mod:`channels_core.backends.redis`). Needs Redis 7.0 or newer (``BLMPOP``,
``ZADD GT``). Group history's scripts (``redis_history_lua.py``) call the
Lua functions of these (``send_to_group``, ``add_member``), so that a send
with history delivers exactly as a plain one.
"""

from __future__ import annotations

__all__ = [
    "GROUP_ADD",
    "GROUP_CHANNELS",
    "GROUP_DISCARD",
    "GROUP_QUEUES",
    "GROUP_SEND",
    "MEMBER_ADD",
    "MEMBER_DISCARD",
    "QUEUE_GROUP_SEND",
    "QUEUE_MEMBERS",
    "SEND",
    "lua_pattern",
]

_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function deadline_of(entry)
  return tonumber(string.sub(entry, 1, string.find(entry, '|', 1, true) - 1))
end

-- Drop expired entries from the head of a queue, so their storage is
-- reclaimed while producers keep sending and no consumer comes.
local function trim(queue, now)
  while true do
    local head = redis.call('LINDEX', queue, 0)
    if not head or deadline_of(head) > now then return end
    redis.call('LPOP', queue)
  end
end

local function push(queue, entry, capacity, expiry, now)
  trim(queue, now)
  if redis.call('LLEN', queue) >= capacity then return false end
  redis.call('RPUSH', queue, entry)
  redis.call('PEXPIRE', queue, expiry)
  return true
end

local function stamp(now, expiry)
  return string.format('%.0f', now + expiry) .. '|'
end
"""

#: KEYS: one queue per message. ARGV: for each message its channel, payload,
#: capacity and expiry ms. Returns 1 (stored) or 0 (queue full) for each.
SEND = (
    _COMMON
    + """
local now, stored = now_ms(), {}
for i = 1, #KEYS do
  local at = 1 + (i - 1) * 4
  local expiry = tonumber(ARGV[at + 3])
  local entry = stamp(now, expiry) .. ARGV[at] .. '|' .. ARGV[at + 1]
  stored[i] = push(KEYS[i], entry, tonumber(ARGV[at + 2]), expiry, now) and 1 or 0
end
return stored
"""
)

_MEMBERSHIP = """
-- Add or refresh a member of a group in its queue's members; a new member
-- deletes the queue's current snapshot id. Returns the member's deadline (ms).
local function add_member(members_key, current_key, channel, expiry)
  local deadline = now_ms() + expiry
  if redis.call('ZADD', members_key, deadline, channel) == 1 then redis.call('DEL', current_key) end
  redis.call('PEXPIRE', members_key, expiry)
  return deadline
end

-- Note in a group's index that a queue holds members until `deadline` at least.
local function index_queue(group_key, queue, deadline, expiry)
  redis.call('ZADD', group_key, 'GT', deadline, queue)
  redis.call('PEXPIRE', group_key, expiry)
end
"""

#: KEYS: group, members, joined members. ARGV: channel, queue, group expiry ms.
GROUP_ADD = (
    _COMMON
    + _MEMBERSHIP
    + """
local expiry = tonumber(ARGV[3])
index_queue(KEYS[1], ARGV[2], add_member(KEYS[2], KEYS[3], ARGV[1], expiry), expiry)
return 1
"""
)

#: KEYS: group, members, joined members. ARGV: channel, queue.
GROUP_DISCARD = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then redis.call('DEL', KEYS[3]) end
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('ZREM', KEYS[1], ARGV[2]) end
return 1
"""

_MEMBERS = """
-- The live members of a group in each queue. Expired members are dropped
-- first; dropping or adding a member deletes the queue's current snapshot id.
local function live_count(members_key, current_key, now)
  if redis.call('ZREMRANGEBYSCORE', members_key, '-inf', now) > 0 then redis.call('DEL', current_key) end
  return redis.call('ZCARD', members_key)
end

-- The queues holding live members of a group.
local function group_queues(group_key, now)
  redis.call('ZREMRANGEBYSCORE', group_key, '-inf', now)
  return redis.call('ZRANGE', group_key, 0, -1)
end
"""

#: KEYS: group. ARGV: members key prefix (``Pm:<group>:``), current snapshot key
#: prefix (``Pc:<group>:``). Returns every live member.
GROUP_CHANNELS = (
    _COMMON
    + _MEMBERS
    + """
local now, found = now_ms(), {}
for _, queue in ipairs(group_queues(KEYS[1], now)) do
  local members_key = ARGV[1] .. queue
  if live_count(members_key, ARGV[2] .. queue, now) > 0 then
    for _, member in ipairs(redis.call('ZRANGE', members_key, 0, -1)) do table.insert(found, member) end
  end
end
return found
"""
)

_TO_MEMBERS = """
-- The id of the snapshot of a queue's members, made if missing; it is kept
-- for at least `expiry` ms, as long as the entry about to name it.
local function snapshot_id(members_key, current_key, snapshot_prefix, expiry)
  local id = redis.call('GET', current_key)
  if id and redis.call('PEXPIRE', snapshot_prefix .. id, expiry) == 1 then return id end
  local members = table.concat(redis.call('ZRANGE', members_key, 0, -1), ',')
  id = redis.sha1hex(members)
  redis.call('SET', snapshot_prefix .. id, members, 'PX', expiry)
  redis.call('SET', current_key, id, 'PX', redis.call('PTTL', members_key))
  return id
end

-- One entry in a queue for the group's live members there, naming their snapshot.
-- Returns how many members it reached and how many it skipped (the queue was full).
local function send_to_members(queue_key, members_key, current_key, snapshot_prefix, entry_stamp, payload,
                               capacity, expiry, now)
  local count = live_count(members_key, current_key, now)
  if count == 0 then return 0, 0 end
  local entry = entry_stamp .. '@' .. snapshot_id(members_key, current_key, snapshot_prefix, expiry) .. '|' .. payload
  if push(queue_key, entry, capacity, expiry, now) then return count, 0 end
  return 0, count
end
"""

_TO_GROUP = """
-- A queue's capacity or expiry: the value of the first rule in ARGV[first..last) that matches, or the default.
local function setting_of(queue, first, last, default)
  for i = first, last - 1, 2 do
    if string.find(queue, ARGV[i]) then return tonumber(ARGV[i + 1]) end
  end
  return tonumber(default)
end

-- Deliver `payload` to every live member of the group whose index is `group_key`: one entry
-- per queue, naming the snapshot of its members. ARGV[at..] hold the group's settings: members
-- key prefix, current snapshot key prefix, snapshot key prefix, queue key prefix, default
-- capacity, default expiry ms, the number of capacity rules, then the capacity rules and the
-- expiry rules as (Lua pattern, value) pairs in look-up order, to the end of ARGV.
-- Returns how many members it reached and how many it skipped.
local function send_to_group(group_key, at, payload)
  local now = now_ms()
  local capacity_rules = at + 7
  local expiry_rules = capacity_rules + 2 * tonumber(ARGV[at + 6])
  local default_expiry = tonumber(ARGV[at + 5])
  local default_stamp = stamp(now, default_expiry)
  local delivered, skipped = 0, 0
  for _, queue in ipairs(group_queues(group_key, now)) do
    local capacity = setting_of(queue, capacity_rules, expiry_rules, ARGV[at + 4])
    local expiry = setting_of(queue, expiry_rules, #ARGV + 1, default_expiry)
    local entry_stamp = expiry == default_expiry and default_stamp or stamp(now, expiry)
    local reached, missed = send_to_members(ARGV[at + 3] .. queue, ARGV[at] .. queue, ARGV[at + 1] .. queue,
      ARGV[at + 2], entry_stamp, payload, capacity, expiry, now)
    delivered, skipped = delivered + reached, skipped + missed
  end
  return delivered, skipped
end
"""

#: KEYS: group. ARGV: payload, then the group's settings (see ``send_to_group``): members
#: key prefix, current snapshot key prefix, snapshot key prefix, queue key prefix, default
#: capacity, default expiry ms, the number of capacity rules, then the capacity rules and the
#: expiry rules as (Lua pattern, value) pairs in look-up order. Returns {delivered, skipped}.
#: Each queue gets one entry naming the snapshot of its members.
GROUP_SEND = (
    _COMMON
    + _MEMBERS
    + _TO_MEMBERS
    + _TO_GROUP
    + """
local delivered, skipped = send_to_group(KEYS[1], 2, ARGV[1])
return {delivered, skipped}
"""
)

# The Redis Cluster backend's scripts: the Redis backend's, cut so that each touches the keys
# of one slot (the layout: channels_core.backends.redis_cluster_keys).

#: KEYS: members, current snapshot id (both in the slot of the members' queue). ARGV:
#: channel, group expiry ms. Returns the member's new deadline (ms), for the group's index.
MEMBER_ADD = (
    _COMMON
    + _MEMBERSHIP
    + """
return add_member(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]))
"""
)

#: KEYS: members, current snapshot id. ARGV: channel.
MEMBER_DISCARD = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('DEL', KEYS[2]) end
return 1
"""

#: KEYS: members, current snapshot id. Returns the live members.
QUEUE_MEMBERS = (
    _COMMON
    + _MEMBERS
    + """
if live_count(KEYS[1], KEYS[2], now_ms()) == 0 then return {} end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)

#: KEYS: the group's index. Returns the queues that may hold live members.
GROUP_QUEUES = (
    _COMMON
    + _MEMBERS
    + """
return group_queues(KEYS[1], now_ms())
"""
)

#: KEYS: queue, members, current snapshot id (one slot). ARGV: snapshot key prefix (in
#: that slot), payload, capacity, expiry ms. Returns {delivered, skipped}.
QUEUE_GROUP_SEND = (
    _COMMON
    + _MEMBERS
    + _TO_MEMBERS
    + """
local now, expiry = now_ms(), tonumber(ARGV[4])
local delivered, skipped = send_to_members(
  KEYS[1], KEYS[2], KEYS[3], ARGV[1], stamp(now, expiry), ARGV[2], tonumber(ARGV[3]), expiry, now)
return {delivered, skipped}
"""
)

_LUA_MAGIC = set("^$()%.[]*+-?")


def _set_end(glob: str, start: int) -> int:
    """Index of the ``]`` closing the set that opens at ``start``, by fnmatch's rules, or -1.

    As in fnmatch, a ``]`` right after ``[`` or ``[!`` is a member, not the end.
    """
    i = start + 1
    if i < len(glob) and glob[i] == "!":
        i += 1
    if i < len(glob) and glob[i] == "]":
        i += 1
    return glob.find("]", i)


def lua_pattern(glob: str) -> str:
    """Translate an :mod:`fnmatch` glob over channel names into an anchored Lua pattern."""
    out = ["^"]
    i = 0
    while i < len(glob):
        char = glob[i]
        closing = _set_end(glob, i) if char == "[" else -1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif closing != -1:
            body = glob[i + 1 : closing]
            negate = body.startswith("!")
            members = "".join("%" + c if c in "%^]" else c for c in body[negate:])
            out.append("[" + ("^" if negate else "") + members + "]")
            i = closing
        else:
            out.append("%" + char if char in _LUA_MAGIC else char)
        i += 1
    out.append("$")
    return "".join(out)
