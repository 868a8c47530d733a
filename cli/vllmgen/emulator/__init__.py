"""Kubelet probe emulator: when would a pod with these probes turn Ready, would it be restarted, and what does
its deletion do to traffic?

- `model`: probe configuration (Kubernetes Probe objects with kubelet's defaults) read from values or manifests;
  `lifecycle`: the container's preStop hook;
- `kubelet`: the pure rules (a discrete-event state machine that reads like kubelet's prober worker and sync
  loop); `runtime`: a kill's grace period, preStop, SIGTERM and SIGKILL, and the crash-loop back-off;
- `timeline`: recorded endpoint timelines (what each endpoint answered, from when, how fast);
- `httpprobe`: an HTTP probe made as kubelet makes it (headers, redirects, body limit, retries);
- `drivers`: live mode (real HTTP on kubelet's schedule, recording as it goes) and replay mode;
- `termination`: a deletion's course (endpoints against SIGTERM, the drain against the grace period);
- `report`: the per-probe table and the verdict, as text or JSON.
"""
