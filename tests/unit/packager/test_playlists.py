"""HLS and DASH manifests written from a hand-made, measured description (no media, no I/O)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from services.packager import playlists
from services.packager.playlists import IFrame, Presentation, Rendition, Segment, TextTrack

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
VIDEO_TS, AUDIO_TS = 12800, 48000


def video_rung(name: str, height: int, sizes: list[int], peak: int, average: int) -> Rendition:
    segments = tuple(Segment(f"seg_{i + 1:05d}.m4s", i * 51200, 51200, size)
                     for i, size in enumerate(sizes))
    iframes = tuple(IFrame(f"seg_{i // 2 + 1:05d}.m4s", 24 if i % 2 == 0 else 1000 + i, 5000 + i,
                           25600) for i in range(2 * len(sizes)))
    return Rendition(name=name, kind="video", codecs="avc1.64001f", timescale=VIDEO_TS,
                     segments=segments, peak_bandwidth=peak, average_bandwidth=average,
                     width=height * 16 // 9, height=height, frame_rate=25.0, iframes=iframes,
                     iframe_bandwidth=20_100)


def audio_track() -> Rendition:
    durations = [192512, 191488, 192512, 512]  # AAC frames do not divide 4 s: uneven, with a tail
    starts = [sum(durations[:i]) for i in range(len(durations))]
    segments = tuple(Segment(f"seg_{i + 1:05d}.m4s", start, d, 64000 if d > 512 else 400)
                     for i, (start, d) in enumerate(zip(starts, durations, strict=True)))
    return Rendition(name="audio", kind="audio", codecs="mp4a.40.2", timescale=AUDIO_TS,
                     segments=segments, peak_bandwidth=130_001, average_bandwidth=128_003,
                     channels=2, sample_rate=48000)


@pytest.fixture
def presentation() -> Presentation:
    return Presentation((
        video_rung("360p", 360, [300_000, 310_000, 290_000], peak=620_000, average=600_000),
        video_rung("720p", 720, [760_000, 740_000, 730_000], peak=1_520_000, average=1_486_667),
        audio_track(),
    ))


def attributes(line: str) -> dict[str, str]:
    """Parse an HLS attribute list (quoted values may hold commas)."""
    body = line.split(":", 1)[1]
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', body)}


def tagged(text: str, tag: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(tag + ":")]


def extinfs(text: str) -> list[float]:
    return [float(line.split(":")[1].rstrip(",")) for line in text.splitlines()
            if line.startswith("#EXTINF:")]


def test_master_declares_each_rung_with_measured_bandwidths(presentation: Presentation) -> None:
    master = playlists.master_playlist(presentation)
    lines = master.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    audio = presentation.audio
    assert audio is not None
    variants = tagged(master, "#EXT-X-STREAM-INF")
    assert len(variants) == 2
    for line, rung in zip(variants, presentation.video, strict=True):
        attrs = attributes(line)
        assert int(attrs["BANDWIDTH"]) == rung.peak_bandwidth + audio.peak_bandwidth
        assert int(attrs["AVERAGE-BANDWIDTH"]) == rung.average_bandwidth + audio.average_bandwidth
        assert attrs["RESOLUTION"] == f"{rung.width}x{rung.height}"
        assert attrs["CODECS"] == "avc1.64001f,mp4a.40.2"
        assert attrs["FRAME-RATE"] == "25.000"
        assert attrs["AUDIO"] == playlists.AUDIO_GROUP
        assert "SUBTITLES" not in attrs
        assert lines[lines.index(line) + 1] == f"{rung.name}/playlist.m3u8"


def test_master_has_one_default_audio_group(presentation: Presentation) -> None:
    media = tagged(playlists.master_playlist(presentation), "#EXT-X-MEDIA")
    assert len(media) == 1
    attrs = attributes(media[0])
    assert attrs == {"TYPE": "AUDIO", "GROUP-ID": "aud", "NAME": "audio", "LANGUAGE": "und",
                     "DEFAULT": "YES", "AUTOSELECT": "YES", "CHANNELS": "2",
                     "URI": "audio/playlist.m3u8"}


def test_master_offers_an_iframe_stream_per_rung(presentation: Presentation) -> None:
    iframe_lines = tagged(playlists.master_playlist(presentation), "#EXT-X-I-FRAME-STREAM-INF")
    assert [attributes(line) for line in iframe_lines] == [
        {"BANDWIDTH": "20100", "CODECS": "avc1.64001f", "RESOLUTION": f"{r.width}x{r.height}",
         "URI": f"{r.name}/iframes.m3u8"} for r in presentation.video]


def test_media_playlist_states_measured_durations(presentation: Presentation) -> None:
    for rendition in presentation.renditions:
        text = playlists.media_playlist(rendition)
        assert '#EXT-X-MAP:URI="init.mp4"' in text
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
        assert "#EXT-X-VERSION:7" in text
        assert text.rstrip().endswith("#EXT-X-ENDLIST")
        measured = [s.duration / rendition.timescale for s in rendition.segments]
        assert extinfs(text) == pytest.approx(measured, abs=1e-6)
        target = int(tagged(text, "#EXT-X-TARGETDURATION")[0].split(":")[1])
        assert target == math.ceil(max(measured))
        assert all(d <= target for d in extinfs(text))
        uris = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert uris == [s.uri for s in rendition.segments]


def test_uneven_audio_segments_raise_the_target_duration(presentation: Presentation) -> None:
    assert presentation.audio is not None
    text = playlists.media_playlist(presentation.audio)
    assert "#EXT-X-TARGETDURATION:5" in text  # 4.010667 s must not be rounded down to 4


def test_target_duration_ignores_float_noise() -> None:
    assert playlists.target_duration([4.0000000001, 3.9]) == 4
    assert playlists.target_duration([4.001]) == 5
    assert playlists.target_duration([0.2]) == 1


def test_iframe_playlist_addresses_keyframes_by_byte_range(presentation: Presentation) -> None:
    rung = presentation.video[0]
    text = playlists.iframe_playlist(rung)
    assert "#EXT-X-I-FRAMES-ONLY" in text
    assert '#EXT-X-MAP:URI="init.mp4"' in text
    ranges = re.findall(r"#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)", text)
    assert [(int(n), int(o), u) for n, o, u in ranges] == [
        (f.length, f.offset, f.uri) for f in rung.iframes]
    assert extinfs(text) == pytest.approx([2.0] * len(rung.iframes))
    assert "#EXT-X-TARGETDURATION:2" in text


def test_mpd_has_one_adaptation_set_per_media_type(presentation: Presentation) -> None:
    mpd = ET.fromstring(playlists.dash_manifest(presentation))
    assert mpd.get("type") == "static"
    assert mpd.get("profiles") == "urn:mpeg:dash:profile:isoff-live:2011"
    assert mpd.get("mediaPresentationDuration") == "PT12.000S"
    assert mpd.get("minBufferTime") == "PT5.000S"
    sets = mpd.findall("d:Period/d:AdaptationSet", NS)
    assert [s.get("contentType") for s in sets] == ["video", "audio"]
    video_reps = sets[0].findall("d:Representation", NS)
    assert [(r.get("id"), r.get("height"), r.get("width"), r.get("frameRate"), r.get("codecs"))
            for r in video_reps] == [("360p", "360", "640", "25", "avc1.64001f"),
                                     ("720p", "720", "1280", "25", "avc1.64001f")]
    for rep, rung in zip(video_reps, presentation.video, strict=True):
        assert int(rep.get("bandwidth", "0")) == rung.peak_bandwidth
    (audio_rep,) = sets[1].findall("d:Representation", NS)
    assert audio_rep.get("bandwidth") == "130001"
    assert audio_rep.find("d:AudioChannelConfiguration", NS).get("value") == "2"  # type: ignore[union-attr]


def test_mpd_timeline_repeats_measured_durations(presentation: Presentation) -> None:
    mpd = ET.fromstring(playlists.dash_manifest(presentation))
    reps = mpd.findall(".//d:Representation", NS)
    for rep, rendition in zip(reps, presentation.renditions, strict=True):
        template = rep.find("d:SegmentTemplate", NS)
        assert template is not None
        assert template.get("media") == f"{rendition.name}/seg_$Number%05d$.m4s"
        assert template.get("initialization") == f"{rendition.name}/init.mp4"
        assert template.get("timescale") == str(rendition.timescale)
        expanded = []
        for s in template.findall("d:SegmentTimeline/d:S", NS):
            expanded += [int(s.get("d", "0"))] * (int(s.get("r", "0")) + 1)
        assert expanded == [s.duration for s in rendition.segments]


def test_timeline_runs_restate_t_only_after_a_gap() -> None:
    segments = [Segment("a", 0, 10, 1), Segment("b", 10, 10, 1), Segment("c", 25, 10, 1),
                Segment("d", 35, 5, 1)]
    assert playlists.timeline_runs(segments) == [(0, 10, 1), (25, 10, 0), (None, 5, 0)]


def test_subtitle_hooks_appear_only_with_text_tracks(presentation: Presentation) -> None:
    english = TextTrack("en", "English", "subtitles/en.vtt", default=True)
    with_text = Presentation(presentation.renditions, (english,))
    master = playlists.master_playlist(with_text)
    subtitle_media = [line for line in tagged(master, "#EXT-X-MEDIA") if "SUBTITLES" in line]
    assert attributes(subtitle_media[0]) == {
        "TYPE": "SUBTITLES", "GROUP-ID": "subs", "NAME": "English", "LANGUAGE": "en",
        "DEFAULT": "YES", "AUTOSELECT": "YES", "URI": "subtitles/en.m3u8"}
    assert all(attributes(v)["SUBTITLES"] == "subs"
               for v in tagged(master, "#EXT-X-STREAM-INF"))
    mpd = ET.fromstring(playlists.dash_manifest(with_text))
    (text_set,) = [s for s in mpd.findall("d:Period/d:AdaptationSet", NS)
                   if s.get("contentType") == "text"]
    assert text_set.get("mimeType") == "text/vtt"
    assert text_set.get("lang") == "en"
    assert text_set.findtext("d:Representation/d:BaseURL", namespaces=NS) == "subtitles/en.vtt"
    vtt_playlist = playlists.subtitle_playlist(english, 12.0)
    assert "#EXTINF:12.000000,\nen.vtt" in vtt_playlist

    plain_master = playlists.master_playlist(presentation)
    assert "SUBTITLES" not in plain_master
    plain_mpd = ET.fromstring(playlists.dash_manifest(presentation))
    assert not [s for s in plain_mpd.iter() if s.get("contentType") == "text"]


def test_presentation_without_audio_has_no_audio_references(presentation: Presentation) -> None:
    silent = Presentation(presentation.video)
    master = playlists.master_playlist(silent)
    assert "AUDIO" not in master
    assert tagged(master, "#EXT-X-MEDIA") == []
    first = attributes(tagged(master, "#EXT-X-STREAM-INF")[0])
    assert first["CODECS"] == "avc1.64001f"
    assert int(first["BANDWIDTH"]) == presentation.video[0].peak_bandwidth
    mpd = ET.fromstring(playlists.dash_manifest(silent))
    assert [s.get("contentType") for s in mpd.findall("d:Period/d:AdaptationSet", NS)] == ["video"]


def test_peak_bitrate_uses_windows_of_half_to_one_and_a_half_targets() -> None:
    # A 0.01 s tail of 400 bytes is 320 kbit/s alone, but it is never a window on its own.
    spans = [(4.0, 64_000), (4.0, 66_000), (4.0, 62_000), (0.01, 400)]
    assert playlists.peak_bitrate(spans, 4) == math.ceil(66_000 * 8 / 4.0)
    # Two short segments together reach the 2 s window floor.
    assert playlists.peak_bitrate([(1.0, 1000), (1.0, 3000), (4.0, 4000)], 4) == 16_000
    # A clip shorter than half the target has no qualifying window: its average.
    assert playlists.peak_bitrate([(1.0, 1000)], 4) == 8000
    assert playlists.average_bitrate(spans) == math.ceil(192_400 * 8 / 12.01)


def test_mpd_frame_rate_keeps_ntsc_rates_exact() -> None:
    rung = video_rung("1080p", 1080, [1], peak=1, average=1)
    ntsc = Rendition(**{**rung.__dict__, "frame_rate": 30000 / 1001})
    mpd = ET.fromstring(playlists.dash_manifest(Presentation((ntsc,))))
    assert mpd.find(".//d:Representation", NS).get("frameRate") == "30000/1001"  # type: ignore[union-attr]
