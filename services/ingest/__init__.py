"""Ingest: the front door.

Accepts videos over HTTP (`POST /api/v1/videos`, or `POST /api/v1/videos/import` for a
source already in S3 or under an allow-listed server directory), streams each original into the
immutable `sources/{video_id}/` area of object storage while hashing it, validates it
by probing its content, then emits `video-uploaded` to Kafka. Cancels and reprocesses
videos, and issues and revokes API keys (the one writer of `api-keys`). Consumes `api-keys`
(its key ring) and `video-uploaded` (its own ledger, for reprocess).

Modules, top-down: `main` (process entry), `api` (the application: routers, refusal
answers), `routes/` (one router per resource: `videos` upload, cancel and reprocess;
`imports`; `keys`; `health`), `deps` (what routes read from the application state),
`state` (pool, key ring, ledger consumer), `submission` (probe, validate, publish, record:
shared by upload and import), `rework` (cancel, reprocess), `keys` (key admin), `gate`
(X-API-Key and Idempotency-Key on every write), `idempotency`, `ledger` (Postgres schema
`ingest`, `migrations/`), `upload` (streaming multipart → S3), `importer` (S3 object or
server file → S3), `links`, `validation` (pure rules), `errors`, `settings`.
"""
