"""The worker's source check: a prober killed by a signal says nothing about the source,
so the attempt is retried (a transient failure), never failed as undecodable."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any, cast

import pytest

from services.shared.consume import PermanentFailure
from services.shared.media.errors import ProbeError
from services.shared.settings import CommonSettings
from services.transcode.errors import UndecodableSource
from services.transcode.settings import TranscodeSettings
from services.transcode.worker import TranscodeWorker


def worker_probing_with(tmp_path: Path, body: str) -> TranscodeWorker:
    script = tmp_path / "ffprobe"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    settings = TranscodeSettings(common=CommonSettings(ffprobe=str(script)))
    nothing = cast(Any, None)  # the source check uses neither Kafka nor S3
    return TranscodeWorker(settings, nothing, nothing)


def source(tmp_path: Path) -> Path:
    path = tmp_path / "source"
    path.write_bytes(b"\x47" * 188)
    return path


def test_a_prober_killed_by_a_signal_is_a_transient_failure(tmp_path: Path) -> None:
    worker = worker_probing_with(tmp_path, "kill -9 $$")
    with pytest.raises(ProbeError) as caught:
        asyncio.run(worker._probe(source(tmp_path)))
    assert caught.value.returncode == -9
    assert not isinstance(caught.value, PermanentFailure)  # the consume loop retries it


def test_a_prober_that_cannot_read_the_source_fails_it_for_good(tmp_path: Path) -> None:
    worker = worker_probing_with(tmp_path, "echo 'source: Invalid data found' >&2; exit 1")
    with pytest.raises(UndecodableSource) as caught:
        asyncio.run(worker._probe(source(tmp_path)))
    assert caught.value.code == "undecodable_source"
    assert str(tmp_path) not in caught.value.message
