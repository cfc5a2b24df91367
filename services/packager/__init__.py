"""Packager: CMAF segments with HLS and DASH manifests.

Consumes `rendition-done` from Kafka and gathers each video attempt's renditions (the
expected set travels in the events). When a set is complete it fetches the renditions,
cuts them into aligned fragmented-MP4 segments without re-encoding, writes the HLS
master/media/I-frame playlists and the DASH MPD over the same segments, uploads the
package under `packages/{video_id}/{attempt}/` with the right Content-Types and cache
lifetimes, and emits `video-transcoded` (or `packaging-failed`).

Modules, top-down: `main` (process entry), `worker` (Kafka/S3 shell), `assembly`
(pure set gathering), `package` / `cmaf` / `playlists` / `metadata` (packaging),
`settings`.
"""
