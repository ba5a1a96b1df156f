"""Secret files are read whole up to a bound: the settings' and the config's readers alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import ConfigError, parse_config
from bridge.secretfiles import MAX_SECRET_FILE_BYTES, read_secret_file
from bridge.settings import SettingsError, secret_setting

CONFIG = 'version: 1\nwebhooks: [{name: p, path: /p, secrets: ["${SECRET}"]}]\n'


def test_a_secret_file_is_read_whole(tmp_path: Path) -> None:
    file = tmp_path / "secret"
    file.write_text("x" * MAX_SECRET_FILE_BYTES)
    assert read_secret_file(str(file)) == "x" * MAX_SECRET_FILE_BYTES


def test_a_setting_file_past_the_bound_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        secret_setting({"BRIDGE_DB_FILE": "/dev/zero"}, "BRIDGE_DB")
    assert str(caught.value) == (
        "BRIDGE_DB_FILE='/dev/zero': cannot read the file: it is larger than 64 KiB"
    )


def test_a_config_secret_file_past_the_bound_is_an_issue() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG, "rules.yaml", {"SECRET_FILE": "/dev/zero"})
    assert str(caught.value) == (
        "rules.yaml:2:42: webhooks[0].secrets[0]: cannot read SECRET_FILE '/dev/zero': "
        "it is larger than 64 KiB"
    )
