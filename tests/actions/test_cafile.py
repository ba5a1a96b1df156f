"""`ca_file` (azure_search, email) is checked when the config loads, by one shared check."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import ConfigError, parse_config

ACTIONS = {
    "email": "{type: email, host: smtp.example, from: a@example.com, to: [b@example.com]}",
    "azure_search": "{type: azure_search, endpoint: 'https://s.search.windows.net', "
    "index: idx, api_key: k}",
}


def load(kind: str, ca_file: str) -> None:
    action = ACTIONS[kind][:-1] + f", ca_file: {ca_file!r}}}"
    parse_config(
        "version: 1\nwebhooks: [{name: p, path: /p, verify: false}]\n"
        f"actions:\n  a: {action}\nrules: [{{name: r, do: [a]}}]\n",
        env={},
    )


def messages(kind: str, ca_file: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(kind, ca_file)
    return [issue.message for issue in raised.value.issues]


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "test ca")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize("kind", sorted(ACTIONS))
def test_a_pem_bundle_loads(kind: str, pem: Path) -> None:
    load(kind, str(pem))


@pytest.mark.parametrize("kind", sorted(ACTIONS))
def test_what_is_no_ca_bundle_is_one_config_error(kind: str, tmp_path: Path) -> None:
    (tmp_path / "empty.pem").write_bytes(b"")
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nMC4CAQ==\n")
    for path, problem in [
        (tmp_path / "missing.pem", "is not a file (a PEM bundle of CA certificates)"),
        (tmp_path, "is not a file (a PEM bundle of CA certificates)"),
        (Path("/dev/zero"), "is not a file (a PEM bundle of CA certificates)"),
        (tmp_path / "empty.pem", "holds no PEM certificate"),
        (tmp_path / "key.pem", "holds no PEM certificate"),
    ]:
        (message,) = messages(kind, str(path))
        assert problem in message and str(path) in message
    # Before: email took any path and failed at every attempt; azure_search's is_file() raised
    # OSError (File name too long) out of the loader.
    (message,) = messages(kind, "a" * 5000)
    assert message.endswith(": File name too long")
