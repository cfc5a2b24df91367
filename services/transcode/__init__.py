"""Transcode: one decode, every output.

Consumes `video-uploaded` (and `video-cancelled`) from Kafka; for each attempt it
verifies the source's SHA-256, plans the ABR ladder from the source's size, runs ONE
ffmpeg process that decodes the source once and writes every rung, the AAC audio
rendition, the MP3 and the thumbnails, uploads everything
to attempt-scoped keys, and emits one `rendition-done` per output (plus
`transcode-progress` while it works, or `transcode-failed` when it gives up). Quality is
scored afterwards by the `scoring` group (services/scoring), with `quality`'s graph.

Modules, top-down: `main` (process entry), `worker` (Kafka/S3 shell), `handlers`
(pure event building), `profiles` / `ladder` (pure ladder planning), `encode` /
`quality` (ffmpeg), `errors`, `settings`.
"""
