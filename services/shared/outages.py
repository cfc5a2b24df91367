"""Whether a failure is a dependency being away (the S3 gateway or a Kafka broker
restarting, a connection refused) rather than something wrong with the record. The consume
loop waits such outages out without spending the record's attempts, so a restart of S3 or
Kafka fails no video; a record that fails for any other reason still gets its few tries.
"""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

_OUTAGES = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError,
            ReadTimeoutError, KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError,
            ConnectionRefusedError, ConnectionResetError)


def is_outage(error: BaseException) -> bool:
    """True when `error`, or an error it was raised from, says a dependency is unreachable
    or answered 5xx (a gateway starting up, or shutting down)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGES):
            return True
        if isinstance(current, ClientError):
            status = current.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                return True
        current = current.__cause__ or current.__context__
    return False
