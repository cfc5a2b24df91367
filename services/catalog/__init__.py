"""Catalog: the read side of Reelflow.

Consumes every topic in `schemas.PIPELINE_TOPICS` (`video-uploaded`, `video-cancelled`,
`transcode-progress`, `rendition-done`, `transcode-failed`, `video-transcoded`,
`packaging-failed`, `dead-letter`) and projects them into PostgreSQL read models, with
the consumed offsets stored in the same transaction as the read-model changes
(effectively-once). Serves the query API and streams playback objects from S3. Emits
nothing, except dead letters to `dead-letter` for records it cannot decode.

Modules, top-down: `main` (process entry, `--role api|projector|all`), `projector`
(Kafka shell), `store` (one transaction per batch), `projection` / `rows` (pure rules),
`api` (the application), `routes/` (one router per resource: `videos`, `events`,
`stats`, `dead_letters`, `media`, `pages`, `health`), `deps` (what routes read from the
application state), `queries` / `paging` / `views` / `rendering` (the read side's pure
parts and SQL), `media` (the playback header and range rules), `metrics`,
`schema` (the `migrations/*.sql` applied at start), `jsonb`, `settings`.
"""
