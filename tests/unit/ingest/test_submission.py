"""A submission's content check: a prober killed by a signal says nothing about the upload,
so the answer is `Unavailable` (503, retry), never a refusal for the upload's content."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any, cast

import pytest

from services.ingest.errors import Rejection, Unavailable
from services.ingest.settings import IngestSettings
from services.ingest.submission import Submission
from services.shared.settings import CommonSettings


def prober(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "ffprobe"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def submission(ffprobe: Path) -> Submission:
    settings = IngestSettings(common=CommonSettings(ffprobe=str(ffprobe)))
    nothing = cast(Any, None)  # the content check uses none of Kafka, S3 or the ledger
    return Submission(settings, nothing, nothing, nothing)


def test_a_prober_killed_by_a_signal_makes_the_check_unavailable(tmp_path: Path) -> None:
    check = submission(prober(tmp_path, "kill -9 $$"))
    with pytest.raises(Unavailable) as caught:
        asyncio.run(check._probe("http://gateway.invalid/upload"))
    assert "interrupted" in str(caught.value) and "signal 9" in str(caught.value)
    assert str(tmp_path) not in str(caught.value)


def test_a_prober_that_cannot_read_the_upload_refuses_it(tmp_path: Path) -> None:
    check = submission(prober(tmp_path, "echo 'upload: Invalid data found' >&2; exit 1"))
    with pytest.raises(Rejection) as caught:
        asyncio.run(check._probe("http://gateway.invalid/upload"))
    assert caught.value.code == "not_media"
