"""docker-compose.yml is the documented replica layout: PostgreSQL, two receivers, one worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bridge.delivery.opening import open_store

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_two_receivers_and_a_worker_on_one_postgresql() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    bridges = {name: s for name, s in services.items() if name != "postgres"}

    commands = sorted(" ".join(s["command"][1:]) for s in bridges.values())
    assert commands == ["serve --no-workers", "serve --no-workers", "worker"]
    urls = {s["environment"]["BRIDGE_DB"] for s in bridges.values()}
    assert len(urls) == 1
    [url] = urls
    assert url.startswith("postgresql://") and "@postgres:5432/" in url
    assert open_store(url).connector.dialect == "postgres"
    for service in bridges.values():
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["volumes"] == ["./rules.yaml:/config/rules.yaml:ro"]
    published = [s.get("ports") for s in bridges.values()]
    assert sorted(map(str, published)) == ["None", "['8081:8080']", "['8082:8080']"]
    assert "scaling.md" in (ROOT / "docker-compose.yml").read_text()
