"""`reelflow lag --watch`'s pure parts: the frame heading and the options it refuses."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from services.operations.lag import add_parser, frame


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["lag", *argv])


def test_a_frame_says_which_refresh_how_often_and_when_then_shows_the_view() -> None:
    shown = frame("GROUP  TOPIC\nTOTAL LAG g: 3", 2, 1.5, datetime(2026, 1, 2, 3, 4, 5,
                                                                   tzinfo=UTC))
    assert shown == ("reelflow lag --watch: refresh 2, every 1.5 s, 03:04:05 UTC "
                     "(Ctrl-C stops)\n\nGROUP  TOPIC\nTOTAL LAG g: 3")


def test_watch_defaults_to_every_two_seconds_until_stopped() -> None:
    args = parse("--watch")
    assert (args.watch, args.interval, args.count) == (True, 2.0, 0)


@pytest.mark.parametrize("argv", [("--watch", "--interval", "0"),
                                  ("--watch", "--interval", "-1"),
                                  ("--watch", "--count", "-1")])
def test_a_zero_or_negative_interval_or_count_is_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as refused:
        parse(*argv)
    assert refused.value.code == 2


def test_watch_with_json_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--watch", "--json")
    assert args.func(args) == 2
    assert "--watch" in capsys.readouterr().err
