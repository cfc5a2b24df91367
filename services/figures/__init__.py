"""Windowed pipeline figures: a faust-streaming app (see main.py)."""
