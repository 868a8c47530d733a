"""Background polling of vLLM: keeps the snapshot current so a probe never waits on vLLM.

Each round asks `/health` (engine alive), `/v1/models` (served model and LoRA adapters listed; with the API key
when set), and every few rounds the sleep state (`/is_sleeping` in dev mode, else the `vllm:engine_sleep_state`
metric), and records whether the process still runs. Until the model is loaded vLLM refuses connections (it binds but
does not listen), so loading polls are cheap and frequent: the snapshot turns ready within
`POLL_LOADING_S` of vLLM answering.
"""

from __future__ import annotations

import threading
import time

from vllmgen.supervisor import watchdog
from vllmgen.supervisor.state import Phase, Snapshot, Store

#: Poll period while loading: a refused connection costs microseconds, and /startupz answers within this
#: delay of vLLM serving the model (goal: 0.1 s).
POLL_LOADING_S = 0.02
#: Poll period once ready: engine death shows on /readyz within this (plus one request) of /health's 503.
POLL_READY_S = 0.25
#: Sleep state every this many ready rounds: /metrics is ~50 KB of text, no need to read it 4 times a second.
SLEEP_EVERY_ROUNDS = 8
#: Per-request timeout. /health answered within 22 ms under saturation (docs/upstream-facts.md#vllm-under-load);
#: a request slower than this counts as no answer (towards the wedged verdict, state.WEDGED_AFTER_S).
REQUEST_TIMEOUT_S = 2.0
#: The serving watchdog reads /metrics (and /load) every this many ready rounds: about once a second.
WATCH_EVERY_ROUNDS = 4
#: The canary: a 1-token completion, labelled so it can be told apart in vLLM's logs and metrics.
CANARY_USER = "vllmgen-canary"
CANARY_PROMPT = "ok"
#: The canary's HTTP timeout is the restart window plus this: it stays out (pending) until the verdicts are in.
CANARY_TIMEOUT_EXTRA_S = 5.0
#: Marks the awake series of the sleep-state gauge in /metrics.
_AWAKE_SERIES = 'sleep_state="awake"'


def parse_sleep_metric(text: str) -> bool | None:
    """True when `vllm:engine_sleep_state{sleep_state="awake"}` is 0, None when the metric is absent."""
    awake = []
    for line in text.splitlines():
        if line.startswith("vllm:engine_sleep_state{") and _AWAKE_SERIES in line:
            try:
                awake.append(float(line.rsplit(None, 1)[1]))
            except (IndexError, ValueError):
                continue
    if not awake:
        return None
    return any(v < 0.5 for v in awake)


def models_lists(payload, name: str) -> bool:
    """Does a /v1/models body list `name`?"""
    return name in listed_ids(payload)


def listed_ids(payload) -> tuple[str, ...]:
    """The ids a /v1/models body lists: the base model and every LoRA adapter vLLM serves."""
    try:
        return tuple(m["id"] for m in payload.get("data", []) if isinstance(m.get("id"), str))
    except (AttributeError, TypeError):
        return ()


