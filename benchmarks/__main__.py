"""`python -m benchmarks` (or `./run bench`): every benchmark, one after the other.

Each prints measured figures and ratios side by side from one run; none passes or fails.
"""

from __future__ import annotations

import subprocess
import sys

SUITES = ("benchmarks.transcode", "benchmarks.ingest")


def main() -> int:
    worst = 0
    for suite in SUITES:
        print(f"\n=== {suite} ===", flush=True)
        worst = max(worst, subprocess.run([sys.executable, "-m", suite, *sys.argv[1:]]).returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main())
