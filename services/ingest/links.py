"""Where a caller reads about a video after ingest answered: the catalog's URLs, built in
this one place for every `202` (upload, import, cancel, reprocess)."""

from __future__ import annotations


def video_links(catalog_url: str, video_id: str) -> dict[str, str]:
    return {"self": f"{catalog_url}/api/v1/videos/{video_id}",
            "events": f"{catalog_url}/api/v1/videos/{video_id}/events"}
