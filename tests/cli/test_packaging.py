"""The Dockerfile's install, outside a container: build and install the package into a fresh
virtualenv from the same files the image copies, then run the installed `bridge`."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# What the Dockerfile COPYs into the builder, and the config the runtime stage ships.
IMAGE_FILES = ("pyproject.toml", "README.md", "bridge", "rules.example.yaml")

pytestmark = pytest.mark.slow


def _copy_sources(target: Path) -> None:
    for name in IMAGE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)


def test_install_and_run_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    _copy_sources(sources)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    # Dependencies come from the test environment; the bridge itself is built (in pip's isolated
    # build environment, as in the image) and installed from the copied sources.
    site = Path(
        subprocess.check_output(
            [bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            text=True,
        ).strip()
    )
    (site / "test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-deps", str(sources)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip

    where = subprocess.check_output(
        [bin_dir / "python", "-c", "import bridge; print(bridge.__file__)"],
        text=True,
        cwd=tmp_path,  # not the repository, whose bridge/ would shadow the installed one
    )
    assert where.startswith(str(site)), "the installed copy must be the one imported"

    help_text = subprocess.run(
        [bin_dir / "bridge", "--help"], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout
    for command in ("serve", "worker", "check", "explain", "sign", "send"):
        assert f"    {command}" in help_text

    check = subprocess.run(
        [bin_dir / "bridge", "check", str(sources / "rules.example.yaml")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert (check.returncode, check.stdout) == (0, "OK: 1 webhooks, 2 actions, 2 rules\n")

    # Package data the running bridge needs (SQL migrations, admin templates) was installed.
    installed = site / "bridge"
    for pattern in ("delivery/sql/**/*.sql", "admin/**/*.html"):
        expected = sorted(p.relative_to(ROOT / "bridge") for p in (ROOT / "bridge").glob(pattern))
        assert expected, pattern
        assert sorted(p.relative_to(installed) for p in installed.glob(pattern)) == expected
