-- Room on every page for the next version of a row (issue 18). The projector rewrites a
-- video's row once per batch that touches it, and most of those writes (progress,
-- renditions) change no indexed column: with free space on the page Postgres keeps them
-- HOT, writing no entry in any of the table's nine indexes (two of them GIN). At the default
-- fillfactor of 100 every rewrite went to another page and into every index: measured on
-- the projection benchmark, 23 of the 88 Postgres CPU-µs per event, 7 with this setting.
-- New pages follow it; `catalog rebuild` (new tables) or VACUUM FULL applies it to old rows.
ALTER TABLE videos SET (fillfactor = 50);
