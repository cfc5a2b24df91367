"""A captions revision of published manifests equals the manifests the packager writes for
the same presentation when the captions are there from the start."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from services.packager import playlists, revision
from services.packager.playlists import Presentation, TextTrack
from tests.unit.packager.test_playlists import audio_track, presentation

TRACK = TextTrack("en", "English", "subtitles/en.vtt")
__all__ = ["presentation"]  # the fixture, shared with the playlist tests


def test_the_revised_master_is_the_one_written_with_captions(presentation):
    with_captions = dataclasses.replace(presentation, text_tracks=(TRACK,))
    revised = revision.master_with_subtitles(playlists.master_playlist(presentation), TRACK)
    assert revised == playlists.master_playlist(with_captions)
    variants = [line for line in revised.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert variants and all('SUBTITLES="subs"' in line for line in variants)


def test_an_audio_only_master_gets_the_group_too():
    audio_only = Presentation((audio_track(),))
    revised = revision.master_with_subtitles(playlists.master_playlist(audio_only), TRACK)
    assert revised == playlists.master_playlist(
        dataclasses.replace(audio_only, text_tracks=(TRACK,)))


def test_a_master_with_subtitles_is_not_revised_twice(presentation):
    once = revision.master_with_subtitles(playlists.master_playlist(presentation), TRACK)
    with pytest.raises(ValueError):
        revision.master_with_subtitles(once, TRACK)


def _canonical(mpd: str) -> str:
    return ET.canonicalize(mpd, strip_text=True)


def test_the_revised_mpd_is_the_one_written_with_captions(presentation):
    with_captions = dataclasses.replace(presentation, text_tracks=(TRACK,))
    revised = revision.mpd_with_subtitles(playlists.dash_manifest(presentation), TRACK)
    assert _canonical(revised) == _canonical(playlists.dash_manifest(with_captions))
    text = ET.fromstring(revised).find(".//{urn:mpeg:dash:schema:mpd:2011}AdaptationSet"
                                       "[@contentType='text']")
    assert text is not None and text.get("lang") == "en"
    with pytest.raises(ValueError):
        revision.mpd_with_subtitles(revised, TRACK)


def test_presentation_seconds_reads_the_mpd_duration(presentation):
    mpd = playlists.dash_manifest(presentation)
    assert revision.presentation_seconds(mpd) == pytest.approx(
        presentation.duration_seconds, abs=0.001)
    assert revision.presentation_seconds('mediaPresentationDuration="PT1H2M3.5S"') == 3723.5
