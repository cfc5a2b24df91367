"""Each worker's entry module states what it consumes and emits; the statement agrees with
the registry's topology and with what the service's code actually publishes."""

import re
from pathlib import Path

import pytest

import schemas
from schemas import ALL_TOPICS
from services.captions import main as captions_main
from services.ingest import main as ingest_main
from services.packager import main as packager_main
from services.transcode import main as transcode_main
from services.webhooks import main as webhooks_main

SERVICES = Path(__file__).resolve().parents[2] / "services"
PUBLISH = re.compile(r"\.publish\(\s*([A-Z_]+)\b")


def _published_by(service: str) -> set[str]:
    return {getattr(schemas, constant).name
            for path in (SERVICES / service).rglob("*.py")
            for constant in PUBLISH.findall(path.read_text())}


@pytest.mark.parametrize(("service", "entry"), [("transcode", transcode_main),
                                                ("packager", packager_main),
                                                ("ingest", ingest_main),
                                                ("captions", captions_main),
                                                ("webhooks", webhooks_main)])
def test_the_entry_module_names_every_topic_the_service_emits(service, entry) -> None:
    emits = {t.name for t in entry.EMITS}
    assert emits == {t.name for t in ALL_TOPICS if t.writer == service}
    assert emits == _published_by(service)


@pytest.mark.parametrize(("service", "entry"), [("transcode", transcode_main),
                                                ("packager", packager_main),
                                                ("ingest", ingest_main),
                                                ("captions", captions_main),
                                                ("webhooks", webhooks_main)])
def test_the_entry_module_consumes_only_topics_the_registry_lets_it_read(service, entry) -> None:
    consumed = (*entry.CONSUMES, *getattr(entry, "CONTROL", ()))
    assert consumed and all(service in t.readers for t in consumed)
