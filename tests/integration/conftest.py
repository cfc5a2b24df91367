"""Fixtures shared by the integration tests (the session's stack is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from schemas import VIDEO_UPLOADED


class Unchanged:
    """Snapshot of what a refusal must not change: keys under `sources/`, `video-uploaded`."""

    def __init__(self, store: Any, bootstrap: str) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.sources = set(store.list_keys("sources/"))
        self.offsets = self._uploads()

    def _uploads(self) -> int:
        from tests.integration.test_pipeline import end_offsets

        return end_offsets(self.bootstrap, VIDEO_UPLOADED.name)

    def check(self) -> None:
        assert set(self.store.list_keys("sources/")) == self.sources
        assert self._uploads() == self.offsets


@pytest.fixture
def unchanged(pipeline: object, store: Any, common_settings: Any) -> Iterator[Unchanged]:
    """Fails the test if it left a source object or a `video-uploaded` event behind."""
    snapshot = Unchanged(store, common_settings.kafka_bootstrap)
    yield snapshot
    snapshot.check()
