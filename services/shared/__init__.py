"""Plumbing every service shares: codec, consume loop, storage, settings, telemetry.

Nothing here knows what a service does with a video.
"""
