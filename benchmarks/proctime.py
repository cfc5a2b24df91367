"""CPU seconds of a process and everything it started, from /proc (proc(5)).

A process's children are counted whether they still run or were reaped: a live child's
time is its own plus what it reaped, and so on down the tree. That matters for fork
servers (`services/shared/media/forkserver.py`): their runs are their children, not the
service's, so the service's own reaped-children time never sees them.
"""

from __future__ import annotations

import os
from pathlib import Path


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (index 0 is proc(5)'s field 3, `state`),
    or None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def tree_cpu_split(pid: int | None) -> tuple[float, float]:
    """(the process's own user + system CPU seconds, all threads; those of every process
    below it: its live descendants and all the children each of them reaped)."""
    if pid is None:
        return 0.0, 0.0
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(int(entry.name))) is not None:
            # After ')': state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14.
            parents[int(entry.name)] = int(fields[1])
            stats[int(entry.name)] = fields
    if pid not in stats:
        return 0.0, 0.0
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    own = below = 0
    for member in tree & stats.keys():
        fields = stats[member]
        if member == pid:
            own += int(fields[11]) + int(fields[12])
        else:
            below += int(fields[11]) + int(fields[12])
        below += int(fields[13]) + int(fields[14])
    tick = os.sysconf("SC_CLK_TCK")
    return own / tick, below / tick


def tree_cpu_seconds(pid: int | None) -> float:
    """`tree_cpu_split`'s two parts together: all the CPU the process and its tree used."""
    return sum(tree_cpu_split(pid))
