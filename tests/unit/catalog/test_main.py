"""The catalog process' niceness by role (`services.catalog.main.niceness`)."""

from __future__ import annotations

from services.catalog.main import niceness
from services.catalog.settings import CatalogSettings


def test_only_a_projector_only_process_yields_the_cpu() -> None:
    settings = CatalogSettings(projector_nice=10)
    assert niceness("projector", settings) == 10
    assert niceness("api", settings) == 0
    assert niceness("all", settings) == 0  # it serves requests too


def test_a_projector_nice_of_zero_keeps_the_default() -> None:
    assert niceness("projector", CatalogSettings(projector_nice=0)) == 0
