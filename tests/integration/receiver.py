"""A real HTTP receiver in the test process, for the webhooks tests: it records every
request (path, headers, body, time) and answers per path from a script: a status list
(one per request; the last repeats), `hang` (never answers in time), or `redirect`."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    port: int = 0
    scripts: dict[str, list[int | str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def _answer(self, path: str) -> int | str:
        with self.lock:
            script = self.scripts.get(path, [200])
            return script.pop(0) if len(script) > 1 else script[0]


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers.items()),
                                                  body, time.time()))
            answer = receiver._answer(self.path)
            if answer == "hang":
                receiver.released.wait(30)
                answer = 200
            # The dispatcher may have given up waiting (a hanging script), as it should.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._reply(answer)

        def _reply(self, answer: int | str) -> None:
            if answer == "redirect":
                self.send_response(302)
                self.send_header("Location", receiver.url("/redirected"))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            reply = f"answer {answer}".encode()
            self.send_response(int(answer))
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()
