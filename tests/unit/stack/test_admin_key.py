"""The local stack's admin key: the environment's, or one generated once into the state dir."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.shared.settings import CommonSettings
from services.stack.admin_key import client_key, ensure_admin_key, key_file


def test_without_the_variable_one_key_is_generated_once_mode_600(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("REELFLOW_API_KEY", raising=False)
    common = CommonSettings(state_dir=tmp_path / "state", admin_key="")
    assert client_key(common) is None
    key = ensure_admin_key(common)
    assert key.startswith("rf_") and len(key) > 40
    assert ensure_admin_key(common) == key  # stable across calls and restarts
    assert stat.S_IMODE(key_file(common).stat().st_mode) == 0o600
    assert client_key(common) == key
    monkeypatch.setenv("REELFLOW_API_KEY", "rf_tenant")
    assert client_key(common) == "rf_tenant"


def test_the_variable_wins_and_nothing_is_written(tmp_path: Path):
    common = CommonSettings(state_dir=tmp_path, admin_key="from-the-environment")
    assert ensure_admin_key(common) == "from-the-environment"
    assert not key_file(common).exists()
