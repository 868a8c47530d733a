"""A stand-in for one node of vLLM's multi-node launch, for supervisor tests about a group rather than a model.
Started as `vllm serve` is: with `--headless` it is a worker rank (no HTTP server; it runs until SIGTERM); without,
it is the leader and answers /health, /v1/models and /load (idle) on --port until SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGV = sys.argv[1:]
PORT = int(ARGV[ARGV.index("--port") + 1])
NAME = ARGV[ARGV.index("--served-model-name") + 1]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"/health": {}, "/v1/models": {"object": "list", "data": [{"id": NAME, "object": "model"}]},
                "/load": {"server_load": 0}}.get(self.path.split("?")[0])
        data = json.dumps(body if body is not None else {"error": "not found"}).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(json.dumps({"rank": ARGV[ARGV.index("--node-rank") + 1], "headless": "--headless" in ARGV}), flush=True)
    if "--headless" in ARGV:
        while True:
            signal.pause()
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()


if __name__ == "__main__":
    main()
