"""Chunks: the workers of split and stitch (consumer group `chunks`, `reelflow chunks`).

Each takes `chunk-requested` jobs: it encodes every video rung of the job's source range
with transcode's own graph (`services.transcode.chunked`), uploads the chunk's files, writes
the chunk's manifest and announces `chunk-encoded`, the checkpoint. A job whose manifest
already exists is announced again without encoding, so a worker that dies loses at most
the chunk it was encoding.

Modules: `main` (process entry), `worker` (Kafka/S3 shell), `settings`.
"""
