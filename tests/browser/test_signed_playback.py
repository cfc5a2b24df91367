"""Signed playback end to end (issue 14): a video uploaded with `playback_policy=signed`
goes through the real pipeline; its `/media` objects then need an RS256 token minted with
a signing key the ingest API created (minted here with PyJWT, as a customer's backend
would). hls.js and Shaka Player play it with a `v` token in headless Chromium (the
manifests are rewritten per request, so every segment URL carries the token); without a
token, or with a bad, expired, other-video or wrong-audience token, the manifest, a
segment and a thumbnail answer their coded 403s. A second video, public at first, is
switched to signed through the API; revoking the key makes its tokens fail.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from tests.access import admin_headers
from tests.browser.test_pipeline_playback import absolute, page_origin  # noqa: F401 (fixture)
from tests.browser.test_players import missing_prerequisite, run_players
from tests.integration.test_pipeline import INGEST, submit, wait_for_status
from tests.media import make_clip
from tests.tools import require

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# play.cjs plays to 4 s on the top rung; 640x360 makes a cheap 240p + 360p ladder.
CLIP_SECONDS = 6


def mint(key: dict[str, Any], video_id: str, aud: str | list[str] = "v",
         exp_in: int = 600) -> str:
    return jwt.encode({"sub": video_id, "aud": aud, "exp": int(time.time()) + exp_in},
                      key["private_key_pem"], algorithm="RS256", headers={"kid": key["kid"]})


def refusal(url: str, token: str | None = None) -> str | None:
    reply = httpx.get(url, params={"token": token} if token else None, timeout=10)
    if reply.status_code == 200:
        return None
    assert reply.status_code == 403, (reply.status_code, reply.text)
    assert reply.headers["access-control-allow-origin"] == "*"
    return str(reply.json()["error"])


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def signing_key(pipeline) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    reply = httpx.post(f"{INGEST}/api/v1/signing-keys", json={}, headers=admin_headers(),
                       timeout=30)
    assert reply.status_code == 201, reply.text
    key = reply.json()
    assert key["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    listed = httpx.get(f"{INGEST}/api/v1/signing-keys", headers=admin_headers(), timeout=10)
    assert [k for k in listed.json()["items"] if k["kid"] == key["kid"]][0].get(
        "private_key_pem") is None  # shown once, never listed
    return key


@pytest.fixture(scope="module")
def videos(pipeline, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    require(missing_prerequisite())
    folder = tmp_path_factory.mktemp("signed")
    signed = submit(make_clip(folder / "a.mp4", 640, 360, seconds=CLIP_SECONDS),
                    playback_policy="signed")
    assert signed.status_code == 202, signed.text
    assert signed.json()["playback_policy"] == "signed"
    public = submit(make_clip(folder / "b.mp4", 640, 360, seconds=2))
    assert public.status_code == 202 and public.json()["playback_policy"] == "public"
    found = {name: wait_for_status(reply.json()["video_id"], {"ready", "failed"})
             for name, reply in (("a", signed), ("b", public))}
    assert {v["status"] for v in found.values()} == {"ready"}, found
    return found


def objects(video: dict[str, Any]) -> dict[str, str]:
    """A manifest, a segment and a thumbnail of a video (absolute URLs, no token)."""
    master = absolute(video["playback"]["hls"])
    playlist = httpx.get(master.replace("master.m3u8", f"{_rung(video)}/playlist.m3u8"),
                         params={"token": "x"}, timeout=10)
    base = master.rsplit("/", 1)[0]
    return {"manifest": master, "dash": absolute(video["playback"]["dash"]),
            "segment": f"{base}/{_rung(video)}/seg_00001.m4s",
            "thumbnail": absolute(video["playback"]["thumbnails"][0]),
            "sprite": absolute(video["playback"]["sprite"]),
            "_": playlist.text}


def _rung(video: dict[str, Any]) -> str:
    return min((r for r in video["renditions"] if r["media_type"] == "VIDEO"),
               key=lambda r: r["height"])["rendition"]


def test_the_api_links_a_signed_video_without_a_token(videos: dict[str, dict]) -> None:
    playback = videos["a"]["playback"]
    assert playback["policy"] == "signed" and videos["b"]["playback"]["policy"] == "public"
    assert "token" not in playback["hls"] and "token" not in playback["dash"]


@pytest.mark.parametrize("kind", ["manifest", "segment", "thumbnail"])
def test_no_bad_or_expired_token_gets_its_coded_403(videos: dict[str, dict],
                                                     signing_key: dict[str, Any],
                                                     kind: str) -> None:
    url, video_id = objects(videos["a"])[kind], videos["a"]["video_id"]
    aud = "t" if kind == "thumbnail" else "v"
    assert refusal(url) == "token_missing"
    assert refusal(url, "not-a-token") == "token_invalid"
    assert refusal(url, mint(signing_key, video_id, aud)[:-4] + "AAAA") == "token_invalid"
    assert refusal(url, mint(signing_key, video_id, aud, exp_in=-60)) == "token_expired"
    assert refusal(url, mint(signing_key, video_id, aud)) is None


def test_a_v_token_rewrites_every_manifest_url(videos: dict[str, dict],
                                               signing_key: dict[str, Any]) -> None:
    token = mint(signing_key, videos["a"]["video_id"])
    found = objects(videos["a"])
    master = httpx.get(found["manifest"], params={"token": token}, timeout=10)
    assert master.status_code == 200 and "no-store" in master.headers["cache-control"]
    uris = re.findall(r'URI="([^"]*)"', master.text) + [
        line for line in master.text.splitlines() if line and not line.startswith("#")]
    assert uris and all(f"token={token}" in u for u in uris), master.text
    mpd = httpx.get(found["dash"], params={"token": token}, timeout=10).text
    templates = re.findall(r'(?:initialization|media)="([^"]*)"', mpd)
    assert templates and all(f"token={token}" in t for t in templates), mpd
    # A URL from the rewritten playlist fetches its segment.
    playlist = httpx.get(found["manifest"].replace("master.m3u8",
                                                   f"{_rung(videos['a'])}/playlist.m3u8"),
                         params={"token": token}, timeout=10).text
    segment = next(line for line in playlist.splitlines() if line.startswith("seg_"))
    assert urlsplit(segment).query == f"token={token}"
    base = found["manifest"].rsplit("/", 1)[0] + f"/{_rung(videos['a'])}/"
    assert httpx.get(base + segment, timeout=10).status_code == 200


def test_a_t_token_opens_thumbnails_but_not_segments_nor_the_storyboard(
        videos: dict[str, dict], signing_key: dict[str, Any]) -> None:
    found, token = objects(videos["a"]), mint(signing_key, videos["a"]["video_id"], "t")
    assert refusal(found["thumbnail"], token) is None
    assert refusal(found["segment"], token) == "token_wrong_audience"
    assert refusal(found["manifest"], token) == "token_wrong_audience"
    assert refusal(found["sprite"], token) == "token_wrong_audience"
    assert refusal(found["sprite"], mint(signing_key, videos["a"]["video_id"], "s")) is None


@pytest.fixture(scope="module")
def signed_playback(videos: dict[str, dict], signing_key: dict[str, Any],
                    page_origin: tuple[str, list[str]]) -> dict[str, dict]:  # noqa: F811
    origin, _ = page_origin
    token = mint(signing_key, videos["a"]["video_id"])
    hls = absolute(videos["a"]["playback"]["hls"]) + f"?token={token}"
    dash = absolute(videos["a"]["playback"]["dash"]) + f"?token={token}"
    return run_players(origin, "360", f"hls={hls}", f"shaka={dash}", note="signed, ")


@pytest.mark.parametrize("engine", ["hls", "shaka"])
def test_a_v_token_plays_in_both_players(signed_playback: dict[str, dict],
                                         engine: str) -> None:
    run = signed_playback[engine]
    assert run["failure"] is None, run
    assert run["errors"] == [], run
    assert run["currentTime"] >= 3.0 and not run["paused"]
    assert run["videoHeight"] == 360


def test_a_policy_change_signs_a_public_video_and_tokens_stay_per_video(
        videos: dict[str, dict], signing_key: dict[str, Any]) -> None:
    a, b = videos["a"]["video_id"], videos["b"]["video_id"]
    found_b = objects(videos["b"])
    assert refusal(found_b["manifest"]) is None  # public: as before
    reply = httpx.put(f"{INGEST}/api/v1/videos/{b}/playback-policy",
                      json={"playback_policy": "signed"}, headers=admin_headers(), timeout=30)
    assert reply.status_code == 200, reply.text
    wait_until(lambda: refusal(found_b["manifest"]) == "token_missing",
               "the catalog signs video B")
    for kind in ("manifest", "segment", "thumbnail"):
        aud = "t" if kind == "thumbnail" else "v"
        assert refusal(found_b[kind], mint(signing_key, a, aud)) == "token_wrong_video"
        assert refusal(found_b[kind], mint(signing_key, b, aud)) is None
    events = httpx.get(absolute(videos['b']['links']['events']), headers=admin_headers(),
                       timeout=10).json()
    assert any(e["kind"] == "policy" for e in events["events"]), events


def test_a_revoked_keys_tokens_fail(videos: dict[str, dict], pipeline) -> None:  # type: ignore[no-untyped-def]
    created = httpx.post(f"{INGEST}/api/v1/signing-keys", json={}, headers=admin_headers(),
                         timeout=30).json()
    url, token = objects(videos["a"])["manifest"], mint(created, videos["a"]["video_id"])
    wait_until(lambda: refusal(url, token) is None, "the catalog knows the new key")
    reply = httpx.delete(f"{INGEST}/api/v1/signing-keys/{created['kid']}",
                         headers=admin_headers(), timeout=30)
    assert reply.status_code == 200 and reply.json()["active"] is False
    wait_until(lambda: refusal(url, token) == "token_invalid", "the revocation reaches /media")
