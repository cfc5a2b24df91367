"""`reelflow stack up|status|down|restart`: the local stack from the command line."""

from __future__ import annotations

import argparse
import logging

from rich.console import Console
from rich.table import Table

from services.stack.local import LocalStack
from services.stack.settings import StackSettings


def _stack() -> LocalStack:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # While Kafka boots, aiokafka logs every refused connection; the stack reports progress.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return LocalStack(StackSettings())


def up(args: argparse.Namespace) -> int:
    stack = _stack()
    if args.timeout:
        stack.settings.start_timeout_s = args.timeout
    stack.up(infra_only=args.infra_only)
    return status(args)


def status(_: argparse.Namespace) -> int:
    table = Table("component", "pid", "state", "address", "log")
    rows = LocalStack(StackSettings()).status()
    for row in rows:
        colour = {"healthy": "green", "unhealthy": "yellow"}.get(row.state, "red")
        table.add_row(row.name, str(row.pid or "-"), f"[{colour}]{row.state}", row.address,
                      row.log)
    Console().print(table)
    return 0


def down(_: argparse.Namespace) -> int:
    _stack().down()
    return 0


def restart(args: argparse.Namespace) -> int:
    _stack().restart(args.component)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("stack", help="run the local Kafka/Postgres/S3 stack and "
                                   "services without Docker")
    sub = parser.add_subparsers(dest="stack_command", required=True)
    p_up = sub.add_parser("up", help="start what is not running; wait until healthy")
    p_up.add_argument("--infra-only", action="store_true",
                      help="only Kafka, PostgreSQL and S3, not the services "
                      "and Prometheus")
    p_up.add_argument("--timeout", type=float, default=0.0, help="seconds per component")
    p_up.set_defaults(func=up)
    sub.add_parser("status", help="what runs, where, and its log").set_defaults(func=status)
    sub.add_parser("down", help="stop everything (Prometheus and the services first)"
                   ).set_defaults(func=down)
    p_restart = sub.add_parser("restart", help="restart one component")
    p_restart.add_argument("component", choices=["kafka", "postgres", "s3", "ingest",
                                                 "transcode", "packager", "captions",
                                                 "catalog",
                                                 "prometheus"])
    p_restart.set_defaults(func=restart)
