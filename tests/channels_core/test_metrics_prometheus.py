"""A real Prometheus scrapes the whole stack and counts exactly the traffic the test made (issue 20).

gunicorn (two processes, summed through ``PROMETHEUS_MULTIPROC_DIR``) shows
``/metrics`` to Prometheus's bearer token; two ``runworker`` and a
``runwsserver`` serve theirs on ``--metrics-port``. Debian's ``prometheus``
(``scripts/install-system-packages test``) scrapes them every second, and the
test asks it, through its HTTP API, for sums over every instance. It waits
for the scrapes by asking again until the answer comes, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from channels_core.backends import backend_from_config
from channels_core.testing import free_port, http_status, wait_past, wait_until
from channels_core.testing.processes import ManagedProcess
from tests.channels_core.interfaces.stack import Stack

PROMETHEUS = Path("/usr/bin/prometheus")
TOKEN = "metrics-token-for-the-test"

#: The traffic: HTTP requests, socket messages, messages left to expire.
N, M, K = 5, 7, 3


def prometheus_config(targets: dict[str, list[str]]) -> str:
    """A scrape config: every second, gunicorn with the token, the others as they are."""
    jobs = []
    for job, addresses in targets.items():
        authorization = f"    authorization: {{credentials: {TOKEN}}}\n" if job == "gunicorn" else ""
        jobs.append(
            f"  - job_name: {job}\n{authorization}    static_configs:\n      - targets: {addresses}\n".replace("'", '"')
        )
    return "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n" + "".join(jobs)


class Prometheus:
    """Debian's Prometheus server on a free port, with its data in a temporary folder; stopped by pid."""

    def __init__(self, tmp: Path, targets: dict[str, list[str]]) -> None:
        self.port = free_port()
        config = tmp / "prometheus.yml"
        config.write_text(prometheus_config(targets))
        command = [
            str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]  # fmt: skip
        self.process = ManagedProcess(command, {}, tmp / "prometheus.log", tmp)
        wait_until(lambda: http_status(f"{self.url}/-/ready") == 200, 60, what="Prometheus to be ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def value(self, query: str) -> float | None:
        """The single value of an instant query, or ``None`` while it has none."""
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=10).json()
        assert answer["status"] == "success", answer
        result = answer["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, query: str, expected: float, timeout: float = 30) -> None:
        """Wait until ``query`` answers ``expected``; fail with its last answer otherwise."""
        answers: list[float | None] = []

        def settled() -> bool:
            answers.append(self.value(query))
            return answers[-1] == expected

        try:
            wait_until(settled, timeout, what=f"{query} == {expected}")
        except AssertionError:
            raise AssertionError(f"{query}: expected {expected}, last answers {answers[-5:]}") from None

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("metrics")
    stack = Stack(tmp, CHANNELS_METRICS_TOKEN=TOKEN)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.mark.skipif(not PROMETHEUS.exists(), reason="needs Debian's prometheus (scripts/install-system-packages)")
def test_prometheus_counts_exactly_the_traffic(stack: Stack, tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("worker-1", "worker-2", "ws")}
    stack.collect_static()
    stack.start_ws("ws", args=["--metrics-port", str(ports["ws"])])
    # worker-2 comes later, to find the messages left to expire: worker-1 leaves them alone.
    stack.start_worker(
        "worker-1", args=["--exclude-channels", "tests.expire", "--metrics-port", str(ports["worker-1"])]
    )
    stack.start_gunicorn(workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(stack.tmp / "gunicorn-metrics")})
    targets = {
        "gunicorn": [f"127.0.0.1:{stack.http_port}"],
        "workers": [f"127.0.0.1:{ports['worker-1']}", f"127.0.0.1:{ports['worker-2']}"],
        "ws": [f"127.0.0.1:{ports['ws']}"],
    }
    prometheus = Prometheus(tmp_path, targets)
    try:
        # Every target up but worker-2, not started yet.
        prometheus.wait_for("sum(up)", 3)

        for _ in range(N):
            assert requests.get(stack.url("/tests/whoami/"), timeout=30).status_code == 200
        with connect(stack.ws_url("/echo/")) as socket:
            prometheus.wait_for("sum(channels_open_sockets)", 1)
            for n in range(M):
                socket.send(f"frame {n}")
                assert socket.recv(timeout=10) == f"frame {n}"
        prometheus.wait_for("sum(channels_open_sockets)", 0)

        # A consumer that raises, and one that fills a channel until a send is refused.
        stack.backend.send("tests.fail", {})
        stack.backend.send("tests.fill", {"channel": "tests.full"})
        wait_until(lambda: "full tests.full" in stack.records_lines(), 30, what="tests.full to fill up")

        # K messages that expire in a moment, and one that does not, keeping their queue's key alive.
        short_lived = backend_from_config(
            {"BACKEND": "channels_core.backends.redis.RedisBackend", "HOSTS": [stack.redis.url],
             "CHANNEL_EXPIRY": {"tests.expire": 0.5}}
        )  # fmt: skip
        try:
            for number in range(K):
                short_lived.send("tests.expire", {"number": number})
        finally:
            short_lived.close()
        stack.backend.send("tests.expire", {"number": "live"})
        wait_past(0.6)  # their expiry
        stack.start_worker("worker-2", args=["--metrics-port", str(ports["worker-2"])])
        wait_until(lambda: "expire live" in stack.records_lines(), 30, what="worker-2 to take the live message")

        prometheus.wait_for("sum(up)", 4)
        prometheus.wait_for('sum(channels_http_requests_total{status="200"})', N)
        prometheus.wait_for('sum(channels_messages_received_total{channel="django.wsgi.request"})', N)
        prometheus.wait_for('sum(channels_messages_sent_total{channel="django.websocket.receive"})', M)
        prometheus.wait_for('sum(channels_messages_received_total{channel="django.websocket.receive"})', M)
        prometheus.wait_for('sum(channels_messages_dropped_total{reason="expired",channel="tests.expire"})', K)
        prometheus.wait_for('sum(channels_messages_received_total{channel="tests.expire"})', 1)
        prometheus.wait_for('sum(channels_channel_full_total{channel="tests.full"})', 1)
        prometheus.wait_for('sum(channels_messages_sent_total{channel="tests.full"})', 100)
        prometheus.wait_for('sum(channels_messages_dropped_total{reason="consumer_error",channel="tests.fail"})', 1)
        prometheus.wait_for('sum(channels_consumer_seconds_count{channel="django.websocket.receive"})', M)
        # Nothing else was dropped, and no request got another status.
        prometheus.wait_for("sum(channels_messages_dropped_total)", K + 1)
        prometheus.wait_for("sum(channels_http_requests_total)", N)
    finally:
        prometheus.stop()


def test_an_anonymous_visitor_gets_no_metrics(stack: Stack) -> None:
    if "gunicorn" not in stack.processes:
        stack.collect_static()
        stack.start_gunicorn()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = requests.get(stack.url("/metrics"), headers=headers, timeout=30)
        assert response.status_code == 404
        assert "channels_" not in response.text
    with_token = requests.get(stack.url("/metrics"), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert with_token.status_code == 200
    assert "channels_http_requests_total" in with_token.text
