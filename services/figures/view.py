"""The windows as the console page reads them: table slices grouped and merged, pure.

Per scheme, every kept window, oldest first, with its overall figures and each tenant's.
Dead letters are counted overall only: the dead-letter topic has other partitions than the
video topics, so its records cannot be attributed to a tenant from the same partition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from services.figures.figures import Slice, merge, summary
from services.figures.windows import SCHEMES, WindowKey

Entries = Iterable[tuple[str, Mapping[str, Any]]]


def _group(entries: Entries, now_ms: int) -> dict[tuple[str, int], dict[str, list[Slice]]]:
    grouped: dict[tuple[str, int], dict[str, list[Slice]]] = defaultdict(
        lambda: defaultdict(list))
    schemes = {s.name: s for s in SCHEMES}
    for text, value in entries:
        key = WindowKey.parse(text)
        scheme = schemes.get(key.scheme)
        if scheme is None or scheme.expired(key.start, now_ms):
            continue  # expired, not yet swept
        grouped[(key.scheme, key.start)][key.tenant].append(Slice.from_json(value))
    return grouped


def windows(pipeline: Entries, dead_letters: Entries, now_ms: int) -> dict[str, list[Any]]:
    by_window = _group(pipeline, now_ms)
    letters = _group(dead_letters, now_ms)
    out: dict[str, list[Any]] = {s.name: [] for s in SCHEMES}
    sizes = {s.name: s.size_ms for s in SCHEMES}
    for scheme, start in sorted(set(by_window) | set(letters)):
        tenants = by_window.get((scheme, start), {})
        overall = merge([*(p for parts in tenants.values() for p in parts),
                         *(p for parts in letters.get((scheme, start), {}).values()
                           for p in parts)])
        out[scheme].append({
            "start": start,
            "end": start + sizes[scheme],
            "overall": summary(overall),
            "tenants": {name: summary(merge(parts)) for name, parts in sorted(tenants.items())},
        })
    return out


def current(view: Mapping[str, list[Any]], now_ms: int) -> dict[str, Any]:
    """Per scheme, the window the gauges show: the fullest one that contains `now_ms`."""
    shown: dict[str, Any] = {}
    for scheme in SCHEMES:
        start = scheme.fullest(now_ms)
        shown[scheme.name] = next((w for w in view.get(scheme.name, [])
                                   if w["start"] == start), None)
    return shown
