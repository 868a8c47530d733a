"""A stand-in for one node of vLLM's multi-node launch, for supervisor tests about a group rather than a model.
Started as `vllm serve` is: with `--headless` it is a worker rank (no HTTP server; it runs until SIGTERM); without,
it is the leader and answers /health, /v1/models and /load (idle) on --port until SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
from http.server import ThreadingHTTPServer

from standin_vllm import handler  # this folder is on sys.path when the file runs as a script

ARGV = sys.argv[1:]
PORT = int(ARGV[ARGV.index("--port") + 1])
NAME = ARGV[ARGV.index("--served-model-name") + 1]


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(json.dumps({"rank": ARGV[ARGV.index("--node-rank") + 1], "headless": "--headless" in ARGV}), flush=True)
    if "--headless" in ARGV:
        while True:
            signal.pause()
    ThreadingHTTPServer(("127.0.0.1", PORT), handler(NAME, 0)).serve_forever()


if __name__ == "__main__":
    main()
