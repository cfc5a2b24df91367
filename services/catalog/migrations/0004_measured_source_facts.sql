-- What the pipeline measured of a source, beside what its video-uploaded declared, so the
-- visible source facts (source_sha256, source_size_bytes, source_info, duration_seconds)
-- are derived from both whichever way the video came in (services/catalog/projection.py):
-- source_declared: {sha256, size_bytes, info} of the submission that supplied the metadata;
-- source_measured: {attempt, sha256, size_bytes, info} from rendition-done (v2 carries it);
-- package_duration_seconds: video-transcoded's duration of the current package.
ALTER TABLE videos
    ADD COLUMN source_declared jsonb,
    ADD COLUMN source_measured jsonb,
    ADD COLUMN package_duration_seconds double precision;

-- Rows projected before this migration: what they show is what was declared.
UPDATE videos SET source_declared = jsonb_build_object(
    'sha256', source_sha256, 'size_bytes', source_size_bytes, 'info', source_info)
WHERE source_uri IS NOT NULL;
UPDATE videos v SET package_duration_seconds = p.duration_seconds
FROM packages p WHERE p.video_id = v.video_id AND p.attempt = v.current_package_attempt;
