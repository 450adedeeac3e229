"""``runworker`` as a real process: across processes, faults, signals, filters.

The consumers live in ``tests/testapp/consumers.py`` and append what they got
to a record file, so the test can see what another process did.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from channels_core.backends import BaseBackend, backend_from_config
from channels_core.exceptions import BackendUnavailable
from channels_core.names import new_channel_name
from channels_core.testing import ManagedProcess, RedisServer, wait_until
from tests.conftest import require_postgres
from tests.helpers import TEST_PROJECT

pytestmark = pytest.mark.slow


class Records:
    """The record file written by the test consumers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines()

    def numbers(self, event: str) -> list[int]:
        return [int(line.split()[1]) for line in self.lines() if line.startswith(event + " ")]


class WorkerSetup:
    """How to reach one backend from this process and from a ``runworker`` process."""

    def __init__(self, tmp_path: Path, config: dict[str, Any], env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.backend: BaseBackend = backend_from_config(config)
        self.records = Records(tmp_path / "records.txt")
        self.env = TEST_PROJECT.process_env({"TEST_RECORD_PATH": str(self.records.path), **env})
        self.workers: list[ManagedProcess] = []

    def start_worker(self, *args: str) -> ManagedProcess:
        log = self.tmp_path / f"worker-{len(self.workers)}.log"
        worker = ManagedProcess(TEST_PROJECT.manage("runworker", *args), self.env, log)
        self.workers.append(worker)
        worker.wait_for_output("Worker listening on")
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.backend.flush()
        self.backend.close()


def _redis_setup(tmp_path: Path, server: RedisServer) -> WorkerSetup:
    config = {"BACKEND": "channels_core.backends.redis.RedisBackend", "HOSTS": [server.url]}
    return WorkerSetup(tmp_path, config, {"REDIS_URL": server.url})


def _database_setup(tmp_path: Path, alias: str) -> WorkerSetup:
    config = {"BACKEND": "channels_core.backends.database.DatabaseBackend", "DATABASE": alias}
    db = connections[alias].settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return WorkerSetup(tmp_path, config, {"CHANNELS_BACKEND": "database", "DATABASE_URL": url})


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_setup(tmp_path: Path, private_redis: RedisServer) -> Iterator[WorkerSetup]:
    setup = _redis_setup(tmp_path, private_redis)
    yield setup
    setup.stop()


@pytest.fixture(
    params=[
        pytest.param("redis", id="redis"),
        pytest.param("database-sqlite", id="database-sqlite", marks=pytest.mark.django_db(transaction=True)),
        pytest.param(
            "database-postgres",
            id="database-postgres",
            marks=pytest.mark.django_db(transaction=True, databases=["default", "postgres"]),
        ),
    ]
)
def any_setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkerSetup]:
    if request.param == "redis":
        setup = _redis_setup(tmp_path, request.getfixturevalue("private_redis"))
    elif request.param == "database-sqlite":
        setup = _database_setup(tmp_path, "default")
    else:
        require_postgres()
        setup = _database_setup(tmp_path, "postgres")
    yield setup
    setup.stop()


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``manage.py ARGS`` as it ends, failures included (``TEST_PROJECT.run_manage`` raises on those)."""
    return subprocess.run(
        TEST_PROJECT.manage(*args),
        env={"PATH": "/usr/bin:/bin", **TEST_PROJECT.process_env(env)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_runworker_refuses_the_in_memory_backend() -> None:
    result = run_manage("runworker", env={})
    assert result.returncode != 0
    assert "runworker cannot use InMemoryBackend" in result.stderr
    assert "runserver" in result.stderr and "REDIS_URL" in result.stderr


def test_a_message_from_this_process_is_consumed_by_runworker(any_setup: WorkerSetup) -> None:
    any_setup.start_worker()
    any_setup.backend.send("tests.record", {"number": 1})
    wait_until(lambda: any_setup.records.numbers("done") == [1], what="the worker to consume the message")
    reply_to = new_channel_name("!tests.replies")
    any_setup.backend.send("tests.echo", {"reply_to": reply_to, "text": "ping"})
    assert any_setup.backend.receive_inbox("!tests.replies", timeout=20) == [(reply_to, {"text": "ping"})]


@pytest.mark.parametrize("batch", [1, 4], ids=["one at a time", "batches of 4"])
def test_kill_9_loses_at_most_what_is_in_hand(redis_setup: WorkerSetup, private_redis: RedisServer, batch: int) -> None:
    first = redis_setup.start_worker("--batch", str(batch))
    total = 30
    for number in range(total):
        redis_setup.backend.send("tests.record", {"number": number, "work": 0.05})
    wait_until(lambda: len(redis_setup.records.numbers("got")) >= 5, what="the worker to be busy")
    first.kill()
    redis_setup.start_worker()
    queue = private_redis.client()
    wait_until(lambda: queue.llen("channels:q:tests.record") == 0, what="the second worker to drain the channel")
    wait_until(lambda: len(redis_setup.records.numbers("done")) >= total - batch, what="the rest to be done")
    got, done = Counter(redis_setup.records.numbers("got")), set(redis_setup.records.numbers("done"))
    assert max(got.values()) == 1, f"delivered twice: {[n for n, c in got.items() if c > 1]}"
    assert len(set(range(total)) - done) <= batch, "more than the messages in hand were lost"


def test_a_batched_worker_replies_to_every_socket(redis_setup: WorkerSetup) -> None:
    worker = redis_setup.start_worker("--batch", "8")
    assert "1 thread(s), batches of 8)" in worker.output()
    worker.wait_for_output("--batch 8 with django.wsgi.request: HTTP requests in one batch wait for each other")
    sockets = [new_channel_name("!django.websocket.send.batched") for _ in range(40)]
    for n, socket in enumerate(sockets):
        redis_setup.backend.send("tests.echo", {"reply_to": socket, "text": str(n)})
    replies: list[tuple[str, dict]] = []

    def every_socket_replied() -> bool:
        replies.extend(redis_setup.backend.receive_inbox("!django.websocket.send.batched"))
        return len(replies) >= len(sockets)

    wait_until(every_socket_replied, what="a reply for every socket")
    assert replies == [(socket, {"text": str(n)}) for n, socket in enumerate(sockets)]


@pytest.mark.parametrize("batch", [1, 8], ids=["one at a time", "batches of 8"])
def test_the_worker_rides_out_a_redis_restart(redis_setup: WorkerSetup, private_redis: RedisServer, batch: int) -> None:
    worker = redis_setup.start_worker("--batch", str(batch))
    redis_setup.backend.send("tests.record", {"number": 1})
    wait_until(lambda: redis_setup.records.numbers("done") == [1], what="the first message")
    private_redis.stop()
    worker.wait_for_output("backend unavailable, retrying")
    private_redis.start()
    wait_until(lambda: _try_send(redis_setup.backend, {"number": 2}), what="Redis to accept a send again")
    wait_until(lambda: redis_setup.records.numbers("done") == [1, 2], what="the message sent after the restart")
    assert worker.process.poll() is None, "the worker must not have exited"
    worker.wait_for_output("backend reachable again")


def _try_send(backend: BaseBackend, message: dict[str, Any]) -> bool:
    try:
        backend.send("tests.record", message)
    except BackendUnavailable:
        return False
    return True


def test_sigterm_finishes_the_message_in_hand(redis_setup: WorkerSetup) -> None:
    worker = redis_setup.start_worker()
    redis_setup.backend.send("tests.record", {"number": 7, "work": 1.0})
    wait_until(lambda: redis_setup.records.numbers("got") == [7], what="the worker to start the message")
    worker.signal(signal.SIGTERM)
    assert worker.process.wait(20) == 0
    assert redis_setup.records.numbers("done") == [7]
    assert "stopping after the messages in hand" in worker.output()


def test_a_failing_consumer_is_logged_and_the_worker_goes_on(redis_setup: WorkerSetup) -> None:
    worker = redis_setup.start_worker()
    redis_setup.backend.send("tests.fail", {})
    redis_setup.backend.send("tests.record", {"number": 3})
    wait_until(lambda: redis_setup.records.numbers("done") == [3], what="the message after the failure")
    output = worker.output()
    assert "consumer tests.testapp.consumers.fail failed on channel 'tests.fail'" in output
    assert "RuntimeError: this consumer always fails" in output
    assert worker.process.poll() is None


def _listening_on(worker: ManagedProcess) -> list[str]:
    line = next(line for line in worker.output().splitlines() if line.startswith("Worker listening on "))
    return line.removeprefix("Worker listening on ").split(" (")[0].split(", ")


def test_only_and_exclude_channels(redis_setup: WorkerSetup) -> None:
    only = redis_setup.start_worker("--only-channels", "tests.rec*", "tests.echo", "--threads", "2")
    assert _listening_on(only) == ["tests.echo", "tests.record"]
    excluded = redis_setup.start_worker("--exclude-channels", "tests.rec*", "django.*", "thumbnailer.*")
    assert _listening_on(excluded) == ["tests.echo", "tests.expire", "tests.fail", "tests.fill", "tests.overlap"]


def test_a_batch_below_one_is_an_error(private_redis: RedisServer) -> None:
    result = run_manage("runworker", "--batch", "0", env={"REDIS_URL": private_redis.url})
    assert result.returncode != 0
    assert "--batch must be at least 1, not 0" in result.stderr


def test_filters_that_leave_nothing_are_an_error(private_redis: RedisServer) -> None:
    result = run_manage("runworker", "--only-channels", "nothing.*", env={"REDIS_URL": private_redis.url})
    assert result.returncode != 0
    assert "the filters leave none of" in result.stderr


def test_a_worker_on_another_alias_replies_through_that_alias(tmp_path: Path, private_redis: RedisServer) -> None:
    other_config = {"BACKEND": "channels_core.backends.redis.RedisBackend", "HOSTS": [private_redis.url]}
    setup = WorkerSetup(
        tmp_path,
        {**other_config, "PREFIX": "other:"},
        {"REDIS_URL": private_redis.url, "TEST_OTHER_REDIS_URL": private_redis.url},
    )
    default = backend_from_config(other_config)  # the default alias: same Redis, prefix "channels:"
    try:
        setup.start_worker("--alias", "other", "--only-channels", "tests.echo")
        reply_to = new_channel_name("!tests.reply")
        # tests.echo replies with a plain Channel(reply_to).send(...), naming no alias.
        setup.backend.send("tests.echo", {"reply_to": reply_to, "text": "through other"})
        reply = wait_until(lambda: setup.backend.receive_inbox("!tests.reply"), what="the reply on the other alias")
        assert reply == [(reply_to, {"text": "through other"})]
        assert default.receive_inbox("!tests.reply") == []
    finally:
        setup.stop()
        default.close()


def test_overlapping_patterns_are_tried_in_definition_order(redis_setup: WorkerSetup) -> None:
    redis_setup.start_worker("--only-channels", "tests.overlap")
    redis_setup.backend.send("tests.overlap", {"path": "/overlap/special/"})
    redis_setup.backend.send("tests.overlap", {"path": "/overlap/other/"})
    wait_until(lambda: len(redis_setup.records.lines()) == 2, what="both messages consumed")
    assert redis_setup.records.lines() == [
        "overlap zz_defined_first /overlap/special/",
        "overlap zz_defined_first /overlap/other/",
    ]


def test_a_second_sigterm_stops_at_once_but_still_cleans_up_and_logs(redis_setup: WorkerSetup) -> None:
    worker = redis_setup.start_worker("--threads", "2")
    redis_setup.backend.send("tests.record", {"number": 8, "work": 60})  # a message it will not finish
    wait_until(lambda: redis_setup.records.numbers("got") == [8], what="the worker to start the message")
    worker.signal(signal.SIGTERM)
    wait_until(lambda: "stopping after the messages in hand" in worker.output(), what="the first SIGTERM logged")
    worker.signal(signal.SIGTERM)
    assert worker.process.wait(20) == 1
    assert redis_setup.records.numbers("done") == []
    # The last line, written as the process unwound: os._exit would have lost it.
    assert (
        worker.output()
        .rstrip()
        .splitlines()[-1]
        .endswith("Worker stopped at once (SIGTERM twice); the messages in hand are lost")
    )
