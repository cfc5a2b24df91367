"""Reelflow: an event-sourced video pipeline.

Services (each its own process, talking only through Avro events on Kafka):
  ingest    -> accepts videos over HTTP, emits `video-uploaded`
  transcode -> consumes `video-uploaded`, emits `rendition-done`
  packager  -> consumes `rendition-done`, emits `video-transcoded`
  catalog   -> projects every topic into Postgres and serves the query API

`services.shared` is the plumbing they share; `services.stack` runs the local
infrastructure (Kafka, PostgreSQL, SeaweedFS S3) without Docker.
"""
