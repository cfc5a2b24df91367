"""A dependency being away (S3 or Kafka unreachable, a gateway answering 5xx) is told apart
from a failure of the record itself, also when wrapped in the services' own errors."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError
from botocore.exceptions import ClientError, EndpointConnectionError

from services.shared.outages import is_outage
from services.shared.storage import ObjectMissing, StorageError


def client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "PutObject")


def wrapped(error: BaseException) -> StorageError:
    try:
        raise StorageError("upload of s3://reelflow/x failed") from error
    except StorageError as outer:
        return outer


@pytest.mark.parametrize("error", [
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    wrapped(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")),
    client_error(503, "ServiceUnavailable"),
    wrapped(client_error(500, "InternalError")),
    KafkaConnectionError("Unable to bootstrap"),
    ConnectionRefusedError(111, "Connection refused"),
])
def test_an_unreachable_or_failing_dependency_is_an_outage(error: BaseException) -> None:
    assert is_outage(error)


@pytest.mark.parametrize("error", [
    client_error(404, "NoSuchKey"),
    wrapped(client_error(403, "AccessDenied")),
    ObjectMissing("s3://reelflow/sources/x/original does not exist"),
    ValueError("bad frame rate"),
])
def test_a_failure_of_the_record_itself_is_not_an_outage(error: BaseException) -> None:
    assert not is_outage(error)
