"""A headless rank of a multi-node group (a LeaderWorkerSet worker): it serves no API, so what the supervisor
watches besides its own vLLM process is the group's leader, through the leader supervisor's /readyz.

- forming: the worker is started, not yet ready, and never called dead, however long the leader takes;
- ready: the leader served once (the group formed) and answers Ready now;
- lost: after the group formed, the leader does not answer for `state.WEDGED_AFTER_S` (its pod gone, the
  network to it cut): /livez fails, the container restarts and LeaderWorkerSet recreates the whole group;
- drain: on SIGTERM the worker keeps its ranks up until the leader's supervisor stops answering (the leader has
  drained and exited) or the worker's own drain window ends, so the leader's in-flight requests keep every rank.
"""

from __future__ import annotations

import threading
import time

from vllmgen.supervisor.state import Phase, Snapshot, Store

#: Between polls of the leader while the group forms: the leader may be pods and minutes away; once a second
#: keeps /status current without loading its supervisor.
POLL_FORMING_S = 1.0
#: Between polls once the group serves: well inside the readiness snapshot's freshness (state.STALE_AFTER_S).
POLL_READY_S = 0.5
#: One answer from the leader's supervisor: it answers from memory, so 2 s is a cut network, not a slow leader.
REQUEST_TIMEOUT_S = 2.0
#: Between checks of the leader during the worker's drain.
DRAIN_POLL_S = 0.5


class GroupMonitor:
    """Watches the worker's own vLLM process and the leader's /readyz; writes them into `store` in the terms the
    probe decisions read (state.readiness / state.liveness): the leader answering is `last_ok` (liveness),
    the leader Ready is `leader_ready` (readiness), the first Ready is `ever_ready`."""

    def __init__(self, store: Store, process, leader_url: str):
        self.store = store
        self.process = process
        self.leader_url = leader_url.rstrip("/")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="group-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def settle(self) -> None:
        """No serving watchdog on a headless rank: it serves no requests (the leader's watchdog watches them)."""

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_S + 1)

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
            while not self._stop.is_set():
                snap = self.poll_once(client)
                self._stop.wait(POLL_READY_S if snap.ever_ready else POLL_FORMING_S)

    def poll_once(self, client) -> Snapshot:
        import httpx

        now = time.monotonic()
        alive = self.process.poll() is None
        changes: dict = {"process_alive": alive}
        if not alive:
            changes.update(listening=False, leader_ready=None, last_poll=now)
            return self.store.update(**changes)
        try:
            code = client.get(f"{self.leader_url}/readyz").status_code
        except httpx.HTTPError:  # listening stays: the worker's own connection is not what failed
            changes.update(leader_ready=False, last_poll=time.monotonic())
            return self.store.update(**changes)
        ready = code == 200
        t = time.monotonic()
        # the leader answered: the connection to the group holds (liveness); its answer is the group's readiness
        changes.update(listening=True, health=200, last_ok=t, health_bad_since=None, leader_ready=ready,
                       last_poll=t)
        if ready and not self.store.snapshot.ever_ready:
            changes.update(ever_ready=True, ready_at=t)
            self.store.update(**changes)
            return self.store.update(only_if=lambda s: s.phase is Phase.LOADING, phase=Phase.READY)
        return self.store.update(**changes)


def wait_leader_gone(leader_url: str, deadline: float) -> bool:
    """Wait until the leader's supervisor stops answering at all (it drained and exited, or its pod is gone) or
    `deadline`. A 503 is a leader still draining its in-flight requests: they need every rank, so keep waiting.
    True: the leader is gone; False: it still answered at the deadline."""
    import httpx

    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        while (left := deadline - time.monotonic()) > 0:
            try:
                client.get(f"{leader_url.rstrip('/')}/readyz", timeout=min(REQUEST_TIMEOUT_S, left))
            except httpx.HTTPError:
                return True
            time.sleep(min(DRAIN_POLL_S, max(0.0, deadline - time.monotonic())))
    return False
