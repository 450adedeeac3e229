"""HTTP as messages and back, without sockets or a backend (channels_core/http.py)."""

from __future__ import annotations

import io

from channels_core.http import (
    CHUNK_SIZE,
    BodyReader,
    abandoned_chunk,
    decode_body,
    encode_body,
    environ_from_request,
    request_message,
    response_messages,
)

ENVIRON = {
    "REQUEST_METHOD": "POST",
    "wsgi.url_scheme": "https",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/caf\xc3\xa9/",  # "/café/" as PEP 3333 gives it: UTF-8 bytes as latin-1
    "QUERY_STRING": "q=1",
    "CONTENT_TYPE": "text/plain",
    "CONTENT_LENGTH": "",
    "HTTP_X_FORWARDED_FOR": "10.0.0.1",
    "HTTP_COOKIE": "a=b",
    "REMOTE_ADDR": "127.0.0.1",
    "REMOTE_PORT": "50000",
    "SERVER_NAME": "example.com",
    "SERVER_PORT": "443",
}


def test_a_request_becomes_a_message_with_lower_case_headers_and_text_as_it_is() -> None:
    message = request_message(ENVIRON, "!wsgi.srv.a", b"hello", start_channel="django.wsgi.start.x", deadline=12.5)
    assert message == {
        "send_channel": "!wsgi.srv.a",
        "method": "POST",
        "scheme": "https",
        "path": "/café/",
        "query_string": "q=1",
        "headers": [["content-type", "text/plain"], ["x-forwarded-for", "10.0.0.1"], ["cookie", "a=b"]],
        "body": encode_body(b"hello"),
        "client": ["127.0.0.1", 50000],
        "server": ["example.com", 443],
        "start_channel": "django.wsgi.start.x",
        "deadline": 12.5,
    }
    assert "body_channel" not in message  # the whole body fits in the message


def test_a_message_becomes_the_same_environ_again() -> None:
    message = request_message(ENVIRON, "!wsgi.srv.a", b"", body_channel="django.wsgi.body.y")
    environ = environ_from_request(message, io.BytesIO())
    for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "HTTP_COOKIE", "HTTP_X_FORWARDED_FOR"):
        assert environ[key] == ENVIRON[key], key
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"], environ["wsgi.url_scheme"]) == (
        "example.com",
        "443",
        "https",
    )


def test_repeated_headers_are_joined_as_a_wsgi_server_would() -> None:
    message = {"method": "GET", "path": "/", "headers": [["accept", "a"], ["accept", "b"]]}
    assert environ_from_request(message, io.BytesIO())["HTTP_ACCEPT"] == "a,b"


def test_a_body_reader_reads_across_chunks_and_ends() -> None:
    reader = io.BufferedReader(BodyReader(b"ab", iter([b"cd", b"", b"e"])))
    assert reader.read() == b"abcde"
    assert reader.read() == b""


def test_a_response_in_hand_ends_with_its_last_piece() -> None:
    big = b"x" * (CHUNK_SIZE + 10)
    messages = list(response_messages(200, [("Content-Type", "text/plain")], [big]))
    assert [m.get("status") for m in messages] == [200, None]
    assert messages[0]["headers"] == [["content-type", "text/plain"]]
    assert [len(decode_body(m["content"])) for m in messages] == [CHUNK_SIZE, 10]
    assert [m["more_content"] for m in messages] == [True, False]


def test_an_empty_response_is_one_message() -> None:
    assert list(response_messages(204, [], [])) == [
        {"status": 204, "headers": [], "content": "", "more_content": False}
    ]


def test_a_streaming_response_sends_each_piece_at_once_and_ends_empty() -> None:
    messages = list(response_messages(200, [], iter([b"a", b"b"]), streaming=True))
    assert [(decode_body(m["content"]), m["more_content"]) for m in messages] == [
        (b"a", True),
        (b"b", True),
        (b"", False),
    ]


def test_an_abandoned_body_ends_with_why() -> None:
    assert abandoned_chunk("over the limit") == {"content": "", "more_content": False, "abandoned": "over the limit"}
