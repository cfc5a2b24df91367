"""API keys without servers: hashing, projecting snapshots into the key table, identifying a
caller, hourly rate windows and the last-used debounce."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from schemas.events import ApiKeyState
from services.shared.access import (
    ADMIN,
    AccessDenied,
    ApiKey,
    KeyTable,
    RateWindows,
    hash_key,
    identify,
    new_clear_key,
    touch_due,
)

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def snapshot(clear: str = "rf_secret", **changes: object) -> ApiKeyState:
    state = ApiKey("7d5c0a39-3c0e-4a3c-9f0e-000000000001", "acme", hash_key(clear), True, 100,
                   T0).snapshot()
    return ApiKeyState.from_record({"event_id": "e", "occurred_at": T0, **state, **changes})


def test_keys_are_hashed_with_sha256_and_never_kept_in_clear():
    clear = new_clear_key()
    assert clear.startswith("rf_") and len(clear) > 40 and new_clear_key() != clear
    assert hash_key(clear) == hashlib.sha256(clear.encode()).hexdigest()
    table = KeyTable()
    key = table.apply(snapshot(clear))
    assert clear not in repr(key) and clear not in repr(key.snapshot())
    assert "key_sha256" not in key.public()


def test_a_key_verifies_until_it_is_revoked():
    table = KeyTable()
    table.apply(snapshot())
    assert table.verify("rf_secret") is not None
    assert table.verify("rf_other") is None
    table.apply(snapshot(active=False, revoked_at=T0 + timedelta(hours=1)))
    assert table.verify("rf_secret") is None


def test_a_stale_snapshot_never_reactivates_a_revoked_key_nor_moves_last_used_back():
    table = KeyTable()
    table.apply(snapshot(last_used_at=T0 + timedelta(minutes=5)))
    table.apply(snapshot(active=False, revoked_at=T0 + timedelta(hours=1)))
    # A last-used touch built before the revoke, arriving after it.
    key = table.apply(snapshot(last_used_at=T0 + timedelta(minutes=1)))
    assert not key.active and key.revoked_at == T0 + timedelta(hours=1)
    assert key.last_used_at == T0 + timedelta(minutes=5)
    assert table.verify("rf_secret") is None


def test_identify_tells_admin_tenant_and_refusals_apart():
    table = KeyTable()
    table.apply(snapshot())
    admin, none = identify(table, "the-admin-key", "the-admin-key")
    assert admin.admin and admin.name == ADMIN and none is None
    tenant, key = identify(table, "the-admin-key", "rf_secret")
    assert not tenant.admin and tenant.name == "acme" and key is not None
    assert tenant.may_see("acme") and not tenant.may_see("other") and not tenant.may_see(None)
    assert admin.may_see("other") and admin.may_see(None)
    for presented, code in ((None, "missing_api_key"), ("", "missing_api_key"),
                            ("rf_unknown", "invalid_api_key")):
        with pytest.raises(AccessDenied) as denied:
            identify(table, "the-admin-key", presented)
        assert denied.value.status == 401 and denied.value.body()["error"] == code
        assert denied.value.body()["detail"]


def test_an_empty_admin_key_setting_disables_the_admin():
    with pytest.raises(AccessDenied):
        identify(KeyTable(), "", "")
    with pytest.raises(AccessDenied):
        identify(KeyTable(), "", "anything")


def test_the_hourly_window_allows_the_limit_then_429_with_retry_after():
    windows = RateWindows()
    start = 1_000 * 3600 + 600.0  # ten minutes into an hour
    remaining = [windows.take("k", 3, start + i)[0] for i in range(3)]
    assert remaining == [2, 1, 0]
    with pytest.raises(AccessDenied) as denied:
        windows.take("k", 3, start + 10)
    assert denied.value.status == 429 and denied.value.code == "rate_limited"
    assert denied.value.headers["Retry-After"] == str(3600 - 610)
    # Other keys have their own window; the next hour starts afresh.
    assert windows.take("other", 3, start)[0] == 2
    assert windows.take("k", 3, start + 3000)[0] == 2


def test_retry_after_is_at_least_one_second():
    windows = RateWindows()
    end = 5 * 3600 - 0.2
    windows.take("k", 1, end)
    with pytest.raises(AccessDenied) as denied:
        windows.take("k", 1, end)
    assert denied.value.headers["Retry-After"] == "1"


def test_last_used_is_published_at_most_once_a_minute():
    assert touch_due(None, T0)
    assert not touch_due(T0, T0 + timedelta(seconds=59))
    assert touch_due(T0, T0 + timedelta(seconds=60))
