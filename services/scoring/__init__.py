"""Scoring: VMAF, PSNR and SSIM of every video rendition, after the video is playable.

Consumes `rendition-done` as consumer group `scoring` (a process of its own, `reelflow
scoring`); for each video rung it fetches the source and the rung, runs transcode's own
scoring graph (`services.transcode.quality`), emits `rendition-scored`, and adds the
figures to the package's `metadata.json` once the package is published.

Modules: `main` (process entry), `worker` (Kafka/S3 shell), `aggregate` (pure: chunk
figures to a rendition's), `settings`.
"""
