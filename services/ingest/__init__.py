"""Ingest: the front door.

Accepts videos over HTTP (`POST /api/v1/videos`, or `POST /api/v1/videos/import` for a
source already in S3 or under an allow-listed server directory), streams each original into the
immutable `sources/{video_id}/` area of object storage while hashing it, validates it
by probing its content, then emits `video-uploaded` to Kafka. Consumes nothing.

Modules, top-down: `main` (process entry), `api` (HTTP shell), `upload` (streaming
multipart → S3), `importer` (S3 object or server file → S3), `validation` (pure rules),
`errors`, `settings`.
"""
