-- Reprioritisation in the read model (issue 16): `priority` follows a video-reprioritised of
-- the current attempt. The fold's inputs: which attempt the priority belongs to, and when it
-- was last changed (null: the upload's priority). Numbered 0017: 0016 is this issue's scores.
ALTER TABLE videos
    ADD COLUMN priority_attempt integer,
    ADD COLUMN reprioritised_at timestamptz;
