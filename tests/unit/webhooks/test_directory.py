"""The endpoint table: who hears of what, what the API shows, and final deletion."""

import uuid
from datetime import UTC, datetime, timedelta

from schemas.events import WebhookEndpointState, WebhookSecret
from services.shared.access import Caller
from services.webhooks.directory import EndpointTable

AT = datetime(2026, 12, 2, tzinfo=UTC)


def _state(owner: str = "acme", **changes: object) -> WebhookEndpointState:
    base = WebhookEndpointState(
        event_id=str(uuid.uuid4()), occurred_at=AT, endpoint_id="e1", owner=owner,
        url="https://hooks.example/a", enabled=True,
        secrets=(WebhookSecret(secret="whsec_AAAA", created_at=AT),), created_at=AT)
    return base.replace(**changes)


def test_a_tenant_endpoint_hears_only_its_tenants_videos_and_the_admins_hears_all():
    table = EndpointTable()
    tenant = table.apply(_state("acme"))
    assert tenant.hears("video.ready", "acme")
    assert not tenant.hears("video.ready", "globex")
    assert not tenant.hears("video.ready", None)
    admin = table.apply(_state("admin", endpoint_id="e2"))
    assert admin.hears("video.ready", "globex") and admin.hears("video.ready", None)


def test_the_type_filter_limits_what_it_hears_but_not_the_test_event():
    endpoint = EndpointTable().apply(_state(event_types=("video.ready", "video.failed")))
    assert endpoint.hears("video.ready", "acme")
    assert not endpoint.hears("video.processing", "acme")
    assert endpoint.hears("webhook.test", "acme")


def test_a_disabled_or_deleted_endpoint_hears_nothing_and_deletion_is_final():
    table = EndpointTable()
    assert not table.apply(_state(enabled=False, disabled_reason="gone")).hears(
        "video.ready", "acme")
    table.apply(_state(deleted=True, enabled=False, occurred_at=AT + timedelta(seconds=1)))
    revived = table.apply(_state(occurred_at=AT + timedelta(seconds=2)))
    assert revived.deleted and list(table.active()) == []


def test_the_api_view_shows_no_secret_and_tenants_see_only_their_own():
    endpoint = EndpointTable().apply(_state())
    view = endpoint.public()
    assert "secrets" not in view and "whsec_AAAA" not in str(view)
    assert endpoint.visible_to(Caller("acme", "k1")) and endpoint.visible_to(Caller("admin"))
    assert not endpoint.visible_to(Caller("globex", "k2"))


def test_an_older_snapshot_never_replaces_a_newer_one():
    table = EndpointTable()
    table.apply(_state(url="https://new.example/", occurred_at=AT + timedelta(seconds=5)))
    assert table.apply(_state(url="https://old.example/")).url == "https://new.example/"
