"""The delivery shell: claims due deliveries from Postgres and sends each one.

- Bounded per endpoint: at most `endpoint_concurrency` attempts in flight to one endpoint,
  and an endpoint at its bound is left out of the next claim, so a slow or dead endpoint
  holds only its own slots and never delays another's deliveries.
- Each attempt: the URL is resolved and checked again (`guard`), the request goes to the
  checked address (Host and TLS SNI keep the name), redirects are not followed, the whole
  attempt has `timeout_s`, and at most `max_response_bytes` of the answer are read.
- Signed at send time with every live secret (`signing`); the body is the stored one, so
  every attempt of a delivery carries the same `webhook-id` and bytes.
- The outcome goes through `schedule.decide`; the attempt, the delivery's new state and the
  endpoint's health are written in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable

import httpx

from services.shared.events import now
from services.webhooks import guard, metrics, signing
from services.webhooks.directory import Directory, Endpoint
from services.webhooks.endpoints import EndpointAdmin
from services.webhooks.schedule import Outcome, Verdict, decide
from services.webhooks.settings import WebhooksSettings
from services.webhooks.store import Claimed, DeliveryStore

log = logging.getLogger(__name__)
USER_AGENT = "Reelflow-Webhooks/1"


class Sender:
    def __init__(self, settings: WebhooksSettings, store: DeliveryStore, directory: Directory,
                 admin: EndpointAdmin) -> None:
        self.settings = settings
        self.store = store
        self.directory = directory
        self.admin = admin
        self.allowed = guard.networks(settings.allowed_networks)
        self._wake = asyncio.Event()
        self._inflight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                       timeout=httpx.Timeout(settings.timeout_s),
                                       limits=httpx.Limits(max_connections=None,
                                                           max_keepalive_connections=100))

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        await self.directory.caught_up.wait()
        last_sweep = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() - last_sweep > self.settings.lease_s / 4:
                    await self._quietly(self.store.expire_leases())
                    last_sweep = time.monotonic()
                self._wake.clear()
                await self._quietly(self._dispatch())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._http.aclose()

    @staticmethod
    async def _quietly(work: object) -> None:
        try:
            await work  # type: ignore[misc]
        except Exception:  # Postgres away: the next round tries again, nothing is lost
            log.exception("webhook dispatch round failed; retrying")
            await asyncio.sleep(1.0)

    async def _dispatch(self) -> None:
        cap = self.settings.endpoint_concurrency
        free = self.settings.concurrency - sum(self._inflight.values())
        ready = [e.endpoint_id for e in self.directory.table.active()
                 if self._inflight[e.endpoint_id] < cap]
        for claimed in await self.store.claim(ready, free, self.settings.lease_s,
                                                 self.settings.settle_s):
            endpoint = self.directory.table.by_id.get(claimed.endpoint_id)
            if endpoint is None or self._inflight[claimed.endpoint_id] >= cap:
                await self.store.release(claimed.delivery_id)
                continue
            self._inflight[claimed.endpoint_id] += 1
            task = asyncio.create_task(self._deliver(endpoint, claimed),
                                       name=f"webhook {claimed.delivery_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, endpoint: Endpoint, claimed: Claimed) -> None:
        try:
            started_at = now()
            outcome = await self.attempt(endpoint, claimed)
            failing_since = claimed.failing_since
            if not outcome.succeeded and failing_since is None:
                failing_since = started_at
            verdict = decide(claimed.attempts + 1, outcome, self.settings.retry_schedule_s,
                             failing_since, now(), self.settings.disable_after_s)
            await self.store.record(claimed, started_at, outcome, verdict)
            self._count(endpoint, claimed, outcome, verdict)
            # A test event's 410 says the endpoint is gone as much as any; its failures say
            # nothing of how long the endpoint has been failing.
            if verdict.disable == "gone" or (verdict.disable and claimed.origin != "test"):
                log.warning("disabling webhook endpoint %s: %s", endpoint.endpoint_id,
                            verdict.disable)
                await self.admin.disable(endpoint.endpoint_id, verdict.disable)
        except Exception:
            # Recording failed (Postgres away): the lease runs out and the delivery is
            # made again, which at-least-once allows.
            log.exception("webhook delivery %s not recorded", claimed.delivery_id)
        finally:
            self._inflight[claimed.endpoint_id] -= 1
            self._wake.set()

    @staticmethod
    def _count(endpoint: Endpoint, claimed: Claimed, outcome: Outcome,
               verdict: Verdict) -> None:
        metrics.ATTEMPTS.labels(endpoint.endpoint_id,
                                "success" if outcome.succeeded else "failure").inc()
        metrics.ATTEMPT_SECONDS.observe(outcome.latency_ms / 1000)
        metrics.DELIVERIES.labels({"delivered": "delivered", "retry": "retrying",
                                   "failed": "failed"}[verdict.action]).inc()
        if outcome.succeeded:
            metrics.LATENCY.observe(max(0.0, (now() - claimed.source_at).total_seconds()))

    async def attempt(self, endpoint: Endpoint, claimed: Claimed) -> Outcome:
        """One HTTP attempt; every failure comes back as a coded Outcome, never raised."""
        started = time.perf_counter()

        def done(status: int | None, error: str | None, response: str = "") -> Outcome:
            return Outcome(status, error, round((time.perf_counter() - started) * 1000, 3),
                           response)

        try:
            target = await guard.vet(endpoint.url, self.allowed)
        except guard.UrlRefused as exc:
            return done(None, exc.code, exc.detail)
        moment = now()
        signing_with = signing.live(endpoint.secrets, moment)
        if not signing_with:  # its sealed secrets' KEK is not configured: never unsigned
            return done(None, "no_signing_secret", "no secret of the endpoint can sign")
        headers = {**signing.headers(claimed.message_id, claimed.payload, signing_with, moment),
                   "content-type": "application/json", "user-agent": USER_AGENT,
                   "host": _host_header(target)}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                return await self._post(target.url_for(endpoint.url), headers,
                                        claimed.payload, extensions, done)
        except TimeoutError:
            return done(None, "timeout", f"no answer within {self.settings.timeout_s:g} s")
        except httpx.TimeoutException:
            return done(None, "timeout", f"no answer within {self.settings.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return done(None, "connection_failed", type(exc).__name__)

    async def _post(self, url: str, headers: dict[str, str], payload: str,
                    extensions: dict[str, str],
                    done: Callable[..., Outcome]) -> Outcome:
        request = self._http.build_request("POST", url, headers=headers,
                                           content=payload.encode(), extensions=extensions)
        response = await self._http.send(request, stream=True)
        try:
            head = await _first_bytes(response, self.settings.max_response_bytes)
        finally:
            await response.aclose()
        text = head.decode(errors="replace")
        if response.is_redirect:
            return done(response.status_code, "redirect_refused", text)
        return done(response.status_code, None, text)


async def _first_bytes(response: httpx.Response, limit: int) -> bytes:
    taken = bytearray()
    async for chunk in response.aiter_raw():
        taken += chunk
        if len(taken) >= limit:
            break
    return bytes(taken[:limit])


def _host_header(target: guard.Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"
