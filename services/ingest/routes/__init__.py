"""Ingest's HTTP routes, one module-level router per resource: `videos` (upload, cancel,
reprocess), `imports`, `keys` (admin API keys), `health` (health and metrics)."""
