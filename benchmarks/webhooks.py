"""Webhook deliveries per second to a local receiver, and the latency from the source
event to the delivery: `python -m benchmarks.webhooks [--events 2000] [--rate R]`.

Starts its own infrastructure under `.reelflow-bench-webhooks/` (ports no dev stack, test
slot or other benchmark uses), the catalog (every payload's `data` is its view) and the
webhooks service, as the stack runs them. One endpoint (the admin's, hearing every video)
points at a receiver in this process that answers 204 and notes when each webhook arrived.

1. burst: `--events` synthetic `video-uploaded` events of as many videos, published at
   once: deliveries per second, end to end (first publish to last delivery);
2. paced: the same number again at `--rate` per second (default: half the burst's rate):
   p50 and p99 from the event's `occurred_at` to its arrival, at that rate;
3. the limit side by side: a bare httpx client POSTing the same signed bodies to the same
   receiver with the same concurrency (what the receiver and loopback HTTP allow).

Figures are printed with their ratios, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".reelflow-bench-webhooks"
#: Kafka/Postgres/HTTP on 268xx; SeaweedFS on 2264x (+10000 stays below the ephemeral range).
BENCH_ENV = {
    "REELFLOW_STATE_DIR": str(STATE),
    "REELFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:26892",
    "REELFLOW_STACK_KAFKA_CONTROLLER_PORT": "26893",
    "REELFLOW_PG_DSN": "host=127.0.0.1 port=26832 dbname=reelflow user=reelflow",
    "REELFLOW_S3_ENDPOINT": "http://127.0.0.1:22640",
    "REELFLOW_STACK_WEED_MASTER_PORT": "22641",
    "REELFLOW_STACK_WEED_VOLUME_PORT": "22642",
    "REELFLOW_STACK_WEED_FILER_PORT": "22643",
    "REELFLOW_CATALOG_PORT": "26800",
    "REELFLOW_INGEST_PORT": "26801",
    "REELFLOW_WEBHOOKS_PORT": "26805",
    "REELFLOW_WEBHOOKS_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
    "REELFLOW_LOG_LEVEL": "WARNING",
    "REELFLOW_ADMIN_KEY": "reelflow-bench-admin",
}


class Arrivals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: dict[str, float] = {}
        self.created: dict[str, float] = {}

    def count(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for k in self.at if k.startswith(prefix))


class Receiver(threading.Thread):
    """An ASGI receiver on uvicorn (httptools, as the services serve), on a thread and loop
    of its own, answering 204 to every POST and noting when each webhook arrived."""

    def __init__(self, arrivals: Arrivals) -> None:
        super().__init__(daemon=True)
        import socket

        self.arrivals = arrivals
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server: object = None

    async def app(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()  # type: ignore[operator]
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        now = time.time()
        payload = json.loads(b"".join(chunks))
        data = payload.get("data") or {}
        title = (data.get("title") or "") if isinstance(data, dict) else ""
        key = f"{title}:{payload['id']}"
        with self.arrivals.lock:
            self.arrivals.at.setdefault(key, now)
            self.arrivals.created[key] = datetime.fromisoformat(
                payload["created_at"]).timestamp()
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    def run(self) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, http="httptools", loop="asyncio", log_config=None,
                                interface="asgi3",
                                access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        self.server = server
        asyncio.run(server.serve(sockets=[self.sock]))

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True  # type: ignore[attr-defined]


async def publish(events: int, rate: float | None, label: str) -> float:
    from schemas import ALL_TOPICS, VIDEO_UPLOADED
    from schemas.events import VideoUploaded
    from services.shared.codec import EventCodec
    from services.shared.producer import EventProducer
    from services.shared.settings import CommonSettings

    producer = EventProducer(CommonSettings().kafka_bootstrap, EventCodec(ALL_TOPICS), "bench")
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for n in range(events):
            if rate:
                delay = started + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            event = VideoUploaded(
                event_id=str(uuid.uuid4()), video_id=str(uuid.uuid4()),
                occurred_at=datetime.now(UTC), owner="bench",
                source_uri="s3://reelflow/sources/bench/original",
                user_metadata_json=json.dumps({"title": label}))
            pending.append(asyncio.create_task(producer.publish(VIDEO_UPLOADED, event)))
            if len(pending) >= 500:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.time() - (time.perf_counter() - started)


def wait_for(arrivals: Arrivals, label: str, events: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while arrivals.count(label + ":") < events:
        if time.monotonic() > deadline:
            print(f"  only {arrivals.count(label + ':')} of {events} arrived in {timeout_s} s")
            return
        time.sleep(0.1)


def latencies(arrivals: Arrivals, label: str) -> list[float]:
    with arrivals.lock:
        return sorted(arrivals.at[k] - arrivals.created[k] for k in arrivals.at
                      if k.startswith(label + ":"))


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def bare_client(url: str, bodies: list[str], concurrency: int) -> float:
    import httpx

    from services.webhooks import signing

    secret = signing.new_secret()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=10) as client:
        async def one(body: str) -> None:
            async with gate:
                moment = datetime.now(UTC)
                await client.post(url, content=body.encode(), headers={
                    **signing.headers("msg_bare", body, [secret], moment),
                    "content-type": "application/json"})
        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return len(bodies) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=None,
                        help="paced phase, events per second (default: half the burst's)")
    args = parser.parse_args()
    os.environ.update(BENCH_ENV)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    import httpx

    from services.stack import LocalStack, StackSettings
    from services.webhooks.settings import WebhooksSettings

    arrivals = Arrivals()
    server = Receiver(arrivals)
    server.start()
    url = f"http://127.0.0.1:{server.port}/hook"
    stack = LocalStack(StackSettings())
    apps = [stack.component("catalog"), stack.component("webhooks")]
    admin = {"X-API-Key": BENCH_ENV["REELFLOW_ADMIN_KEY"]}
    try:
        t0 = time.perf_counter()
        stack.up(infra_only=True)
        # The benchmark publishes as `upstream` (the principal that may write
        # video-uploaded); the services get their own principals from the stack.
        from services.shared.kafka_security import use_stack_credentials

        use_stack_credentials("upstream")
        for app in apps:
            app.start()
        for app in apps:
            deadline = time.monotonic() + 180
            while not app.healthy():
                if time.monotonic() > deadline or app.process.pid is None:
                    raise SystemExit(f"{app.name} did not start; see {app.process.log_file}")
                time.sleep(0.5)
        print(f"infrastructure, catalog and webhooks up in {time.perf_counter() - t0:.1f} s")
        hooks = f"http://127.0.0.1:{BENCH_ENV['REELFLOW_WEBHOOKS_PORT']}/api/v1/webhooks"
        # An earlier run's endpoints (the stack's state is kept) would hear this run's
        # events too, at receivers long gone: only this run's endpoint listens.
        for old in httpx.get(hooks, headers=admin, timeout=30).json()["items"]:
            httpx.delete(f"{hooks}/{old['id']}", headers=admin, timeout=30)
        created = httpx.post(hooks, json={"url": url, "event_types": ["video.uploaded"]},
                             headers=admin, timeout=30)
        assert created.status_code == 201, created.text
        settings = WebhooksSettings()
        print(f"endpoint {created.json()['id']} -> {url}; per-endpoint concurrency "
              f"{settings.endpoint_concurrency}, settle {settings.settle_s} s, catalog wait "
              f"up to {settings.catalog_wait_s} s; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")

        from benchmarks.proctime import tree_cpu_seconds

        def cpu() -> tuple[float, float]:
            return (tree_cpu_seconds(apps[1].process.pid),
                    tree_cpu_seconds(apps[0].process.pid))

        burst = f"burst-{uuid.uuid4().hex[:6]}"
        cpu_before = cpu()
        began = asyncio.run(publish(args.events, None, burst))
        wait_for(arrivals, burst, args.events, 600)
        with arrivals.lock:
            last = max(v for k, v in arrivals.at.items() if k.startswith(burst + ":"))
        rate = args.events / (last - began)
        lat = latencies(arrivals, burst)
        hooks_cpu, catalog_cpu = (b - a for a, b in zip(cpu_before, cpu(), strict=True))
        print(f"1. burst: {args.events} events published at once, delivered in "
              f"{last - began:.1f} s = {rate:.0f} deliveries/s; latency p50 "
              f"{quantile(lat, .5):.2f} s, p99 {quantile(lat, .99):.2f} s (queueing included); "
              f"CPU per delivery: webhooks {hooks_cpu / args.events * 1000:.1f} ms, catalog "
              f"{catalog_cpu / args.events * 1000:.1f} ms (projection and the view's GET)")

        paced_rate = args.rate or max(1.0, rate / 2)
        paced = f"paced-{uuid.uuid4().hex[:6]}"
        asyncio.run(publish(args.events, paced_rate, paced))
        wait_for(arrivals, paced, args.events, 600)
        lat = latencies(arrivals, paced)
        print(f"2. paced at {paced_rate:.0f} events/s: source event -> delivery p50 "
              f"{quantile(lat, .5) * 1000:.0f} ms, p99 {quantile(lat, .99) * 1000:.0f} ms, "
              f"mean {statistics.fmean(lat) * 1000:.0f} ms (settle {settings.settle_s} s "
              f"included)")

        body = json.dumps({"id": "msg_bare", "type": "video.uploaded",
                           "created_at": datetime.now(UTC).isoformat(), "data": {"x": "y" * 900}})
        bare = asyncio.run(bare_client(url, [body] * args.events,
                                       settings.endpoint_concurrency))
        print(f"3. bare httpx client, same receiver, concurrency "
              f"{settings.endpoint_concurrency}: {bare:.0f} POST/s; load average "
              f"{os.getloadavg()[0]:.1f}")
        print(f"ratios: dispatcher burst / bare client = {rate / bare:.2f}; "
              f"paced p50 / settle = {quantile(lat, .5) / settings.settle_s:.2f}")
        return 0
    finally:
        for app in apps:
            app.stop()
        stack.down()
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
