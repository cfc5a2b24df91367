"""The local stack's admin API key: `REELFLOW_ADMIN_KEY` when set, otherwise one generated
once into the state directory (`<state>/admin-key`, mode 600) and handed to the services
the stack starts, so `./run demo` and `reelflow submit` work out of the box."""

from __future__ import annotations

import os
from pathlib import Path

from services.shared.access import new_clear_key
from services.shared.settings import CommonSettings

FILE_NAME = "admin-key"


def key_file(common: CommonSettings) -> Path:
    return common.state_dir.resolve() / FILE_NAME


def ensure_admin_key(common: CommonSettings) -> str:
    if common.admin_key:
        return common.admin_key
    path = key_file(common)
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_clear_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: that one is the key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def client_key(common: CommonSettings) -> str | None:
    """The key a local client sends: REELFLOW_API_KEY, else the admin key (env or file)."""
    if os.environ.get("REELFLOW_API_KEY"):
        return os.environ["REELFLOW_API_KEY"]
    if common.admin_key:
        return common.admin_key
    path = key_file(common)
    return path.read_text().strip() if path.is_file() else None
