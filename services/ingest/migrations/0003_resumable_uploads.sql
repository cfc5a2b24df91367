-- tus resumable uploads (services/ingest/resumable.py): every byte acknowledged to a
-- client is durable here or in S3, so any ingest process can continue an upload.
CREATE TABLE ingest.resumable_uploads (
    upload_id     text PRIMARY KEY,
    owner         text NOT NULL,
    -- created through a one-time direct-upload URL: the upload id alone authorises it
    direct        boolean NOT NULL DEFAULT false,
    video_id      uuid NOT NULL,
    -- the S3 multipart upload of sources/{video_id}/original
    s3_upload_id  text NOT NULL,
    length        bigint NOT NULL CHECK (length > 0),
    -- bytes acknowledged: every stored part is exactly the part size, plus the tail
    "offset"      bigint NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND "offset" <= length),
    -- [{"PartNumber", "ETag"}] of the stored parts, in order
    parts         jsonb NOT NULL DEFAULT '[]',
    -- the bytes after the last full part (shorter than one part)
    tail          bytea NOT NULL DEFAULT '',
    -- the raw Upload-Metadata header, answered back on HEAD
    metadata      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    -- the submission's 202 answer once the upload completed and was accepted
    answer        jsonb
);
CREATE INDEX resumable_uploads_expiry ON ingest.resumable_uploads (expires_at);

-- One-time direct-upload URLs: used_at is set by the one creation the URL allows.
CREATE TABLE ingest.direct_uploads (
    direct_id   text PRIMARY KEY,
    owner       text NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
