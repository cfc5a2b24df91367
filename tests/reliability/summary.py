"""The suite's summary table: one row per scenario, printed at the end of the pytest run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    scenario: str
    jobs: int
    completed: int
    lost: int
    duplicated: int
    seconds: float
    note: str = ""


ROWS: list[Row] = []


def record(row: Row) -> Row:
    ROWS.append(row)
    print(f"\n{table([row])}")
    return row


def table(rows: list[Row]) -> str:
    head = ("scenario", "jobs", "completed", "lost", "duplicated", "time s", "note")
    cells = [head] + [(r.scenario, str(r.jobs), str(r.completed), str(r.lost),
                       str(r.duplicated), f"{r.seconds:.1f}", r.note) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
              for row in cells[1:]]
    return "\n".join(lines)
