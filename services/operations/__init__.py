"""Operator tooling that works on the event log itself (dead letters, redrives)."""
