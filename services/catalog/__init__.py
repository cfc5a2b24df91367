"""Catalog: the read side of Reelflow.

Consumes every topic in `schemas.PIPELINE_TOPICS` (`video-uploaded`, `video-cancelled`,
`transcode-progress`, `rendition-done`, `transcode-failed`, `video-transcoded`,
`packaging-failed`, `dead-letter`) and projects them into PostgreSQL read models, with
the consumed offsets stored in the same transaction as the read-model changes
(effectively-once). Serves the query API and streams playback objects from S3. Emits
nothing, except dead letters to `dead-letter` for records it cannot decode.

Modules, top-down: `main` (process entry, `--role api|projector|all`), `projector`
(Kafka shell), `store` (one transaction per batch), `projection` / `rows` (pure rules),
`api` / `queries` / `paging` / `views` (HTTP read side), `media` (S3 playback), `metrics`,
`schema` (the `migrations/*.sql` applied at start), `jsonb`, `settings`.
"""
