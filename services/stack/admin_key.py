"""The local stack's admin API key: `REELFLOW_ADMIN_KEY` when set, otherwise one generated
once into the state directory (`<state>/admin-key`, mode 600) and handed to the services
the stack starts, so `./run demo` and `reelflow submit` work out of the box. The
key-encryption key of content keys is made the same way (`REELFLOW_KEK`, `<state>/kek`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from services.shared.access import new_clear_key
from services.shared.envelope import new_kek
from services.shared.settings import CommonSettings

FILE_NAME = "admin-key"
KEK_FILE = "kek"


def key_file(common: CommonSettings) -> Path:
    return common.state_dir.resolve() / FILE_NAME


def ensure_admin_key(common: CommonSettings) -> str:
    if common.admin_key:
        return common.admin_key
    return _ensure_secret(key_file(common), new_clear_key)


def ensure_kek(common: CommonSettings) -> str:
    if common.kek:
        return common.kek
    return _ensure_secret(common.state_dir.resolve() / KEK_FILE, new_kek)


def _ensure_secret(path: Path, make: Callable[[], str]) -> str:
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = make()
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
