"""The scorer's pure decisions: which rendition-done it scores, how metadata.json changes."""

from datetime import UTC, datetime

from schemas.events import MediaType, Quality, RenditionDone, RenditionScored
from services.scoring.worker import amended_quality, wants_scoring

NOW = datetime(2026, 12, 2, tzinfo=UTC)
VID = "5b0c3f5e-2a4e-4d1e-9a57-7f8e0c1d2b3a"


def done(**changes) -> RenditionDone:
    base = RenditionDone(event_id="7d2f1c6a-7c3e-4a55-8f0e-2b6d9a1c4e50", video_id=VID,
                         occurred_at=NOW, rendition="720p", media_type=MediaType.VIDEO,
                         expected_renditions=("720p",), uri="s3://b/r/720p.mp4",
                         source_uri="s3://b/sources/x/original")
    return base.replace(**changes)


def test_only_v4_video_rungs_without_inline_quality_are_scored():
    assert wants_scoring(done())
    assert not wants_scoring(done(media_type=MediaType.AUDIO, rendition="audio"))
    assert not wants_scoring(done(media_type=MediaType.IMAGES, rendition="thumbnails"))
    assert not wants_scoring(done(quality=Quality(vmaf=93.0)))  # scored inline (v1-v3)
    assert not wants_scoring(done(source_uri=None))  # no source to compare with


def scored(rendition: str, vmaf: float) -> RenditionScored:
    return RenditionScored(event_id="0a6f4bde-9a40-4a43-93c0-2c9e3c7e0c11", video_id=VID,
                           occurred_at=NOW, rendition=rendition,
                           rendition_event_id="7d2f1c6a-7c3e-4a55-8f0e-2b6d9a1c4e50",
                           rendition_uri="s3://b/r/x.mp4",
                           quality=Quality(vmaf=vmaf, psnr=40.0, ssim=None))


def test_amending_adds_one_rendition_in_the_documents_output_order_and_keeps_the_rest():
    document = {"outputs": {"360p": {}, "720p": {}, "1080p": {}, "audio": {}},
                "quality_metrics": {"1080p": {"vmaf": 95.0}}}
    metrics = amended_quality(document, scored("360p", 91.25))
    assert list(metrics) == ["360p", "1080p"]
    assert metrics["360p"] == {"vmaf": 91.25, "psnr": 40.0}  # no SSIM measured: left out
    assert metrics["1080p"] == {"vmaf": 95.0}
    again = amended_quality({**document, "quality_metrics": metrics}, scored("360p", 91.25))
    assert again == metrics  # a redelivery changes nothing
