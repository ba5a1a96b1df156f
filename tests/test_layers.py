"""The import contracts in pyproject.toml hold (import-linter), so plain pytest catches a broken
layer too, not only .ci/run; and a contract does fail when an import breaks it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(120)


def lint_imports(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "lint-imports"
    found = str(command) if command.exists() else shutil.which("lint-imports")
    assert found, "import-linter is not installed (the test extra lists it)"
    return subprocess.run(
        [found, "--no-cache", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_every_import_contract_is_kept() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_worker_importing_starlette_breaks_a_contract(tmp_path: Path) -> None:
    # A copy of the package with one forbidden import added: the same contracts must fail.
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "bridge", copy / "bridge", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    workers = copy / "bridge" / "delivery" / "workers.py"
    workers.write_text(workers.read_text() + "\nimport starlette.requests  # noqa\n")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command as c; c()",
            "--no-cache",
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(copy), "PATH": ""},
    )
    assert result.returncode != 0, result.stdout
    assert "workers never import Starlette" in result.stdout
    assert "BROKEN" in result.stdout
