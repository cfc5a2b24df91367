"""`python -m benchmarks [SUITE ...] [--option value ...]` (or `./run bench ...`).

With no suite named, runs every one, one after the other. Options go to the suites that
take them, e.g. `./run bench projection api --events 200000 --videos 100000`.
Each prints measured figures and ratios side by side from one run; none passes or fails.
"""

from __future__ import annotations

import subprocess
import sys

#: Suite -> the options it takes (each with one value).
SUITES: dict[str, tuple[str, ...]] = {
    "transcode": ("--seconds", "--camera-seconds"),
    "ladder": ("--seconds", "--top", "--uhd", "--rung", "--source", "--shipped",
               "--crf-points", "--hevc"),
    "chunks": ("--seconds", "--chunk-seconds", "--dealing", "--renditions"),
    "ingest": ("--gb", "--uploads", "--upload-mb", "--rounds", "--against"),
    "projection": ("--events", "--batch", "--profile", "--projectors", "--against"),
    "api": ("--videos", "--rate", "--list-rate", "--light-rate", "--detail-seconds",
            "--list-seconds", "--connections", "--processes", "--stream-rate",
            "--stream-detail-rate", "--profile", "--read-model", "--against", "--scale",
            "--stream-nice", "--parts", "--rounds"),
    "captions": ("--seconds",),
    "protect": ("--seconds", "--runs", "--requests"),
    "webhooks": ("--events", "--rate"),
}


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-") and a in SUITES]
    rest = [a for a in argv if a not in names]
    # Pairs, not a dict: `--against` and `--stream-nice` may be given more than once.
    options = list(zip(rest[::2], rest[1::2], strict=False))
    known = {o for opts in SUITES.values() for o in opts}
    if len(rest) % 2 or not {o for o, _ in options} <= known:
        print(__doc__, f"suites and their options: {SUITES}", sep="\n", file=sys.stderr)
        return 2
    worst = 0
    for name in names or list(SUITES):
        args = [x for o, v in options if o in SUITES[name] for x in (o, v)]
        print(f"\n=== benchmarks.{name} {' '.join(args)} ===", flush=True)
        code = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args]).returncode
        worst = max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
