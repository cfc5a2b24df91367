"""The quality score's event record matches the rendition-done schema."""

from __future__ import annotations

import json
from pathlib import Path


def test_quality_record_matches_the_rendition_done_schema():
    from services.transcode.quality import QualityScore

    root = Path(__file__).resolve().parents[3]
    schema = json.loads((root / "schemas/rendition-done/v1.avsc").read_text())
    quality = next(f for f in schema["fields"] if f["name"] == "quality")
    fields = {f["name"] for f in quality["type"][1]["fields"]}
    score = QualityScore("720p", vmaf=89.5, psnr=40.0, ssim=0.98, frames_scored=20,
                         vmaf_floor=90.0)
    record = score.as_event().to_record()
    assert set(record) == fields and record["below_floor"] is True
