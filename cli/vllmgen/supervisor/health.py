"""The health server on the `health` port: /startupz (long-poll), /readyz, /livez, /status.

Answers come from the snapshot the monitor keeps current, so a probe costs microseconds of work and never
waits on vLLM, even while vLLM is saturated. One thread per request (stdlib ThreadingHTTPServer): a held
/startupz never delays /readyz or /livez.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from vllmgen.supervisor import state
from vllmgen.supervisor.state import Phase, Store

#: Longest hold a `?timeout=` query may ask for: a startup probe's timeout is seconds, not hours.
MAX_HOLD_S = 300.0


class HealthServer:
    """Serves probe answers from `store`. `hold_for(timeout_s)` turns a probe timeout into a hold time."""

    def __init__(self, store: Store, port: int, default_hold_s: float, hold_for, host: str = "0.0.0.0"):
        self.store = store
        self.default_hold_s = default_hold_s
        self.hold_for = hold_for
        handler = type("Handler", (_Handler,), {"owner": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)  # OSError (e.g. EADDRINUSE) to the caller
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="health-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- answers: (status, body) -----------------------------------------------------------------------
    def startupz(self, query: dict) -> tuple[int, dict]:
        hold = self.default_hold_s
        if "timeout" in query:
            try:
                hold = self.hold_for(min(float(query["timeout"][0]), MAX_HOLD_S))
            except ValueError:
                return 400, {"error": "timeout must be a number of seconds"}

        def decided(s):
            return state.started(s) or s.phase is Phase.EXITED or not s.process_alive and s.phase is not Phase.STARTING

        snap = self.store.wait_for(decided, max(0.0, hold))
        ok = state.started(snap)
        return (200 if ok else 503), {"started": ok, "phase": snap.phase.value}

    def readyz(self) -> tuple[int, dict]:
        ok, why = state.readiness(self.store.snapshot, time.monotonic())
        return (200 if ok else 503), {"ready": ok, "reasons": why}

    def livez(self) -> tuple[int, dict]:
        ok, why = state.liveness(self.store.snapshot, time.monotonic())
        return (200 if ok else 503), {"live": ok, "reasons": why}

    def status(self) -> tuple[int, dict]:
        return 200, state.status(self.store.snapshot, time.monotonic())


class _Handler(BaseHTTPRequestHandler):
    owner: HealthServer
    server_version = "vllmgen-supervisor"
    # kubelet probes close the connection after each request; HTTP/1.0 semantics keep that simple.
    protocol_version = "HTTP/1.0"

    def do_GET(self):  # noqa: N802 (http.server naming)
        url = urlsplit(self.path)
        route = url.path.rstrip("/") or "/"
        if route == "/startupz":
            code, body = self.owner.startupz(parse_qs(url.query))
        elif route == "/readyz":
            code, body = self.owner.readyz()
        elif route == "/livez":
            code, body = self.owner.livez()
        elif route == "/status":
            code, body = self.owner.status()
        else:
            code, body = 404, {"error": f"unknown path {url.path}", "paths": ["/startupz", "/readyz", "/livez", "/status"]}
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_HEAD = do_GET

    def log_message(self, format, *args):  # probes every second must not flood the log
        pass
