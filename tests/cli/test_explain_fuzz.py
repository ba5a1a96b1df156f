"""Property: `bridge explain` on any payload file prints an explanation or one `error:` line and
exits 0 or 1, never a traceback: the same hostile bodies as the webhook fuzz suite."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from bridge.cli import main
from tests.receiver.test_fuzz_webhook import RULES, bodies


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("explain") / "rules.yaml"
    path.write_text(RULES)
    return path


def run_explain(
    config: Path, payload: Path, *flags: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    # A strict UTF-8 stdout, as a terminal or a pipe has: what cannot be encoded must not be
    # printed (errors="strict" is what raised UnicodeEncodeError on lone surrogates).
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="strict")
    with monkeypatch.context() as patch:
        patch.setattr("sys.stdout", out)
        patch.setattr("sys.stderr", err)
        try:
            code = main(["explain", str(config), str(payload), *flags])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out.flush()
        err.flush()
    return code, out_bytes.getvalue().decode(), err_bytes.getvalue().decode()


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies)
def test_explain_never_raises_on_any_payload(
    body: bytes, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_bytes(body)
    for flags in ((), ("--json",)):
        code, out, err = run_explain(config_file, payload, *flags, monkeypatch=monkeypatch)
        assert code in (0, 1), (code, err)
        if code == 1:
            assert err.startswith("error: payload is not a Kontent.ai notification: ")
            assert len(err.strip().splitlines()) == 1
        else:
            assert err == ""
            if flags:
                assert isinstance(json.loads(out)["jobs"], int)
            else:
                assert "job(s) would be created" in out


@pytest.mark.parametrize(
    "body",
    [
        b'{"notifications": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
        b'{"notifications": [{"data": {"system": {"name": "\\ud800"}}, "message": {}}]}',
        b'{"notifications": [{"data": {"system": {"id": ' + b"9" * 6000 + b'}}, "message": {}}]}',
    ],
    ids=["5000-deep", "lone-surrogate", "6000-digit-int"],
)
def test_explain_on_deep_or_unencodable_payloads_is_one_line(
    body: bytes, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_bytes(body)
    code, out, err = run_explain(config_file, payload, monkeypatch=monkeypatch)
    assert (code, out) == (1, "")
    assert err.startswith("error: payload is not a Kontent.ai notification: ")
    assert len(err.strip().splitlines()) == 1
