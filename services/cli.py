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
import sys


def build_parser() -> argparse.ArgumentParser:
    # Imported here so `reelflow --help` stays quick and a broken service cannot stop the
    # operator commands from loading.
    from services.captions.main import add_parser as add_captions
    from services.catalog.main import add_parser as add_catalog
    from services.chunks.main import add_parser as add_chunks
    from services.demo import add_parser as add_demo
    from services.figures.main import add_parser as add_figures
    from services.ingest.main import add_parser as add_ingest
    from services.operations.dlq import add_parser as add_dlq
    from services.operations.lag import add_parser as add_lag
    from services.operations.replay import add_parser as add_replay
    from services.packager.kek_rotation import add_parser as add_keys
    from services.packager.main import add_parser as add_packager
    from services.router.main import add_parser as add_router
    from services.scoring.main import add_parser as add_scoring
    from services.stack.commands import add_parser as add_stack
    from services.submit import add_parser as add_submit
    from services.transcode.main import add_parser as add_transcode
    from services.webhooks.main import add_parser as add_webhooks

    parser = argparse.ArgumentParser(prog="reelflow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_ingest, add_transcode, add_packager, add_catalog, add_stack, add_demo,
                add_submit, add_dlq, add_lag, add_replay, add_figures, add_keys,
                add_captions, add_webhooks, add_scoring, add_chunks, add_router):
        add(sub)
    return parser


#: Commands that act as the operator tools' Kafka principal; every other command that is a
#: service acts as the principal of its own name.
OPERATOR_COMMANDS = ("dlq", "lag", "replay")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from schemas.principals import OPERATIONS
    from services.shared.kafka_security import use_stack_credentials

    # Run by hand against the local stack with no REELFLOW_KAFKA_USERNAME: take the
    # command's principal from the stack's credentials file (the stack itself uses admin).
    use_stack_credentials(OPERATIONS if args.command in OPERATOR_COMMANDS else args.command)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
