"""Thumbnail planning: positions, the sprite grid and the storyboard, no ffmpeg."""

from __future__ import annotations

from fractions import Fraction

from services.transcode.profiles import get_profile
from services.transcode.thumbnails import plan_thumbnails, sprite_grid, storyboard_vtt

DEFAULT = get_profile()


def test_thumbnail_positions_sprite_and_storyboard():
    pictures = DEFAULT.pictures
    plan = plan_thumbnails(pictures, Fraction(25), 20.0, (1280, 720))
    assert plan.frames == {0.0: 0, 0.25: 125, 0.5: 250, 0.75: 375}
    assert plan.tile_size == (160, 90) and plan.tile_every == 50 and plan.last_from_s == 17.0
    assert sprite_grid(10, 10) == (10, 1) and sprite_grid(23, 10) == (10, 3)
    assert sprite_grid(4, 10) == (4, 1)
    vtt = storyboard_vtt(plan, 10, 20.0)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite.jpg#xywh=0,0,160,90")
    assert "00:00:18.000 --> 00:00:20.000\nsprite.jpg#xywh=1440,0,160,90" in vtt
    portrait = plan_thumbnails(pictures, Fraction(30), 600.0, (720, 1280))
    assert portrait.tile_size == (160, 284)
    assert portrait.tile_every == 180  # 600 s / 100 tiles = one every 6 s
    long = storyboard_vtt(portrait, 100, 600.0)
    assert long.count("-->") == 100 and "sprite.jpg#xywh=1440,2556,160,284" in long
