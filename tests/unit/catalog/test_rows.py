"""The rows the projection writes for each event: the timeline entry, a rendition's scores,
and a dead letter's record."""

from __future__ import annotations

import uuid

from schemas import DEAD_LETTER, RENDITION_DONE, VIDEO_TRANSCODED
from schemas.events import RenditionDone
from services.catalog.projection import project_event
from services.catalog.rows import DeadLetterRow, PackageRow, Position, RenditionRow, TimelineRow
from tests.unit.catalog.stories import VideoStory, dead_letter_event


def test_every_event_adds_a_timeline_row_and_its_natural_rows() -> None:
    story = VideoStory()
    kinds: list[str] = []
    state = None
    for offset, (topic, event) in enumerate(story.happy_path()):
        projection = project_event(state, topic, event, Position(topic, 3, offset))
        state = projection.video
        timeline = [r for r in projection.rows if isinstance(r, TimelineRow)]
        assert len(timeline) == 1 and timeline[0].values["event_id"] == event.event_id
        assert timeline[0].values["partition"] == 3 and timeline[0].values["offset"] == offset
        kinds.append(timeline[0].values["kind"])
        if topic == RENDITION_DONE.name:
            (rendition,) = [r for r in projection.rows if isinstance(r, RenditionRow)]
            assert isinstance(event, RenditionDone)
            assert rendition.values["rendition"] == event.rendition
        if topic == VIDEO_TRANSCODED.name:
            assert any(isinstance(r, PackageRow) for r in projection.rows)
    assert kinds[0] == "uploaded" and kinds[-1] == "transcoded"


def test_720p_rendition_row_keeps_its_quality_scores() -> None:
    _, event = VideoStory().rendition("720p", 3)
    projection = project_event(None, RENDITION_DONE.name, event, Position("x", 0, 0))
    (row,) = [r for r in projection.rows if isinstance(r, RenditionRow)]
    assert (row.values["vmaf"], row.values["psnr"], row.values["ssim"]) == (92.0, 40.0, 0.98)
    assert (row.values["width"], row.values["height"], row.values["attempt"]) == (1280, 720, 1)


def test_a_dead_letter_is_recorded_and_joins_the_timeline_of_a_real_video() -> None:
    video_id = str(uuid.uuid4())
    projection = project_event(None, DEAD_LETTER.name, dead_letter_event(video_id),
                               Position(DEAD_LETTER.name, 1, 4))
    assert projection.video is None
    (letter,) = [r for r in projection.rows if isinstance(r, DeadLetterRow)]
    assert letter.values["original_value"] == b"\x00garbage"
    assert (letter.values["dead_letter_partition"], letter.values["dead_letter_offset"]) == (1, 4)
    (entry,) = [r for r in projection.rows if isinstance(r, TimelineRow)]
    assert entry.values["video_id"] == video_id and "original_value" not in entry.values["details"]
    garbage_key = project_event(None, DEAD_LETTER.name, dead_letter_event("\ufffdxx"),
                                Position(DEAD_LETTER.name, 1, 5))
    assert [type(r) for r in garbage_key.rows] == [DeadLetterRow]
