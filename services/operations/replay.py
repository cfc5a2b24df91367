"""`reelflow replay`: move a stopped consumer group's offsets, like
`kafka-consumer-groups.sh --reset-offsets`.

  reelflow replay --group G --topic T [--partition P ...]
                  (--to-earliest | --to-latest | --to-datetime ISO | --to-offset N | --shift-by N)
                  [--dry-run | --execute]

Dry-run is the default: it prints the plan (GROUP TOPIC PARTITION CURRENT-OFFSET NEW-OFFSET)
and changes nothing. `--execute` refuses, with exit status 2, while the group has live
members: a running consumer would overwrite the new offsets with its own next commit.

Where the offsets live decides how they move. Kafka groups get the new offsets committed
to Kafka under their group id. Catalog projector groups (`catalog`, or any group with rows
in the catalog's `consumer_offsets` table) keep their truth in Postgres, so that is what is
rewritten (and mirrored to Kafka for the lag tooling). Re-reading the log does not rebuild
the catalog, though: every event already applied is a no-op (its id is claimed by its own
timeline entry or dead-letter row, `catalog/store.py`). For a real
rebuild of the read models use `reelflow catalog rebuild`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from aiokafka.errors import KafkaError

from services.catalog.group_replay import GroupActive, Target, execute, format_plan, plan
from services.shared.settings import CommonSettings

#: Exit status when the group is in use (the plan is not applied).
GROUP_ACTIVE = 2
def _target(args: argparse.Namespace) -> Target:
    if args.to_earliest:
        return Target("earliest")
    if args.to_latest:
        return Target("latest")
    if args.to_datetime:
        when = datetime.fromisoformat(args.to_datetime)
        return Target("datetime", when if when.tzinfo else when.replace(tzinfo=UTC))
    if args.to_offset is not None:
        return Target("offset", args.to_offset)
    return Target("shift", args.shift_by)


def _main(args: argparse.Namespace) -> int:
    common = CommonSettings()
    try:
        the_plan = asyncio.run(plan(common, args.group, args.topic, _target(args),
                                    args.partition or ()))
    except (LookupError, ValueError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    except KafkaError as exc:
        print(f"replay: Kafka at {common.kafka_bootstrap} did not answer: {exc}",
              file=sys.stderr)
        return 1
    print(format_plan(the_plan))
    where = ("Postgres (catalog consumer_offsets)" if the_plan.store == "postgres"
             else "Kafka")
    if the_plan.store == "postgres":
        print("note: the catalog dedupes on event_id (each applied event's timeline entry or "
              "dead-letter row holds it), so re-reading events "
              "it already applied changes nothing; to rebuild the read models run "
              "`reelflow catalog rebuild`.")
    active = (f"group {args.group!r} has {the_plan.live_members} live member(s); stop them "
              "first (a running consumer would overwrite the new offsets)")
    if not args.execute:
        if the_plan.live_members:
            print(f"warning: {active}; --execute would refuse.")
        print(f"dry run: nothing changed; add --execute to write these offsets to {where}.")
        return 0
    if the_plan.live_members:
        print(f"replay: refusing: {active}.", file=sys.stderr)
        return GROUP_ACTIVE
    try:
        asyncio.run(execute(common, the_plan))
    except GroupActive:
        print(f"replay: refusing: group {args.group!r} gained live members; stop them first.",
              file=sys.stderr)
        return GROUP_ACTIVE
    print(f"offsets of group {args.group!r} written to {where}.")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "replay", help="reset a stopped consumer group's offsets (dry-run by default)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", required=True, help="consumer group id")
    parser.add_argument("--topic", required=True, help="topic whose offsets move")
    parser.add_argument("--partition", type=int, action="append",
                        help="only this partition (repeatable; default: all)")
    to = parser.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", action="store_true", help="the start of the log")
    to.add_argument("--to-latest", action="store_true", help="the end of the log (skip all)")
    to.add_argument("--to-datetime", metavar="ISO",
                    help="the first record at or after this time (UTC unless it says)")
    to.add_argument("--to-offset", type=int, metavar="N", help="offset N (clamped to the log)")
    to.add_argument("--shift-by", type=int, metavar="N", help="current offset + N (may be < 0)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan only (default)")
    mode.add_argument("--execute", action="store_true", help="write the new offsets")
    parser.set_defaults(func=_main)
