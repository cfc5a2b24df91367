"""The catalog's HTTP routes, one module-level router per resource: `videos`, `events`
(a video's timeline), `stats`, `dead_letters`, `media` (playback objects from S3), `pages`
(the catalog page and its static files) and `health` (health and metrics)."""
