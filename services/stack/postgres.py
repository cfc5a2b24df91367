"""PostgreSQL from Debian's packages: a private cluster under the state directory, run as a
non-root user (the `postgres` system account when we are root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psycopg

from services.stack.kafka import StackError
from services.stack.process import ManagedProcess
from services.stack.settings import StackSettings


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise StackError(f"PostgreSQL's {name} is missing; run ./run setup (apt postgresql)")


class Postgres:
    name = "postgres"

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.data = settings.state_dir / "data" / "postgres"
        self.process = ManagedProcess(self.name, settings.state_dir)
        # PostgreSQL refuses to run as root: use the package's own account then.
        self.user = "postgres" if os.geteuid() == 0 else None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.pg_port}"

    def _own(self, path: Path) -> None:
        if self.user:
            account = pwd.getpwnam(self.user)
            for root, dirs, files in os.walk(path):
                for entry in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.chown(entry, account.pw_uid, account.pw_gid)

    def start(self) -> None:
        cluster = self.data / "cluster"
        if not (cluster / "PG_VERSION").exists():
            shutil.rmtree(cluster, ignore_errors=True)
            cluster.mkdir(parents=True)
            self._own(self.data)
            # Let the postgres account reach a state dir that lives under root's checkout.
            for parent in cluster.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
            subprocess.run([_bin("initdb"), "-D", str(cluster), "-U", "postgres",
                            "--auth=trust", "-E", "UTF8", "--no-instructions"],
                           check=True, capture_output=True, cwd=self.data, user=self.user,
                           group=self.user, extra_groups=[] if self.user else None)
        (self.data / "socket").mkdir(exist_ok=True)
        self._own(self.data)
        self.process.start([
            _bin("postgres"), "-D", str(cluster), "-p", str(self.settings.pg_port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.data}/socket",
            "-c", "max_connections=200", "-c", "shared_buffers=128MB",
            # A local dev/test stack: durability of the *catalog* comes from replaying Kafka.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ], cwd=self.data, user=self.user)

    def healthy(self) -> bool:
        if self.process.pid is None:
            return False
        try:
            with psycopg.connect(host="127.0.0.1", port=self.settings.pg_port, user="postgres",
                                 dbname="postgres", connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def create_database(self) -> None:
        """The `reelflow` role and database named by REELFLOW_PG_DSN."""
        info = dict(p.split("=", 1) for p in self.settings.common.pg_dsn.split() if "=" in p)
        role, dbname = info.get("user", "reelflow"), info.get("dbname", "reelflow")
        with psycopg.connect(host="127.0.0.1", port=self.settings.pg_port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f'CREATE ROLE "{role}" LOGIN')
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (dbname,)).fetchone():
                conn.execute(f'CREATE DATABASE "{dbname}" OWNER "{role}"')

    def stop(self) -> None:
        # SIGTERM is PostgreSQL's "smart" shutdown; SIGINT ("fast") does not wait for clients.
        import signal

        self.process.signal(signal.SIGINT)
        self.process.stop(self.settings.stop_grace_s)
