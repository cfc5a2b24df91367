"""The local stack's Kafka principals: passwords made once (mode 600), handed to each
service process as its own principal."""

from __future__ import annotations

import stat
from pathlib import Path

from services.shared.kafka_security import credentials_file, stack_credentials
from services.shared.settings import CommonSettings
from services.stack import StackSettings
from services.stack.apps import services
from services.stack.kafka_principals import ScramUsers, ensure_passwords


def test_every_principal_gets_a_password_once_in_a_file_only_its_owner_reads(
        tmp_path: Path) -> None:
    first = ensure_passwords(tmp_path)
    assert {"admin", "upstream", "operations", "ingest", "transcode", "packager", "catalog",
            "figures"} <= set(first)
    assert len(set(first.values())) == len(first)  # one password each
    assert stat.S_IMODE(credentials_file(tmp_path).stat().st_mode) == 0o600
    assert ensure_passwords(tmp_path) == first == stack_credentials(tmp_path)


def test_a_principal_added_later_keeps_the_others_passwords(tmp_path: Path) -> None:
    first = ensure_passwords(tmp_path)
    kept = {k: v for k, v in first.items() if k != "upstream"}
    credentials_file(tmp_path).write_text(__import__("json").dumps(kept))
    second = ensure_passwords(tmp_path)
    assert {k: second[k] for k in kept} == kept and second["upstream"] != first["upstream"]


def test_scram_users_record_who_has_credentials(tmp_path: Path) -> None:
    users = ScramUsers(tmp_path)
    assert users.known() == set()
    users.record(["admin", "ingest"])
    users.record(["ingest", "captions"])
    assert users.known() == {"admin", "ingest", "captions"}


def test_each_service_process_acts_as_the_principal_of_its_command(tmp_path: Path) -> None:
    settings = StackSettings(common=CommonSettings(state_dir=tmp_path), transcode_workers=2)
    passwords = ensure_passwords(tmp_path)
    by_name = {s.name: s for s in services(settings)}
    for name, principal in (("ingest", "ingest"), ("transcode-2", "transcode"),
                            ("figures", "figures")):
        env = by_name[name].kafka_env()
        assert env["REELFLOW_KAFKA_USERNAME"] == principal
        assert env["REELFLOW_KAFKA_PASSWORD"] == passwords[principal]
        assert env["REELFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert "REELFLOW_CATALOG_CONSOLE_KAFKA_USERNAME" not in env
    catalog = by_name["catalog"].kafka_env()
    assert catalog["REELFLOW_KAFKA_USERNAME"] == "catalog"
    assert catalog["REELFLOW_CATALOG_CONSOLE_KAFKA_USERNAME"] == "operations"
    assert catalog["REELFLOW_CATALOG_CONSOLE_KAFKA_PASSWORD"] == passwords["operations"]
