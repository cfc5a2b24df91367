-- The dispatcher's own state, in its own schema: nobody else reads or writes it.

-- One row per webhook to send to one endpoint: its body, where it stands, and when it is
-- next due. This is the durable retry state (a dispatcher killed with retries pending
-- makes them after its restart) and, with `attempts`, the delivery log.
CREATE TABLE webhooks.deliveries (
    delivery_id      uuid PRIMARY KEY,
    seq              bigserial UNIQUE,
    endpoint_id      uuid NOT NULL,
    message_id       text NOT NULL,
    event_type       text NOT NULL,
    -- deliveries of one video to one endpoint go out in source order ('' for tests)
    video_id         text NOT NULL,
    -- live (from the pipeline), replay, test
    origin           text NOT NULL,
    payload          text NOT NULL,
    -- the source event's time: the order key and where the delivery latency starts
    source_at        timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- pending (due at next_attempt_at), sending (leased), delivered, failed
    state            text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_status      integer,
    last_error       text,
    finished_at      timestamptz
);
-- A live webhook is enqueued once per endpoint, however often its source event is read.
CREATE UNIQUE INDEX deliveries_live_once ON webhooks.deliveries (endpoint_id, message_id)
    WHERE origin = 'live';
CREATE INDEX deliveries_due ON webhooks.deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_open ON webhooks.deliveries (endpoint_id, video_id, source_at, seq)
    WHERE state IN ('pending', 'sending');
CREATE INDEX deliveries_log ON webhooks.deliveries (endpoint_id, seq DESC);

CREATE TABLE webhooks.attempts (
    delivery_id  uuid NOT NULL REFERENCES webhooks.deliveries ON DELETE CASCADE,
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    status       integer,
    error        text,
    latency_ms   double precision NOT NULL,
    -- the first bytes of the answer
    response     text NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, attempt)
);

-- The first progress event of each stage step: the one that is that step's webhook.
CREATE TABLE webhooks.progress_steps (
    video_id    text NOT NULL,
    attempt     integer NOT NULL,
    stage       text NOT NULL,
    step        integer NOT NULL,
    message_id  text NOT NULL,
    PRIMARY KEY (video_id, attempt, stage, step)
);

-- Every webhook's body as first sent, so a replay sends the same bytes.
CREATE TABLE webhooks.messages (
    message_id  text PRIMARY KEY,
    payload     text NOT NULL
);

-- Since when an endpoint has failed without a success in between (null: it is fine).
CREATE TABLE webhooks.endpoint_health (
    endpoint_id    uuid PRIMARY KEY,
    failing_since  timestamptz
);
