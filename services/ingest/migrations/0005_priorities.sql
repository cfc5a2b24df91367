-- The latest priority change of each attempt (video-reprioritised), projected by ingest's
-- own group and by the PATCH that publishes it: a second change reports the first one's
-- priority as its previous_priority. A table of its own rather than a field in
-- ingest.videos: a rebuild may read a change before the upload it changes.
CREATE TABLE ingest.priorities (
    video_id    uuid NOT NULL,
    attempt     integer NOT NULL,
    priority    integer NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (video_id, attempt)
);
