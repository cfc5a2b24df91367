-- What ingest knows of how each attempt ended, projected from the event log by its own
-- consumer group (never read from the catalog's tables): a cancel must know whether the
-- video exists and whether its current attempt is still running.

-- When the highest attempt was submitted (its video-uploaded's occurred_at): a
-- cancellation applies to the attempts submitted before it.
ALTER TABLE ingest.videos ADD COLUMN attempt_started_at timestamptz;

-- video-transcoded (ready) or transcode-failed / packaging-failed (failed), per attempt.
-- A package after a failure means the input was redriven: ready wins.
CREATE TABLE ingest.outcomes (
    video_id     uuid NOT NULL,
    attempt      integer NOT NULL,
    status       text NOT NULL CHECK (status IN ('ready', 'failed')),
    occurred_at  timestamptz NOT NULL,
    PRIMARY KEY (video_id, attempt)
);

-- video-cancelled carries no attempt: the latest cancellation per video.
CREATE TABLE ingest.cancellations (
    video_id      uuid PRIMARY KEY,
    cancelled_at  timestamptz NOT NULL
);
