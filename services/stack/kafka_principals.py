"""The local Kafka's principals: SCRAM credentials and ACLs, from schemas/principals.py.

- Passwords: one random password per principal (the registry's services, `upstream`,
  `operations`, and the super user `admin`), kept in `<state dir>/kafka-credentials.json`
  (mode 600). A principal keeps its password for the life of the state directory.
- SCRAM credentials: given to `kafka-storage format --add-scram` when the log is made;
  a principal that appears later (a service added to the registry) is added to the running
  broker with `kafka-configs` as `admin` (the controller quorum cannot take that call).
  `data/kafka/scram-users` records who has credentials, so a restart adds nobody twice.
- ACLs: the broker's set is made equal to the registry's: missing ones are created, ones
  the registry no longer implies are deleted (the super user has none).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request

from schemas import STACK_TOPICS
from schemas.principals import ADMIN, Acl, acls, principals
from services.shared.kafka_security import Credentials, credentials_file

MECHANISM = "SCRAM-SHA-512"

# Kafka's wire codes (org.apache.kafka.common.resource / acl).
_RESOURCE = {"topic": 2, "group": 3}
_RESOURCE_NAME = {v: k for k, v in _RESOURCE.items()}
_OPERATION = {"READ": 3, "WRITE": 4, "DESCRIBE": 8}
_OPERATION_NAME = {v: k for k, v in _OPERATION.items()}
_ANY, _LITERAL, _ALLOW = 1, 3, 3
#: An ACL binding as the wire has it: resource type, name, pattern type, principal, host,
#: operation, permission.
_Binding = tuple[int, str, int, str, str, int, int]


def wanted_principals() -> tuple[str, ...]:
    return (ADMIN, *principals(STACK_TOPICS))


def ensure_passwords(state_dir: Path) -> dict[str, str]:
    """principal -> password for every principal, generating the missing ones."""
    path = credentials_file(state_dir)
    known: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    missing = [p for p in wanted_principals() if p not in known]
    if missing:
        known.update({p: secrets.token_urlsafe(24) for p in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(known, fh, indent=1, sort_keys=True)
        os.replace(temporary, path)
    return known


def admin(passwords: dict[str, str]) -> Credentials:
    return Credentials(ADMIN, passwords[ADMIN])


def scram_argument(principal: str, password: str) -> str:
    """One `--add-scram` / `--add-config` value (passwords are URL-safe: no quoting)."""
    return f"{MECHANISM}=[name={principal},password={password}]"


def scram_config(password: str) -> str:
    """The same for `kafka-configs --add-config` (4096 is SCRAM-SHA-512's minimum)."""
    return f"{MECHANISM}=[iterations=4096,password={password}]"


class ScramUsers:
    """Who has SCRAM credentials in this broker's metadata (a file beside its log)."""

    def __init__(self, data: Path) -> None:
        self.path = data / "scram-users"

    def known(self) -> set[str]:
        return set(self.path.read_text().split()) if self.path.is_file() else set()

    def record(self, names: Iterable[str]) -> None:
        self.path.write_text("".join(f"{n}\n" for n in sorted(self.known() | set(names))))


# --- ACLs over the admin protocol (aiokafka has the messages but no client methods) ------

class _CreateAcls(Request[CreateAclsRequest_v1]):
    API_KEY = 30

    def __init__(self, rules: list[Acl]) -> None:
        self.rules = rules

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class([(_RESOURCE[r.resource], r.name, _LITERAL,
                                      f"User:{r.principal}", "*", _OPERATION[r.operation],
                                      _ALLOW) for r in self.rules])


class _DescribeAllAcls(Request[DescribeAclsRequest_v1]):
    API_KEY = 29

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]
              ) -> DescribeAclsRequest_v1:
        return request_struct_class(1, None, _ANY, None, None, 1, 1)  # any of everything


class _DeleteAcls(Request[DeleteAclsRequest_v1]):
    API_KEY = 31

    def __init__(self, rules: list[_Binding]) -> None:
        self.rules = rules

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(self.rules)


def _check(errors: Iterable[tuple[int, str | None]], what: str) -> None:
    for code, message in errors:
        if code:
            raise for_code(code)(f"{what}: {message}")


async def sync_acls(admin_client: AIOKafkaAdminClient, timeout_s: float = 30.0
                    ) -> tuple[int, int]:
    """Make the broker's ACLs the registry's; returns (created, deleted) once the broker's
    authorizer enforces exactly them (it applies the controller's records a moment after
    the call returns, and a service started before that would be refused)."""
    wanted = acls(STACK_TOPICS)
    present, stray = await _described(admin_client, wanted)
    missing = sorted(wanted - present)
    if missing:
        created: Any = await admin_client._send_request(_CreateAcls(missing))
        _check(created.creation_responses, "create ACLs")
    if stray:
        deleted: Any = await admin_client._send_request(_DeleteAcls(stray))
        _check([(r[0], r[1]) for r in deleted.filter_responses], "delete ACLs")
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (missing or stray) and await _described(admin_client, wanted) != (wanted, []):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"the broker did not apply its ACLs in {timeout_s:.0f} s")
        await asyncio.sleep(0.1)
    return len(missing), len(stray)



async def _described(admin_client: AIOKafkaAdminClient, wanted: frozenset[Acl]
                     ) -> tuple[set[Acl], list[_Binding]]:
    """(the wanted ACLs the broker has, every other binding it has)."""
    described: Any = await admin_client._send_request(_DescribeAllAcls())
    _check([(described.error_code, described.error_message)], "describe ACLs")
    present: set[Acl] = set()
    stray: list[_Binding] = []
    for resource_type, name, pattern, entries in described.resources:
        for principal, host, operation, permission in entries:
            rule = _as_acl(resource_type, name, pattern, principal, host, operation, permission)
            if rule in wanted:
                present.add(rule)
            else:
                stray.append((resource_type, name, pattern, principal, host, operation,
                              permission))
    return present, stray


def _as_acl(resource_type: int, name: str, pattern: int, principal: str, host: str,
            operation: int, permission: int) -> Acl | None:
    kind, op = _RESOURCE_NAME.get(resource_type), _OPERATION_NAME.get(operation)
    if (kind is None or op is None or pattern != _LITERAL or host != "*"
            or permission != _ALLOW or not principal.startswith("User:")):
        return None
    return Acl(principal.removeprefix("User:"), kind, name, op)  # type: ignore[arg-type]
