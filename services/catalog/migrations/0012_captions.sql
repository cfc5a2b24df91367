-- Captions (issue 12).
-- A package may be published in revisions: revision 2 adds a captions track to revision
-- 1's manifests over the same segments. Each revision is a row; the video's current package
-- is its newest (attempt, revision), and the flag moves to it in one transaction.
ALTER TABLE packages
    ADD COLUMN revision integer NOT NULL DEFAULT 1,
    ADD COLUMN captions_language text;
ALTER TABLE packages DROP CONSTRAINT packages_pkey;
ALTER TABLE packages ADD PRIMARY KEY (video_id, attempt, revision);
ALTER TABLE videos ADD COLUMN current_package_revision integer;
-- A captions rendition's own facts (rendition-done v5).
ALTER TABLE renditions
    ADD COLUMN captions_outcome text,
    ADD COLUMN language text,
    ADD COLUMN language_probability double precision;
UPDATE videos SET current_package_revision = 1 WHERE current_package_attempt IS NOT NULL;

-- The spoken words of each video attempt's captions, read from the transcript.json the
-- captions-done event names (services/catalog/transcripts.py): segments for the transcript
-- API, and the text for the list's full-text search.
CREATE TABLE transcripts (
    video_id              uuid NOT NULL,
    attempt               integer NOT NULL,
    event_id              uuid NOT NULL,
    language              text,
    language_probability  double precision,
    outcome               text NOT NULL,
    text                  text NOT NULL DEFAULT '',
    segments              jsonb NOT NULL DEFAULT '[]',
    indexed_at            timestamptz NOT NULL DEFAULT now(),
    search                tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, text))
                          STORED,
    PRIMARY KEY (video_id, attempt)
);
CREATE INDEX transcripts_search ON transcripts USING gin (search);
-- What the indexer looks for: captions renditions without a transcript row.
CREATE INDEX renditions_captions ON renditions (video_id, attempt) WHERE media_type = 'CAPTIONS';
