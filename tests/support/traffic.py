"""Client traffic for real-vLLM tests and benchmarks, run in its own process (asyncio, one thread) so the
measuring process is not starved by its own clients:

- `saturate`: N concurrent completion loops for S seconds (closed loop).
- `gated`: BURST closed-loop clients plus open-loop arrivals, routed like a Kubernetes Service: a router polls
  the supervisor's /readyz and keeps sending to the pod until /readyz has been 503 for LAG seconds (endpoints
  take that long to drop a pod).

Both print one JSON summary line. Times are CLOCK_MONOTONIC seconds (the same clock in every process).
Usage: python -m tests.support.traffic saturate VLLM_URL CLIENTS SECONDS TOKENS
       python -m tests.support.traffic gated VLLM_URL READYZ_URL ARRIVAL_EVERY_S TOKENS LAG_S [BURST]
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import httpx

#: Router poll period of /readyz (a fast kube-proxy); the lag models the rest of the propagation.
ROUTER_POLL_S = 0.05


def body(tokens: int) -> dict:
    return {"model": "tiny", "prompt": "the probe is", "max_tokens": tokens, "ignore_eos": True}


async def saturate(url: str, clients: int, seconds: float, tokens: int) -> dict:
    done, errors, generated = 0, 0, 0
    deadline = time.monotonic() + seconds

    async def loop(client):
        nonlocal done, errors, generated
        while time.monotonic() < deadline:
            try:
                r = await client.post("/v1/completions", json=body(tokens))
                r.raise_for_status()
                generated += r.json()["usage"]["completion_tokens"]
                done += 1
            except Exception:  # noqa: BLE001 - counted
                errors += 1

    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.gather(*(loop(client) for _ in range(clients)))
    return {"completions": done, "errors": errors, "tokens": generated, "seconds": seconds}


async def gated(url: str, readyz: str, every: float, tokens: int, lag: float, burst: int = 0) -> dict:
    results = []
    routable = threading.Event()
    routable.set()
    first_unready = None

    def router():
        """In a thread of its own: however busy the clients keep the event loop, the pod leaves the endpoints
        `lag` seconds after /readyz turned 503, as the test assumes."""
        nonlocal first_unready
        with httpx.Client() as client:
            while routable.is_set():
                try:
                    code = client.get(readyz, timeout=2).status_code
                except httpx.TransportError:
                    code = None
                if code == 200:
                    first_unready = None  # a poll lost on a busy machine is not a NotReady pod: start again
                else:
                    first_unready = first_unready or time.monotonic()
                    if time.monotonic() - first_unready >= lag:
                        routable.clear()
                time.sleep(ROUTER_POLL_S)

    async def one(client):
        sent = time.monotonic()
        try:
            r = await client.post(f"{url}/v1/completions", json=body(tokens), timeout=120)
            if r.status_code != 200:
                done({"sent": sent, "status": r.status_code, "error": r.text[:200]})
                return
            a = r.json()
            done({"sent": sent, "status": 200, "finish": a["choices"][0]["finish_reason"],
                  "tokens": a["usage"]["completion_tokens"]})
        except Exception as exc:  # noqa: BLE001 - every failure counts
            done({"sent": sent, "status": None, "error": repr(exc)[:200]})

    def done(result: dict) -> None:
        """Kept for the summary, and written to stderr at once: a test that stops the traffic early reads it."""
        results.append(result)
        print(json.dumps({**result, "answered": time.monotonic()}), file=sys.stderr, flush=True)

    # a connection per request: a kept-alive one that the server closes as idle just as a request goes out fails
    # that request (ReadError), which is the client's race, not the drain's
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits) as client:
        route = threading.Thread(target=router, daemon=True)
        route.start()
        # `burst` closed-loop clients, each sending its next request as soon as its last is answered, for as long
        # as the pod is routable: they keep `burst` requests in flight however fast the machine decodes (a burst
        # sent once was answered within 2 s), and need no timer to fire on a starved machine
        async def client_loop():
            while routable.is_set():
                await one(client)

        tasks = [asyncio.create_task(client_loop()) for _ in range(burst)]
        while routable.is_set():
            tasks.append(asyncio.create_task(one(client)))
            await asyncio.sleep(every)
        await asyncio.to_thread(route.join)
        await asyncio.gather(*tasks)
    return {"firstUnready": first_unready, "requests": results}


def main(argv: list[str]) -> int:
    mode, *rest = argv
    if mode == "saturate":
        url, clients, seconds, tokens = rest
        out = asyncio.run(saturate(url, int(clients), float(seconds), int(tokens)))
    elif mode == "gated":
        url, readyz, every, tokens, lag, *burst = rest
        out = asyncio.run(gated(url, readyz, float(every), int(tokens), float(lag), int(burst[0]) if burst else 0))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
