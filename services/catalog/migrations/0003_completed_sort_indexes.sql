-- Keyset pagination by completed_at. The listing sorts unfinished videos last in both
-- directions with coalesce(completed_at, 'infinity') ascending and
-- coalesce(completed_at, '-infinity') descending (services/catalog/queries.py), which the
-- plain (completed_at, video_id) index cannot serve: every such page sorted the whole
-- table (~150 ms at 100,000 videos in benchmarks/api.py). One expression index per direction.
CREATE INDEX videos_completed_asc
    ON videos ((coalesce(completed_at, 'infinity'::timestamptz)), video_id);
CREATE INDEX videos_completed_desc
    ON videos ((coalesce(completed_at, '-infinity'::timestamptz)), video_id);
