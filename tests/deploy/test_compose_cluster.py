"""The compose file's "cluster" profile without Docker: its nodes' configuration, run here, the site switched to them.

Six local ``redis-server`` processes start from deploy/redis-cluster-node.conf
(as the profile's nodes do, each announcing a host name, here ``localhost``),
are joined as the profile's redis-cluster-create joins them, and the site's
own settings, with deploy/cluster.env's switch, build the backend the
services would use. Its messages and group sends reach every node.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from channels_core.testing import RedisCluster
from tests.deploy.compose import compose_config
from tests.helpers import ROOT

pytestmark = pytest.mark.slow

CLUSTER_ENV = ROOT / "deploy" / "cluster.env"

#: What the site's settings build from the environment, used as a service would use it.
SITE_SCRIPT = """
import json, django
django.setup()
from channels_core.backends import get_backend
backend = get_backend()
backend.flush()
inboxes = [f"!django.websocket.send.server{n}" for n in range(12)]
members = [f"{inbox}.socket" for inbox in inboxes]
for member in members:
    backend.group_add("compose-cluster", member)
backend.send("compose.work", {"n": 1})
delivered = backend.group_send("compose-cluster", {"n": 2}).delivered
received = [backend.receive_inbox(inbox, timeout=1) for inbox in inboxes]
print(json.dumps({
    "backend": type(backend).__name__,
    "work": backend.receive(["compose.work"], timeout=1),
    "delivered": delivered,
    "received": sorted(channel for batch in received for channel, _ in batch),
    "members": sorted(members),
}))
"""


def cluster_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in CLUSTER_ENV.read_text().splitlines() if line and not line.startswith("#"))
    return dict(pairs)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    node = compose_config("--profile", "cluster")["services"]["redis-node-1"]
    assert node["command"][:2] == ["redis-server", "/etc/redis/node.conf"]
    options = [str(ROOT / "deploy" / "redis-cluster-node.conf"), "--cluster-announce-hostname", "localhost"]
    with RedisCluster(options=options).start() as started:
        yield started


def test_the_profile_joins_its_nodes_as_the_fixture_does() -> None:
    create = compose_config("--profile", "cluster")["services"]["redis-cluster-create"]["command"][-1]
    assert "redis-cli --cluster create" in create
    assert "--cluster-replicas 1 --cluster-yes" in create


def test_the_nodes_announce_host_names_and_the_switched_site_uses_them(cluster: RedisCluster) -> None:
    with cluster.nodes[0].client() as client:
        endpoints = {shard[2][0] for shard in client.execute_command("CLUSTER", "SLOTS")}
    assert endpoints == {b"localhost"}, "the nodes announce their host name, as the profile's do"
    env = {**cluster_env(), "REDIS_URL": ",".join(node.url for node in cluster.nodes[:3])}
    assert env["CHANNELS_BACKEND"] == "redis-cluster"
    result = subprocess.run(
        [sys.executable, "-c", SITE_SCRIPT],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["backend"] == "RedisClusterBackend"
    assert outcome["work"] == ["compose.work", {"n": 1}]
    assert outcome["delivered"] == 12
    assert outcome["received"] == outcome["members"]
