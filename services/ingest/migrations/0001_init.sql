-- Ingest's own state, in its own schema: nobody else reads or writes it.

-- Ingest's projection of `video-uploaded` (its own consumer group, plus its own publishes
-- recorded synchronously): what a reprocess needs to repeat a submission, and who owns it.
CREATE TABLE ingest.videos (
    video_id    uuid PRIMARY KEY,
    owner       text,
    -- the highest attempt seen; a reprocess takes attempt + 1 under this row's lock
    attempt     integer NOT NULL,
    -- the latest attempt's submission: source_uri, source_sha256, source_size_bytes,
    -- source_filename, source_info, user_metadata_json, profile, renditions, priority,
    -- custom_thumbnail_uri
    submission  jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key: the first 202 answer per (tenant, key), replayed to retries.
CREATE TABLE ingest.idempotency_keys (
    tenant           text NOT NULL,
    idempotency_key  text NOT NULL,
    -- the request it answered (method, path, body digest); another request is refused
    fingerprint      text,
    status           integer,
    response         jsonb,
    claimed_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    PRIMARY KEY (tenant, idempotency_key)
);
