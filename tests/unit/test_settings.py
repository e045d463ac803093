"""Settings and secrets: production is strict, development generates its keys once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from opendmp.config import Environment, Settings
from opendmp.kit.keys import MissingKey, load_keys


def test_production_refuses_dev_mode() -> None:
    with pytest.raises(ValidationError):
        Settings(env=Environment.PRODUCTION, dev_mode=True)


def test_production_refuses_to_start_without_its_keys(tmp_path: Path) -> None:
    with pytest.raises(MissingKey):
        load_keys(Settings(env=Environment.PRODUCTION, data_dir=tmp_path))
    assert not (tmp_path / "keys").exists()


def test_development_generates_missing_keys_once_with_private_permissions(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_keys(settings)
    second = load_keys(settings)
    assert first.master_key == second.master_key and len(first.master_key) == 32
    for name in ("master.key", "journal-signing.pem", "token-signing.pem"):
        assert (tmp_path / "keys" / name).stat().st_mode & 0o077 == 0


def test_production_takes_its_keys_from_the_environment_and_key_files(tmp_path: Path) -> None:
    dev = load_keys(Settings(data_dir=tmp_path / "dev"))
    import base64

    keys = load_keys(
        Settings(
            env=Environment.PRODUCTION,
            data_dir=tmp_path / "prod",
            master_key=base64.b64encode(dev.master_key).decode(),
            journal_signing_key_file=tmp_path / "dev" / "keys" / "journal-signing.pem",
            token_signing_key_file=tmp_path / "dev" / "keys" / "token-signing.pem",
        )
    )
    assert keys.master_key == dev.master_key and keys.master_key_id == dev.master_key_id


def test_the_default_store_is_sqlite_under_the_data_directory(tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path).resolved_database_url
    assert url == f"sqlite:///{tmp_path.resolve()}/opendmp.sqlite3"


def test_settings_come_from_opendmp_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDMP_DATABASE_URL", "postgresql+psycopg://app@db/opendmp")
    monkeypatch.setenv("OPENDMP_DEV_MODE", "true")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql+psycopg://app@db/opendmp" and settings.dev_mode
