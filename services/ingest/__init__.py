"""Ingest: the front door.

Accepts videos over HTTP (`POST /api/v1/videos`), streams each original into the
immutable `sources/{video_id}/` area of object storage while hashing it, validates it
by probing its content, then emits `video-uploaded` to Kafka. Consumes nothing.

Modules, top-down: `main` (process entry), `api` (HTTP shell), `upload` (streaming
multipart → S3), `validation` (pure rules), `errors`, `settings`.
"""
