"""Tolerant readers of the text fields ffmpeg and ffprobe print ("N/A", "0/0", "")."""

from __future__ import annotations

from fractions import Fraction
from typing import Any


def to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def to_float(value: Any) -> float | None:
    """A non-negative number; None for text, NaN and negatives."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number >= 0 else None


def to_ratio(text: Any) -> Fraction | None:
    """A positive ratio from `30000/1001` or `16:15`; None for `0/0`, `N/A` and the like."""
    try:
        num, _, den = str(text).partition("/" if "/" in str(text) else ":")
        value = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None