class Monitor:
    """Polls vLLM at `base_url` in a daemon thread and writes what it sees into `store`."""

    def __init__(self, store: Store, process, base_url: str, served_name: str,
                 api_key: str | None = None, dev_mode: bool = False, on_verdict=None):
        """`on_verdict(verdict, reason, watch)` is called when the serving watchdog's verdict changes."""
        self.store = store
        self.process = process
        self.base_url = base_url.rstrip("/")
        self.served_name = served_name
        self.api_key = api_key
        self.dev_mode = dev_mode
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vllm-monitor", daemon=True)
        self._round = 0
        self.on_verdict = on_verdict
        self._canaries = 0
        self._canary_lock = threading.Lock()  # the canary's thread and the monitor both replace the watch

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_S + 1)

    def _run(self) -> None:
        import httpx  # imported here: keeps `vllmgen` cold start fast

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        # No keep-alive pool surprises: one connection reused; a new one after vLLM drops it.
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT_S, headers=headers) as client:
            while not self._stop.is_set():
                snap = self.poll_once(client)
                loading = not snap.ever_ready
                self._stop.wait(POLL_LOADING_S if loading else POLL_READY_S)

    def poll_once(self, client) -> Snapshot:
        import httpx

        now = time.monotonic()
        prev = self.store.snapshot
        alive = self.process.poll() is None
        changes: dict = {"process_alive": alive}
        if not alive:
            changes.update(listening=False, health=None, last_poll=now)
            return self.store.update(**changes)
        try:
            health = client.get("/health").status_code
            changes["listening"] = True
        except httpx.TransportError:
            # After a 503 the listener closes as vLLM goes down: keep the bad code (the engine stays dead).
            sticky = prev.health if prev.health not in (None, 200) else None
            changes.update(listening=False, health=sticky, last_poll=time.monotonic())
            if prev.ever_ready and prev.health_bad_since is None:
                changes["health_bad_since"] = now
            return self.store.update(**changes)
        changes["health"] = health
        if health == 200:
            changes["last_ok"] = time.monotonic()
            changes["health_bad_since"] = None
        elif prev.health_bad_since is None:
            changes["health_bad_since"] = now
        try:
            r = client.get("/v1/models")
            changes["models_status"] = r.status_code
            ids = listed_ids(r.json()) if r.status_code == 200 else ()
            changes["model_listed"] = self.served_name in ids
            changes["adapters_listed"] = tuple(i for i in ids if i != self.served_name)
        except (httpx.TransportError, ValueError):
            changes["model_listed"] = None
            changes["adapters_listed"] = None
        metrics = None
        if prev.watch_cfg is not None and prev.ever_ready and self._round % WATCH_EVERY_ROUNDS == 0 \
                and health == 200:
            metrics = self._metrics(client)
        if self._round % SLEEP_EVERY_ROUNDS == 0 and health == 200:
            changes["sleeping"] = self._sleeping(client, metrics[0] if metrics else None)
        if metrics is not None:
            self._watch(client, metrics, changes.get("sleeping", prev.sleeping))
        self._round += 1
        changes["last_poll"] = time.monotonic()
        if not prev.ever_ready and health == 200 and changes.get("model_listed"):
            changes["ever_ready"] = True
            changes["ready_at"] = changes["last_poll"]
            self.store.update(**changes)
            # Only a loading supervisor turns ready (a SIGTERM may have moved it to draining meanwhile).
            return self.store.update(only_if=lambda s: s.phase is Phase.LOADING, phase=Phase.READY)
        return self.store.update(**changes)

    def _sleeping(self, client, metrics_text: str | None = None) -> bool | None:
        import httpx

        try:
            if self.dev_mode:
                r = client.get("/is_sleeping")
                if r.status_code == 200:
                    return bool(r.json().get("is_sleeping"))
            if metrics_text is not None:
                return parse_sleep_metric(metrics_text)
            r = client.get("/metrics")
            if r.status_code == 200:
                return parse_sleep_metric(r.text)
        except (httpx.TransportError, ValueError, AttributeError):
            pass
        return None

    # --- the serving watchdog ----------------------------------------------------------------------------------
    def _metrics(self, client) -> tuple[str, float, int | None] | None:
        """(/metrics text, when it was asked, /load's count or None)."""
        import httpx

        t = time.monotonic()
        try:
            r = client.get("/metrics")
            if r.status_code != 200:
                return None
            text = r.text
        except httpx.TransportError:
            return None
        try:
            load = client.get("/load")
            api = int(load.json().get("server_load")) if load.status_code == 200 else None
        except (httpx.TransportError, ValueError, AttributeError, TypeError):
            api = None
        return text, t, api

    def _watch(self, client, metrics: tuple, sleeping: bool | None) -> None:
        text, t, api = metrics
        parsed = watchdog.parse_engines(text)
        with self._canary_lock:  # the canary's thread replaces the watch too
            snap = self.store.snapshot
            cfg, w = snap.watch_cfg, snap.watch
            if snap.draining or snap.phase is not Phase.READY:
                w = watchdog.pause(w, "draining" if snap.draining else f"phase {snap.phase.value}", t)
            elif sleeping:
                w = watchdog.pause(w, "the engine is asleep", t)
            elif parsed is None:
                w = watchdog.pause(w, "vLLM's /metrics carries no engine counters", t)
            else:
                w = watchdog.observe(w, parsed, t, api)
                if watchdog.canary_due(w, cfg, time.monotonic()):
                    self._canaries += 1
                    w = watchdog.canary_sent(w, self._canaries, time.monotonic())
                    threading.Thread(target=self._canary, args=(self._canaries, cfg), name="vllm-canary",
                                     daemon=True).start()
            self.store.update(watch=w)
        self.settle()

    def settle(self) -> None:
        """Store the watchdog's verdict as of now and report a change (once: the supervisor's loop calls this
        every tick, so the log line comes with the verdict, not at the next reading)."""
        with self._canary_lock:
            snap = self.store.snapshot
            if snap.watch_cfg is None:
                return
            w, changed = watchdog.settle(snap.watch, snap.watch_cfg, time.monotonic())
            if changed:
                self.store.update(watch=w)
        if changed and self.on_verdict:
            self.on_verdict(changed, w.reason, w)

    def _canary(self, ident: int, cfg) -> None:
        """One 1-token completion; its outcome goes into the watch (None: answered)."""
        import httpx

        headers = {"X-Request-Id": f"{CANARY_USER}-{ident}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        t0 = time.monotonic()
        try:
            r = httpx.post(f"{self.base_url}/v1/completions", headers=headers,
                           timeout=cfg.restart_s + CANARY_TIMEOUT_EXTRA_S,
                           json={"model": self.served_name, "prompt": CANARY_PROMPT, "max_tokens": 1,
                                 "temperature": 0, "user": CANARY_USER})
            outcome = None if r.status_code == 200 else f"answered {r.status_code}: not counted"
        except httpx.TimeoutException:
            outcome = f"no answer in {time.monotonic() - t0:.1f} s"
        except httpx.TransportError as exc:
            outcome = f"failed ({type(exc).__name__}): not counted"
        with self._canary_lock:
            w = watchdog.canary_done(self.store.snapshot.watch, ident, outcome, time.monotonic())
            self.store.update(watch=w)
