"""`reelflow`: one command line for every service and operator task.

  reelflow ingest | transcode | packager | catalog    run one service in this process
  reelflow captions                                  a captions (speech-to-text) worker
  reelflow figures                                   windowed pipeline figures (faust app)
  reelflow router                                    the lane router (priority lanes, fair share)
  reelflow webhooks                                  webhooks API and dispatcher
  reelflow scoring                                   quality scorer (VMAF/PSNR/SSIM, after playback)
  reelflow chunks                                    chunk worker (split and stitch of long videos)
  reelflow stack up|status|down|restart              the local Kafka/Postgres/S3 stack
  reelflow demo                                      the whole path on a generated clip
  reelflow lag [--group G] [--json]                  consumer lag per group and partition
  reelflow replay --group G --topic T --to-...       move a stopped group's offsets
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Each command's module (its `add_parser` registers it), in `reelflow --help` order.
COMMANDS = {
    "ingest": "services.ingest.main",
    "transcode": "services.transcode.main",
    "packager": "services.packager.main",
    "catalog": "services.catalog.main",
    "stack": "services.stack.commands",
    "demo": "services.demo",
    "submit": "services.submit",
    "dlq": "services.operations.dlq",
    "lag": "services.operations.lag",
    "replay": "services.operations.replay",
    "figures": "services.figures.main",
    "keys": "services.packager.kek_rotation",
    "captions": "services.captions.main",
    "webhooks": "services.webhooks.main",
    "scoring": "services.scoring.main",
    "chunks": "services.chunks.main",
    "router": "services.router.main",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command` alone: a service process imports only
    its own code (importing all of them cost each process about 30 MB of RSS, measured on
    ingest), and a broken service cannot stop the operator commands from loading."""
    parser = argparse.ArgumentParser(prog="reelflow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in [command] if command in COMMANDS else list(COMMANDS):
        importlib.import_module(COMMANDS[name]).add_parser(sub)
    return parser


#: Commands that act as the operator tools' Kafka principal; every other command that is a
#: service acts as the principal of its own name.
OPERATOR_COMMANDS = ("dlq", "lag", "replay")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    from schemas.principals import OPERATIONS
    from services.shared.kafka_security import use_stack_credentials

    # Run by hand against the local stack with no REELFLOW_KAFKA_USERNAME: take the
    # command's principal from the stack's credentials file (the stack itself uses admin).
    use_stack_credentials(OPERATIONS if args.command in OPERATOR_COMMANDS else args.command)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
