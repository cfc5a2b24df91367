"""`reelflow lag --watch`'s pure parts: the frame heading and the options it refuses."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka.errors import KafkaConnectionError

from services.operations import lag
from services.operations.lag import add_parser, frame
from services.shared.settings import CommonSettings


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


def test_a_broker_that_stops_answering_shows_in_the_frame_and_the_watch_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[Exception | list[object]] = [KafkaConnectionError("refused"), []]

    async def report_of(common: object, groups: object) -> list[object]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(lag, "report_of", report_of)
    shown: list[str] = []
    common = CommonSettings(kafka_bootstrap="127.0.0.1:1")
    asyncio.run(lag.watch(common, None, 0.01, 2, shown.append))
    assert len(shown) == 2
    assert shown[0].startswith("reelflow lag --watch: refresh 1,")
    assert shown[0].endswith("lag: Kafka at 127.0.0.1:1 did not answer: "
                             "KafkaConnectionError: refused")
    assert shown[1].startswith("reelflow lag --watch: refresh 2,")
    assert shown[1].endswith("\n\nno consumer groups")
