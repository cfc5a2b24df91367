-- Protected playback (issue 14): each video's playback policy (`public` or `signed`, the
-- latest fact by time among its video-uploaded and playback-policy-changed events) and the
-- current submission's encryption (null or `cbcs`). /media reads them per video.
-- Numbered 0014 (the issue) so that it cannot collide with other branches' next migration.
ALTER TABLE videos
    ADD COLUMN playback_policy text NOT NULL DEFAULT 'public',
    ADD COLUMN playback_policy_at timestamptz,
    ADD COLUMN encryption text;
