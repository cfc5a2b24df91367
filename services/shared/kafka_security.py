"""How every Kafka client authenticates: `client_options()`, the one place that turns the
settings (`REELFLOW_KAFKA_SECURITY_PROTOCOL`, `_SASL_MECHANISM`, `_USERNAME`, `_PASSWORD`,
`_SSL_CAFILE`, `_SSL_CERTFILE`, `_SSL_KEYFILE`) into aiokafka's keyword arguments.

A process is one principal: the local stack starts each service with its own username
and password. Code that must act as another principal for a moment (the console's
operator actions inside the catalog) wraps the clients it makes in `acting_as()`.

The local stack keeps every principal's password in `<state dir>/kafka-credentials.json`
(mode 600); `use_stack_credentials()` lets a command run by hand against that stack (an
operator tool, a service started outside the stack) pick its principal's entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context

from services.shared.settings import CommonSettings

CREDENTIALS_FILE = "kafka-credentials.json"


class KafkaCredentialsMissing(RuntimeError):
    """SASL is asked for but no username is set."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


_acting_as: ContextVar[Credentials | None] = ContextVar("kafka_acting_as", default=None)


def client_options(common: CommonSettings | None = None) -> dict[str, Any]:
    """aiokafka's security keyword arguments for this process (or `acting_as`'s)."""
    common = common or CommonSettings()
    who = _acting_as.get()
    if who is None and common.kafka_username:
        who = Credentials(common.kafka_username, common.kafka_password)
    protocol = common.kafka_security_protocol or ("SASL_PLAINTEXT" if who else "PLAINTEXT")
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        if who is None:
            raise KafkaCredentialsMissing(
                f"Kafka security protocol {protocol} needs REELFLOW_KAFKA_USERNAME and "
                "REELFLOW_KAFKA_PASSWORD")
        options.update(sasl_mechanism=common.kafka_sasl_mechanism,
                       sasl_plain_username=who.username, sasl_plain_password=who.password)
    if protocol in ("SASL_SSL", "SSL"):
        options["ssl_context"] = tls_context(common)
    return options


def java_client_properties(common: CommonSettings | None = None) -> dict[str, str]:
    """The same as a Java client's properties (Kafka's own tools' `--command-config`)."""
    options = client_options(common)
    common = common or CommonSettings()
    found = {"security.protocol": options["security_protocol"]}
    if "sasl_mechanism" in options:
        module = ("plain.PlainLoginModule" if options["sasl_mechanism"] == "PLAIN"
                  else "scram.ScramLoginModule")
        found["sasl.mechanism"] = options["sasl_mechanism"]
        found["sasl.jaas.config"] = (
            f"org.apache.kafka.common.security.{module} required "
            f'username="{options["sasl_plain_username"]}" '
            f'password="{options["sasl_plain_password"]}";')
    if "ssl_context" in options and common.kafka_ssl_cafile:
        found.update({"ssl.truststore.type": "PEM",
                      "ssl.truststore.location": common.kafka_ssl_cafile})
    return found


def tls_context(common: CommonSettings) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name (against `kafka_ssl_cafile`, or the
    system's CAs), and presents a client certificate when one is configured."""
    return create_ssl_context(cafile=common.kafka_ssl_cafile or None,
                              certfile=common.kafka_ssl_certfile or None,
                              keyfile=common.kafka_ssl_keyfile or None)


@contextlib.contextmanager
def acting_as(who: Credentials) -> Iterator[None]:
    """Clients made inside this block (in this task and the tasks it starts) connect as
    `who` instead of the process's own principal."""
    token = _acting_as.set(who)
    try:
        yield
    finally:
        _acting_as.reset(token)


def credentials_file(state_dir: Path) -> Path:
    return state_dir.resolve() / CREDENTIALS_FILE


def stack_credentials(state_dir: Path) -> dict[str, str]:
    """principal -> password, as the local stack wrote them (empty without a stack)."""
    try:
        found = json.loads(credentials_file(state_dir).read_text())
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in found.items()}


def stack_principal(state_dir: Path, principal: str) -> Credentials:
    """`principal`'s credentials on the local stack of `state_dir`."""
    return Credentials(principal, stack_credentials(state_dir)[principal])


def use_stack_credentials(principal: str, common: CommonSettings | None = None) -> bool:
    """Take `principal`'s password from the local stack's credentials file into this
    process's settings, unless a username is set already. True when it did."""
    common = common or CommonSettings()
    if common.kafka_username:
        return False
    password = stack_credentials(common.state_dir).get(principal)
    if password is None:
        return False
    os.environ["REELFLOW_KAFKA_USERNAME"] = principal
    os.environ["REELFLOW_KAFKA_PASSWORD"] = password
    return True
