"""A later revision of a published package's manifests: the same segments, plus a captions
track. Pure: manifest text in, manifest text out.

Playback never waits for speech recognition, so captions that arrive after a package was
published are added as revision 2: `master.r2.m3u8` (an `EXT-X-MEDIA:TYPE=SUBTITLES` group
that every variant references) and `manifest.r2.mpd` (a text AdaptationSet with `lang`),
beside the untouched revision 1, whose players keep working. Every segment, init segment
and media playlist is the one revision 1 names.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from services.packager import playlists
from services.packager.playlists import SUBTITLE_GROUP, TextTrack

DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
_STREAM_INF = "#EXT-X-STREAM-INF:"


def master_with_subtitles(master: str, track: TextTrack) -> str:
    """`master` with `track` as its subtitles group, referenced by every variant."""
    lines = master.rstrip("\n").split("\n")
    if any(line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES") for line in lines):
        raise ValueError("the master playlist already has a subtitles group")
    # After the last EXT-X-MEDIA (or the header tags), before the first variant.
    anchor = max((i for i, line in enumerate(lines)
                  if line.startswith(("#EXT-X-MEDIA:", "#EXT-X-INDEPENDENT-SEGMENTS",
                                      "#EXT-X-VERSION"))), default=0)
    out = [*lines[:anchor + 1], playlists.subtitles_media_tag(track), *lines[anchor + 1:]]
    return "\n".join(f"{line},SUBTITLES=\"{SUBTITLE_GROUP}\"" if line.startswith(_STREAM_INF)
                     else line for line in out) + "\n"


def mpd_with_subtitles(mpd: str, track: TextTrack) -> str:
    """`mpd` with a text AdaptationSet for `track` in its (one) Period."""
    ET.register_namespace("", DASH_NS)
    root = ET.fromstring(mpd)
    period = root.find(f"{{{DASH_NS}}}Period")
    if period is None:
        raise ValueError("the MPD has no Period")
    sets = period.findall(f"{{{DASH_NS}}}AdaptationSet")
    if any(s.get("contentType") == "text" for s in sets):
        raise ValueError("the MPD already has a text AdaptationSet")
    next_id = max((int(s.get("id", "0")) for s in sets), default=-1) + 1
    added = playlists.text_adaptation_set(period, next_id, 0, track)
    _namespaced(added)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _namespaced(element: ET.Element) -> None:
    for node in element.iter():
        if not node.tag.startswith("{"):
            node.tag = f"{{{DASH_NS}}}{node.tag}"


def presentation_seconds(mpd: str) -> float:
    """`mediaPresentationDuration` of a static MPD (`PT1H2M3.5S`), in seconds."""
    match = re.search(r'mediaPresentationDuration="PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?"',
                      mpd)
    if not match:
        raise ValueError("the MPD has no mediaPresentationDuration")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds
