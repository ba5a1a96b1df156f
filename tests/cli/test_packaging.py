"""The Dockerfile's install, outside a container: build and install the package into a fresh
virtualenv from the same files the image copies, then run the installed `bridge`."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import venv
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).parents[2]
# What the Dockerfile COPYs into the builder, and the config the runtime stage ships.
IMAGE_FILES = ("pyproject.toml", "README.md", "bridge", "rules.example.yaml")


def _copy_sources(target: Path) -> None:
    for name in IMAGE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)


def _site_packages(bin_dir: Path) -> Path:
    script = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return Path(subprocess.check_output([bin_dir / "python", "-c", script], text=True).strip())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _install(tmp_path: Path, sources: Path) -> Path:
    """`pip install .` of the copied sources into a fresh venv; returns its bin directory."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    # Dependencies come from the test environment; the bridge itself is built (in pip's isolated
    # build environment, as in the image) and installed from the copied sources.
    site = _site_packages(bin_dir)
    (site / "test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-deps", str(sources)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return bin_dir


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(bin directory of the fresh venv, a work directory holding the copied sources in src/)."""
    tmp_path = tmp_path_factory.mktemp("install")
    sources = tmp_path / "src"
    sources.mkdir()
    _copy_sources(sources)
    return _install(tmp_path, sources), tmp_path


@pytest.mark.slow
def test_install_and_run_in_a_fresh_virtualenv(installed: tuple[Path, Path]) -> None:
    bin_dir, tmp_path = installed
    sources = tmp_path / "src"
    site = _site_packages(bin_dir)

    where = subprocess.check_output(
        [bin_dir / "python", "-c", "import bridge; print(bridge.__file__)"],
        text=True,
        cwd=tmp_path,  # not the repository, whose bridge/ would shadow the installed one
    )
    assert where.startswith(str(site)), "the installed copy must be the one imported"

    help_text = subprocess.run(
        [bin_dir / "bridge", "--help"], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout
    for command in ("serve", "worker", "check", "explain", "test", "sign", "send"):
        assert f"    {command}" in help_text

    check = subprocess.run(
        [bin_dir / "bridge", "check", str(sources / "rules.example.yaml")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert (check.returncode, check.stdout) == (0, "OK: 1 webhooks, 2 actions, 3 rules\n")

    # Package data the running bridge needs (SQL migrations, admin templates) was installed.
    package = site / "bridge"
    for pattern in ("delivery/sql/**/*.sql", "admin/**/*.html"):
        copied = sources / "bridge"  # what was built, whatever changed in the tree since
        expected = sorted(p.relative_to(copied) for p in copied.glob(pattern))
        assert expected, pattern
        assert sorted(p.relative_to(package) for p in package.glob(pattern)) == expected


def _wait_for(lines: queue.Queue[str], text: str, seen: list[str], timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no line with {text!r} in:\n{''.join(seen)}")


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


@pytest.mark.slow
def test_quick_start_in_the_fresh_virtualenv(installed: tuple[Path, Path], tmp_path: Path) -> None:
    """README's quick start: serve the example on the default store, then `bridge send`."""
    bin_dir, work = installed
    shutil.copy2(work / "src/rules.example.yaml", tmp_path / "rules.example.yaml")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "KONTENT_"))}
    server = subprocess.Popen(
        [bin_dir / "bridge", "serve", "--config", "rules.example.yaml",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env | {"BRIDGE_LOG_FORMAT": "text"},
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert server.stderr is not None
    threading.Thread(target=_pump, args=(server.stderr, lines), daemon=True).start()
    seen: list[str] = []
    try:
        _wait_for(lines, "Uvicorn running on", seen)
        url = f"http://127.0.0.1:{port}/webhooks/kontent"
        for payload, flags, expected in [
            ("content_item_published_published.json", [], "'This changes everything!' (english)"),
            ("../legacy/content_item_variant_publish.json", ["--legacy"], "'on_roasts' (en-US)"),
        ]:
            sent = subprocess.run(
                [bin_dir / "bridge", "send", *flags, url,
                 ROOT / "tests/payloads/current" / payload, "--secret", "change-me"],
                cwd=tmp_path, env=env, capture_output=True, text=True,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stdout + sent.stderr
            assert sent.stdout.startswith("HTTP 200\n")
            line = _wait_for(lines, "[publishing-log]", seen)
            assert expected in line
        assert (tmp_path / "data/bridge.db").exists()  # the embedded default store
        healthcheck = subprocess.run(
            [sys.executable if arg == "python" else arg for arg in _healthcheck_command()],
            env=env | {"BRIDGE_PORT": str(port)}, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert healthcheck.returncode == 0, healthcheck.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _healthcheck_command() -> list[str]:
    match = re.search(r"^\s*CMD (\[\"python\".*\])$", _dockerfile(), re.M)
    assert match, "HEALTHCHECK must run python (slim images have no curl)"
    command: list[str] = json.loads(match.group(1))
    return command


@pytest.mark.parametrize(
    "line",
    [
        r"^FROM python:3\.11-slim AS builder$",
        r"^ARG EXTRAS=azure,translate,mastodon,bluesky$",
        r'^RUN /opt/bridge/bin/pip install "\.\$\{EXTRAS:\+\[\$EXTRAS\]\}"$',
        r"^FROM python:3\.11-slim$",
        r"^COPY --from=builder /opt/bridge /opt/bridge$",
        r"^USER bridge$",
        r"^VOLUME /data$",
        r"^EXPOSE 8080$",
        r"^\s+BRIDGE_CONFIG=/config/rules.yaml \\$",
        r"^\s+BRIDGE_DB=sqlite:////data/bridge.db \\$",
        r"^HEALTHCHECK ",
        r'^CMD \["bridge", "serve"\]$',
    ],
)
def test_dockerfile_contract(line: str) -> None:
    assert re.search(line, _dockerfile(), re.M), line


def test_the_image_installs_every_optional_action_extra() -> None:
    """Every built-in action runs in the image: its EXTRAS name each extra but the test one."""
    import tomllib

    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    ) - {"test"}
    match = re.search(r"^ARG EXTRAS=(.*)$", _dockerfile(), re.M)
    assert match
    assert set(match.group(1).split(",")) == extras
