"""py-spy profiles of a benchmarked server, recorded while wrk loads it, and their summary.

`record(pid, seconds, out)` attaches `py-spy record --native --format raw` (collapsed
stacks: one line per distinct stack, `frame;frame;... count`) to a running process;
`top(path)` reads such a file back as the frames that hold the most samples, inclusive
(the share of samples a frame is anywhere on the stack in) and self (on top). Line numbers
are dropped, so one function is one row however many lines of it were sampled.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    """Start sampling `pid` for `seconds` into `out` (wait on the returned process)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen([spy, "record", "--native", "--format", "raw",
                             "--duration", str(seconds), "--pid", str(pid), "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(text: str) -> str:
    return _LINE.sub(")", text.strip())


def shares(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, inclusive samples per frame, self samples per frame) of a raw profile."""
    total, inclusive, on_top = 0, Counter[str](), Counter[str]()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        on_top[frames[-1]] += n
    return total, inclusive, on_top


def top(path: Path, rows: int = 25) -> str:
    """The `rows` frames holding the most samples, inclusive and self, as text."""
    total, inclusive, on_top = shares(path)
    if not total:
        return f"{path}: no samples"
    lines = [f"{path.name}: {total} samples; inclusive % / self % per frame"]
    for frame, n in inclusive.most_common(rows):
        lines.append(f"  {100 * n / total:5.1f} {100 * on_top[frame] / total:5.1f}  {frame}")
    return "\n".join(lines)
