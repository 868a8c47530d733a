"""A stand-in for vLLM's API server, for supervisor tests about processes rather than models: it answers
/health, /v1/models and /load like a loaded vLLM, ignores SIGTERM (as vLLM may), and leaves a child that
called setsid() (outside vLLM's process group, as a misbehaving worker could). Arguments as `vllm serve` gets
them after `--model`: it reads --port and --served-model-name. The child's pid goes to $STANDIN_CHILD_PIDFILE.
Like vLLM's EngineCore it also starts a child that stays in its process group and does not notice the API
server's death (its pid goes to $STANDIN_ENGINE_PIDFILE)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _arg(name: str, default: str) -> str:
    argv = sys.argv[1:]
    return argv[argv.index(name) + 1] if name in argv else default


PORT = int(_arg("--port", "8000"))
NAME = _arg("--served-model-name", "tiny")


def handler(name: str, load: int) -> type[BaseHTTPRequestHandler]:
    """A loaded vLLM's answers to /health, /v1/models (serving `name`) and /load (`load` requests held)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = {"/health": {}, "/v1/models": {"object": "list", "data": [{"id": name, "object": "model"}]},
                    "/load": {"server_load": load}}.get(self.path.split("?")[0])
            data = json.dumps(body if body is not None else {"error": "not found"}).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import os,time; os.setsid(); time.sleep(600)"])
    engine = subprocess.Popen([sys.executable, "-c", "import signal,time; signal.signal(signal.SIGTERM, "
                               "signal.SIG_IGN); time.sleep(600)"])
    for env, pid in (("STANDIN_CHILD_PIDFILE", child.pid), ("STANDIN_ENGINE_PIDFILE", engine.pid)):
        if os.environ.get(env):
            with open(os.environ[env], "w") as f:
                f.write(str(pid))
    ThreadingHTTPServer(("127.0.0.1", PORT), handler(NAME, 1)).serve_forever()
