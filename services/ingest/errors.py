"""Why ingest refuses a request: a machine-readable code, a human sentence, an HTTP status."""

from __future__ import annotations


class Rejection(Exception):
    def __init__(self, code: str, detail: str, status: int = 422) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


class Unavailable(Exception):
    """A dependency (Kafka, S3) is down: the client should retry later (503)."""
