"""The bucket's key layout, written down literally (the oracle is the README's layout)."""

import pytest

from schemas import layout

VID = "0b7e5a0c-3f1e-4d0a-9c55-1f2e3d4c5b6a"


def test_sources_keep_the_original_and_a_custom_thumbnail_under_the_video():
    assert layout.source_key(VID) == f"sources/{VID}/original"
    assert layout.thumbnail_key(VID, "png") == f"sources/{VID}/thumbnail.png"


def test_a_thumbnail_key_refuses_other_extensions():
    with pytest.raises(ValueError):
        layout.thumbnail_key(VID, "exe")


def test_outputs_are_scoped_by_video_and_attempt():
    assert layout.rendition_prefix(VID, 2) == f"renditions/{VID}/2"
    assert layout.package_prefix(VID, 3) == f"packages/{VID}/3"
    assert layout.metadata_key(VID, 1) == f"packages/{VID}/1/metadata.json"
    assert layout.published_marker_key(VID, 1) == f"packages/{VID}/1/_published"


def test_playback_serves_packages_and_renditions_but_not_sources():
    assert set(layout.PLAYBACK_PREFIXES) == {"packages/", "renditions/"}
    assert not layout.source_key(VID).startswith(layout.PLAYBACK_PREFIXES)


@pytest.mark.parametrize("key,custom", [
    (f"sources/{VID}/thumbnail.jpg", True),
    (f"sources/{VID}/thumbnail.webp", True),
    (f"sources/{VID}/original", False),
    (f"sources/{VID}/thumbnail.gif", False),
    (f"sources/{VID}/thumbnail.jpg/x", False),
    (f"packages/{VID}/thumbnail.jpg", False),
    ("sources/../thumbnail.jpg", False),
])
def test_only_a_videos_custom_thumbnail_counts_as_one(key, custom):
    assert layout.is_custom_thumbnail(key) is custom


def test_captions_files_and_manifest_revisions_have_their_own_keys():
    from schemas.layout import captions_prefix, revision_marker_key, revision_name

    video = "0b5e3b0e-96b6-4d8e-9a51-3d6c3a1f8e11"
    assert captions_prefix(video, 2) == f"renditions/{video}/2/transcription"
    assert revision_name("master.m3u8", 1) == "master.m3u8"
    assert revision_name("master.m3u8", 2) == "master.r2.m3u8"
    assert revision_name("manifest.mpd", 2) == "manifest.r2.mpd"
    assert revision_marker_key(video, 1, 2) == f"packages/{video}/1/_published.r2"
