-- Quality figures that arrive after playback (rendition-scored, issue 16), one row per
-- scored rendition, insert-only like `renditions`. A rendition's shown quality is its
-- score row's when there is one, else what its rendition-done carried (v1-v3 writers).
CREATE TABLE rendition_scores (
    video_id          uuid NOT NULL,
    attempt           integer NOT NULL,
    rendition         text NOT NULL,
    event_id          uuid NOT NULL,
    occurred_at       timestamptz NOT NULL,
    rendition_event_id uuid NOT NULL,
    vmaf              double precision,
    psnr              double precision,
    ssim              double precision,
    vmaf_floor        double precision,
    below_floor       boolean,
    frames_scored     integer,
    model             text,
    subsample         integer,
    score_seconds     double precision,
    chunks            jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (video_id, attempt, rendition)
);
