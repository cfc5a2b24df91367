"""Why a transcode attempt gives up for good. Each maps to a `transcode-failed` code."""

from __future__ import annotations

from services.shared.consume import PermanentFailure


class SourceMissing(PermanentFailure):
    def __init__(self, message: str) -> None:
        super().__init__("source_missing", message)


class SourceChecksumMismatch(PermanentFailure):
    def __init__(self, message: str) -> None:
        super().__init__("checksum_mismatch", message)


class UndecodableSource(PermanentFailure):
    def __init__(self, message: str) -> None:
        super().__init__("undecodable_source", message)


class SourceRefused(PermanentFailure):
    """The source breaks a content rule (`services.shared.media.rules`): the video fails
    with the rule's own code, the one ingest refuses an upload with."""


class UnknownProfile(PermanentFailure):
    def __init__(self, message: str) -> None:
        super().__init__("unknown_profile", message)


class EncodeFailed(PermanentFailure):
    def __init__(self, message: str) -> None:
        super().__init__("encode_failed", message)
