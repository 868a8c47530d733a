"""The health server on the `health` port: /startupz (long-poll), /readyz, /livez, /status.

Answers come from the snapshot the monitor keeps current, so a probe costs microseconds of work and never
waits on vLLM. The server is one asyncio loop in one thread (no thread per request): under CPU saturation
every extra Python thread a probe needs is another GIL hand-off that waits for the scheduler, which is what
made thread-per-request answers slow in their tail. A held /startupz is just a pending task: it never delays
/readyz or /livez. Requests are tiny HTTP/1.0 GETs (kubelet closes the connection after each probe).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

from vllmgen.supervisor import state
from vllmgen.supervisor.state import Phase, Store

#: Longest hold a `?timeout=` query may ask for: a startup probe's timeout is seconds, not hours.
MAX_HOLD_S = 300.0
#: A client that does not finish sending its request head within this, in all, is dropped (kubelet sends it at
#: once; a client trickling one header line at a time no longer resets the clock).
REQUEST_READ_TIMEOUT_S = 5.0
#: Longest request head accepted (request line + headers); a probe's is ~150 bytes.
MAX_HEAD_LINES = 64
#: Pending connections the kernel queues for us (probes from kubelet plus people curling /status).
LISTEN_BACKLOG = 128
#: Connections served at once. Kubelet holds at most three (one per probe, a held /startupz among them); the rest
#: is people and scrapers. Beyond this a new connection takes the place of the oldest one still sending its
#: request head (the slowest client: a probe sends its head at once), so neither a flood of idle or trickling
#: connections can keep probes out nor grow the supervisor's memory without bound; only when every connection
#: is a request being answered (held /startupz) is the new one closed at once.
MAX_CONNECTIONS = 512
#: Read buffer per connection: a probe's request head is ~150 bytes.
READ_BUFFER_BYTES = 16 * 1024
PATHS = ("/startupz", "/readyz", "/livez", "/status")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthServer:
    """Serves probe answers from `store`. `hold_for(timeout_s)` turns a probe timeout into a hold time."""

    def __init__(self, store: Store, port: int, default_hold_s: float, hold_for, host: str = "0.0.0.0"):
        self.store = store
        self.default_hold_s = default_hold_s
        self.hold_for = hold_for
        # Bound and listening now (OSError such as EADDRINUSE goes to the caller); connections queue until
        # the loop runs.
        self._sock = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
        self.port = self._sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._changed: asyncio.Event | None = None
        self._waiters = 0
        self._connections = 0  # touched only on the loop's thread
        # connections still reading their request head, oldest first (dicts keep insertion order): evicted
        # first when the server is full
        self._reading: dict[asyncio.StreamWriter, None] = {}
        self._evicted: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._run, name="health-server", daemon=True)
        store.listeners.append(self._store_changed)

    def start(self) -> None:
        started = threading.Event()
        self._loop.call_soon(started.set)
        self._thread.start()
        started.wait(5)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=2)
        self._sock.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._changed = asyncio.Event()
        self._loop.run_until_complete(asyncio.start_server(self._handle, sock=self._sock,
                                                           limit=READ_BUFFER_BYTES))
        self._loop.run_forever()

    # --- wake-ups from the store (called in the writer's thread) ----------------------------------------------
    def _store_changed(self) -> None:
        if self._waiters and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._notify)
            except RuntimeError:
                pass  # loop closed meanwhile

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # --- answers: (status, body) ------------------------------------------------------------------------------
    async def startupz(self, query: dict) -> tuple[int, dict]:
        hold = self.default_hold_s
        if "timeout" in query:
            try:
                hold = self.hold_for(min(float(query["timeout"][0]), MAX_HOLD_S))
            except ValueError:
                return 400, {"error": "timeout must be a number of seconds"}

        def decided(s):
            gone = s.phase is Phase.EXITED or (not s.process_alive and s.phase is not Phase.STARTING)
            return state.started(s) or gone

        deadline = time.monotonic() + max(0.0, hold)
        self._waiters += 1
        try:
            while not decided(self.store.snapshot):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except asyncio.TimeoutError:
                    pass
        finally:
            self._waiters -= 1
        ok = state.started(self.store.snapshot)
        return (200 if ok else 503), {"started": ok, "phase": self.store.snapshot.phase.value}

    def readyz(self) -> tuple[int, dict]:
        ok, why = state.readiness(self.store.snapshot, time.monotonic())
        return (200 if ok else 503), {"ready": ok, "reasons": why}

    def livez(self) -> tuple[int, dict]:
        ok, why = state.liveness(self.store.snapshot, time.monotonic())
        return (200 if ok else 503), {"live": ok, "reasons": why}

    def status(self) -> tuple[int, dict]:
        return 200, state.status(self.store.snapshot, time.monotonic())

    # --- HTTP ---------------------------------------------------------------------------------------------------
    async def _answer(self, method: str, target: str) -> tuple[int, dict]:
        if method not in ("GET", "HEAD"):
            return 405, {"error": f"{method} not allowed; use GET"}
        url = urlsplit(target)
        route = url.path.rstrip("/") or "/"
        if route == "/startupz":
            return await self.startupz(parse_qs(url.query))
        if route == "/readyz":
            return self.readyz()
        if route == "/livez":
            return self.livez()
        if route == "/status":
            return self.status()
        return 404, {"error": f"unknown path {url.path}", "paths": list(PATHS)}

    def _make_room(self) -> bool:
        """Room for one more connection: at the limit, the oldest connection still sending its head goes."""
        if self._connections < MAX_CONNECTIONS:
            return True
        if not self._reading:
            return False
        oldest = next(iter(self._reading))
        del self._reading[oldest]
        self._evicted.add(oldest)  # its handler ends without answering, and its place is free now
        self._connections -= 1
        oldest.transport.abort()
        return True

    async def _read_head(self, reader: asyncio.StreamReader) -> list[bytes]:
        """The request head's lines, within REQUEST_READ_TIMEOUT_S in all."""
        deadline = self._loop.time() + REQUEST_READ_TIMEOUT_S
        head: list[bytes] = []
        while len(head) < MAX_HEAD_LINES:
            line = await asyncio.wait_for(reader.readline(), max(0.0, deadline - self._loop.time()))
            if line in (b"\r\n", b"\n", b""):
                break
            head.append(line)
        return head

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._make_room():
            writer.transport.abort()
            return
        self._connections += 1
        self._reading[writer] = None
        try:
            head = await self._read_head(reader)
            if writer in self._evicted:
                return  # evicted while it was sending: the transport is gone
            del self._reading[writer]
            parts = head[0].decode("latin-1").split() if head else []
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                code, body, method = 400, {"error": "malformed request"}, "GET"
            else:
                method = parts[0]
                code, body = await self._answer(method, parts[1])
            data = json.dumps(body, separators=(",", ":")).encode()
            writer.write(
                f"HTTP/1.0 {code} {_REASONS.get(code, '')}\r\nServer: vllmgen-supervisor\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
                .encode() + (b"" if method == "HEAD" else data))
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, ValueError, asyncio.LimitOverrunError, IndexError):
            pass
        finally:
            if writer in self._evicted:
                self._evicted.discard(writer)
            else:
                self._reading.pop(writer, None)
                self._connections -= 1
            writer.close()
