"""A stand-in for `vllm serve` that plays a script, for fast tests of the supervisor's loop (the real server is
in tests/support/vllm_server.py). Used as `VLLMGEN_VLLM_COMMAND="python -m tests.support.scripted_vllm SCRIPT"`:
the supervisor appends vLLM's arguments; `--port` and `--served-model-name` are read from them.

The script is JSON, a list of steps run in order:
- `["say", "LINE"]`: print a line (as vLLM logs one);
- `["sleep", S]`: wait S seconds using no CPU (a process blocked on a lock, a dead mount, a peer);
- `["busy", S]`: burn CPU for S seconds, printing nothing (imports, compiling);
- `["write", PATH, BYTES]`: append BYTES bytes to PATH (a download arriving);
- `["serve"]`: listen on the port and answer /health and /v1/models as a loaded vLLM does, until killed.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _arg(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def serve(port: int, model: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path == "/health":
                body = b""
            elif self.path == "/v1/models":
                body = json.dumps({"object": "list", "data": [{"id": model, "object": "model"}]}).encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main(argv: list[str]) -> None:
    steps = json.loads(open(argv[0]).read())
    port, model = int(_arg(argv, "--port", "8000")), _arg(argv, "--served-model-name", "tiny")
    for step in steps:
        kind = step[0]
        if kind == "say":
            print(step[1], flush=True)
        elif kind == "sleep":
            time.sleep(step[1])
        elif kind == "busy":
            end = time.process_time() + step[1]
            while time.process_time() < end:
                pass
        elif kind == "write":
            with open(step[1], "ab") as f:
                f.write(b"\0" * step[2])
                f.flush()
        elif kind == "serve":
            serve(port, model)


if __name__ == "__main__":
    main(sys.argv[1:])
