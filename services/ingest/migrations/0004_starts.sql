-- When transcode began each attempt (its first transcode-progress), projected by ingest's
-- own group: a priority may only change while the attempt still waits for a worker.
CREATE TABLE ingest.starts (
    video_id    uuid NOT NULL,
    attempt     integer NOT NULL,
    started_at  timestamptz NOT NULL,
    PRIMARY KEY (video_id, attempt)
);
