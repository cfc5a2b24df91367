"""The one way every Kafka client gets its security settings."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import certifi
import pytest

from services.figures.app import faust_credentials
from services.shared.kafka_security import (
    CREDENTIALS_FILE,
    Credentials,
    KafkaCredentialsMissing,
    acting_as,
    client_options,
    java_client_properties,
    use_stack_credentials,
)
from services.shared.settings import CommonSettings


def test_without_a_username_a_client_speaks_plaintext() -> None:
    assert client_options(CommonSettings(kafka_username="")) == {
        "security_protocol": "PLAINTEXT"}


def test_a_username_means_sasl_scram_sha_512() -> None:
    options = client_options(CommonSettings(kafka_username="transcode", kafka_password="pw"))
    assert options == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "transcode", "sasl_plain_password": "pw"}


def test_sasl_without_a_username_is_refused_before_connecting() -> None:
    with pytest.raises(KafkaCredentialsMissing, match="REELFLOW_KAFKA_USERNAME"):
        client_options(CommonSettings(kafka_security_protocol="SASL_SSL", kafka_username=""))


def test_sasl_ssl_verifies_the_broker_against_the_configured_ca() -> None:
    common = CommonSettings(kafka_security_protocol="SASL_SSL", kafka_username="upstream",
                            kafka_password="pw", kafka_ssl_cafile=certifi.where())
    options = client_options(common)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_plain_username"] == "upstream"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) > 50  # certifi's bundle, loaded
    assert java_client_properties(common)["ssl.truststore.location"] == certifi.where()


def test_a_missing_ca_file_fails_at_once() -> None:
    with pytest.raises(FileNotFoundError):
        client_options(CommonSettings(kafka_security_protocol="SSL",
                                      kafka_ssl_cafile="/nonexistent/ca.pem"))


def test_acting_as_overrides_the_process_principal_inside_the_block_only() -> None:
    common = CommonSettings(kafka_username="catalog", kafka_password="c")
    with acting_as(Credentials("operations", "o")):
        assert client_options(common)["sasl_plain_username"] == "operations"
    assert client_options(common)["sasl_plain_username"] == "catalog"


def test_java_tools_get_the_same_principal() -> None:
    found = java_client_properties(CommonSettings(kafka_username="admin", kafka_password="a"))
    assert found == {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule "
                            'required username="admin" password="a";'}


def test_faust_gets_the_same_credentials() -> None:
    sasl = faust_credentials(client_options(CommonSettings(kafka_username="figures",
                                                           kafka_password="f")))
    assert sasl is not None
    assert (sasl.username, sasl.password, sasl.mechanism.value, sasl.protocol.value) == (
        "figures", "f", "SCRAM-SHA-512", "SASL_PLAINTEXT")
    assert faust_credentials(client_options(CommonSettings(kafka_username=""))) is None


def test_a_command_run_by_hand_takes_its_principal_from_the_stack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REELFLOW_KAFKA_USERNAME", raising=False)
    monkeypatch.delenv("REELFLOW_KAFKA_PASSWORD", raising=False)
    monkeypatch.setenv("REELFLOW_STATE_DIR", str(tmp_path))
    assert not use_stack_credentials("operations")  # no stack: nothing changes
    (tmp_path / CREDENTIALS_FILE).write_text(json.dumps({"operations": "secret"}))
    assert use_stack_credentials("operations")
    assert client_options()["sasl_plain_username"] == "operations"
    assert client_options()["sasl_plain_password"] == "secret"
    # A username already set wins over the file.
    monkeypatch.setenv("REELFLOW_KAFKA_USERNAME", "someone")
    assert not use_stack_credentials("operations")
