-- Catalog read models. Every table is derived from the Kafka log and can be rebuilt by
-- dropping the database and replaying from the beginning of each topic.

-- One row per video: the fold of all its events (services/catalog/projection.py).
CREATE TABLE videos (
    video_id                 uuid PRIMARY KEY,
    status                   text NOT NULL,
    attempt                  integer NOT NULL,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    -- Fields of the newest video-uploaded (metadata_attempt says which attempt's).
    metadata_attempt         integer,
    owner                    text,
    priority                 integer NOT NULL DEFAULT 5,
    profile                  text,
    origin                   text,
    requested_renditions     text[],
    user_metadata            jsonb NOT NULL DEFAULT '{}',
    source_uri               text,
    source_sha256            text,
    source_size_bytes        bigint,
    source_filename          text,
    source_info              jsonb,
    duration_seconds         double precision,
    custom_thumbnail_uri     text,
    -- Facts about the current (newest) attempt; reset when a newer attempt shows up.
    attempt_started_at       timestamptz,
    uploaded_at              timestamptz,
    transcoding_at           timestamptz,
    packaging_at             timestamptz,
    ready_at                 timestamptz,
    failed_at                timestamptz,
    progress                 jsonb NOT NULL DEFAULT '{}',
    expected_renditions      text[],
    rendition_times          jsonb NOT NULL DEFAULT '{}',
    error_stage              text,
    error_code               text,
    error_message            text,
    completed_at             timestamptz,
    latency_ms               bigint,
    -- Cancellation is not attempt-scoped: it applies to attempts started before it.
    cancelled_at             timestamptz,
    cancel_reason            text,
    cancelled_by             text,
    current_package_attempt  integer,
    thumbnails               jsonb,
    thumbnails_attempt       integer,
    title                    text GENERATED ALWAYS AS (user_metadata ->> 'title') STORED,
    search                   tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig,
                    coalesce(user_metadata ->> 'title', '') || ' ' ||
                    coalesce(user_metadata ->> 'description', ''))
    ) STORED
);

-- Keyset pagination: every sort carries video_id as the final tie-breaker.
CREATE INDEX videos_created ON videos (created_at, video_id);
CREATE INDEX videos_completed ON videos (completed_at, video_id);
CREATE INDEX videos_priority ON videos (priority, created_at, video_id);
CREATE INDEX videos_status ON videos (status, created_at);
CREATE INDEX videos_owner ON videos (owner, created_at);
-- jsonb_path_ops serves `@>` containment (tags and meta.<key> filters) with a smaller index.
CREATE INDEX videos_user_metadata ON videos USING gin (user_metadata jsonb_path_ops);
CREATE INDEX videos_search ON videos USING gin (search);

-- One row per (video, attempt, rendition): what rendition-done reported.
CREATE TABLE renditions (
    video_id                  uuid NOT NULL,
    attempt                   integer NOT NULL,
    rendition                 text NOT NULL,
    event_id                  uuid NOT NULL,
    occurred_at               timestamptz NOT NULL,
    media_type                text NOT NULL,
    uri                       text NOT NULL,
    container                 text,
    codecs                    text,
    video_codec               text,
    audio_codec               text,
    width                     integer,
    height                    integer,
    frame_rate                double precision,
    keyframe_interval_seconds double precision,
    bitrate                   bigint,
    size_bytes                bigint,
    sha256                    text,
    duration_seconds          double precision,
    encode_seconds            double precision,
    profile                   text,
    vmaf                      double precision,
    psnr                      double precision,
    ssim                      double precision,
    vmaf_floor                double precision,
    below_floor               boolean,
    frames_scored             integer,
    artifacts                 jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (video_id, attempt, rendition)
);

-- One row per packaged attempt; `current` marks the one playback URLs point at.
CREATE TABLE packages (
    video_id           uuid NOT NULL,
    attempt            integer NOT NULL,
    event_id           uuid NOT NULL,
    occurred_at        timestamptz NOT NULL,
    package_uri        text NOT NULL,
    hls_master_uri     text NOT NULL,
    dash_manifest_uri  text,
    metadata_uri       text,
    duration_seconds   double precision,
    total_bytes        bigint,
    latency_ms         bigint,
    renditions         jsonb NOT NULL DEFAULT '[]',
    current            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (video_id, attempt)
);
CREATE UNIQUE INDEX packages_one_current ON packages (video_id) WHERE current;

-- One row per event about a video, in any topic (including its dead letters).
CREATE TABLE timeline (
    event_id     uuid PRIMARY KEY,
    video_id     uuid NOT NULL,
    occurred_at  timestamptz NOT NULL,
    kind         text NOT NULL,
    topic        text NOT NULL,
    "partition"  integer NOT NULL,
    "offset"     bigint NOT NULL,
    attempt      integer,
    summary      text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}',
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timeline_video ON timeline (video_id, occurred_at, event_id);

-- One row per record on the dead-letter topic (id = the DeadLetter event's event_id).
CREATE TABLE dead_letters (
    id                  uuid PRIMARY KEY,
    video_id            text,
    occurred_at         timestamptz NOT NULL,
    original_topic      text NOT NULL,
    original_partition  integer NOT NULL,
    original_offset     bigint NOT NULL,
    original_timestamp  timestamptz,
    original_key        bytea,
    original_value      bytea,
    original_headers    jsonb NOT NULL DEFAULT '[]',
    consumer_group      text NOT NULL,
    error_code          text NOT NULL,
    error_class         text NOT NULL,
    error_message       text NOT NULL,
    stacktrace          text NOT NULL DEFAULT '',
    attempts            integer NOT NULL DEFAULT 1,
    redrive_count       integer NOT NULL DEFAULT 0,
    dead_letter_partition integer NOT NULL,
    dead_letter_offset  bigint NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_occurred ON dead_letters (occurred_at, id);
CREATE INDEX dead_letters_origin ON dead_letters (original_topic, error_code);

-- Dedupe: an event_id applied once is a no-op forever after (redrives, producer retries).
CREATE TABLE applied_events (
    event_id    uuid PRIMARY KEY,
    topic       text NOT NULL,
    "partition" integer NOT NULL,
    "offset"    bigint NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- The projector's position, written in the same transaction as the read models it moved.
CREATE TABLE consumer_offsets (
    group_id     text NOT NULL,
    topic        text NOT NULL,
    "partition"  integer NOT NULL,
    next_offset  bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, "partition")
);
