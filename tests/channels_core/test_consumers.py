"""The request consumer as a worker runs it: which requests may start, and bodies that never complete.

"Request deadlines" in docs/topics/design.rst: a worker runs a request only
before its deadline and only once it has taken the request's start ticket;
messages without those keys (from an older adapter) run as before.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import pytest

from channels_core.backends import BaseBackend
from channels_core.consumers import http_request
from channels_core.http import START_TICKET, abandoned_chunk, decode_body, encode_body, request_message
from channels_core.messages import Message
from channels_core.names import new_channel_name

INBOX = "!django.wsgi.response.tests"


def environ(path: str, method: str = "GET", query: str = "") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }


def message(backend: BaseBackend, *, ticket: bool = True, deadline_in: float = 60.0, **keys: Any) -> Message:
    """A request for 3 bytes from the download view, with a start ticket (sent when ``ticket``) and a deadline."""
    start_channel = new_channel_name("django.wsgi.start")
    if ticket:
        backend.send(start_channel, START_TICKET)
    request = request_message(
        environ("/tests/download/", query="size=3"),
        new_channel_name(INBOX),
        b"",
        start_channel=start_channel,
        deadline=time.time() + deadline_in,
    )
    return {**request, **keys}


def responses(backend: BaseBackend) -> list[Message]:
    return [message for _, message in backend.receive_inbox(INBOX, timeout=0)]


def test_a_request_with_its_ticket_before_its_deadline_runs_and_takes_the_ticket(memory_backend: BaseBackend) -> None:
    request = message(memory_backend)
    http_request(**request)
    assert [(response["status"], decode_body(response["content"])) for response in responses(memory_backend)] == [
        (200, bytes(range(3)))
    ]
    assert memory_backend.receive([request["start_channel"]], timeout=0) is None, "the worker took the ticket"


def test_a_request_past_its_deadline_is_dropped_and_its_ticket_left_for_the_adapter(
    memory_backend: BaseBackend, caplog: pytest.LogCaptureFixture
) -> None:
    request = message(memory_backend, deadline_in=-2.0)
    with caplog.at_level(logging.WARNING, logger="channels_core.http"):
        http_request(**request)
    assert responses(memory_backend) == []
    assert memory_backend.receive([request["start_channel"]], timeout=0) is not None, "the adapter can take it back"
    assert "GET /tests/download/ dropped, not started: its deadline passed" in caplog.text


def test_a_request_whose_ticket_is_gone_is_dropped(
    memory_backend: BaseBackend, caplog: pytest.LogCaptureFixture
) -> None:
    request = message(memory_backend, ticket=False)
    with caplog.at_level(logging.WARNING, logger="channels_core.http"):
        http_request(**request)
    assert responses(memory_backend) == []
    assert f"GET /tests/download/ dropped, not started: its start ticket on {request['start_channel']} is gone" in (
        caplog.text
    )


def test_a_message_from_an_older_adapter_without_ticket_or_deadline_runs_and_logs_nothing(
    memory_backend: BaseBackend, caplog: pytest.LogCaptureFixture
) -> None:
    request = request_message(environ("/tests/download/", query="size=3"), new_channel_name(INBOX), b"")
    assert "start_channel" not in request and "deadline" not in request
    with caplog.at_level(logging.INFO, logger="channels_core"):
        http_request(**request)
    assert [response["status"] for response in responses(memory_backend)] == [200]
    assert caplog.records == []


def upload(backend: BaseBackend, deadline_in: float = 60.0) -> Message:
    """A started upload whose body continues on a body channel, with one more chunk already there."""
    body_channel = new_channel_name("django.wsgi.body")
    request = message(backend, deadline_in=deadline_in)
    request.update(
        request_message(
            {**environ("/tests/upload/", method="POST"), "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "1000"},
            request["send_channel"],
            b"first chunk;",
            body_channel=body_channel,
        )
    )
    backend.send(body_channel, {"content": encode_body(b"second chunk;"), "more_content": True})
    return request


def test_a_body_the_adapter_abandoned_fails_the_view_at_once_instead_of_reaching_it_truncated(
    memory_backend: BaseBackend, caplog: pytest.LogCaptureFixture
) -> None:
    request = upload(memory_backend)
    memory_backend.send(request["body_channel"], abandoned_chunk("request body is over the limit of 20 bytes"))
    http_request(**request)
    assert [response["status"] for response in responses(memory_backend)] == [500]
    assert (
        "request body incomplete: the interface server abandoned it (request body is over the limit of 20 bytes)"
        in caplog.text
    )


def test_a_body_that_stops_coming_fails_the_view_soon_after_the_deadline(
    memory_backend: BaseBackend, caplog: pytest.LogCaptureFixture
) -> None:
    # Without the deadline, the reader would wait TRANSFER_TIMEOUT (30 s) for the next chunk.
    request = upload(memory_backend, deadline_in=0.2)
    http_request(**request)
    assert [response["status"] for response in responses(memory_backend)] == [500]
    assert f"request body incomplete: no chunk on {request['body_channel']!r} for 1." in caplog.text
