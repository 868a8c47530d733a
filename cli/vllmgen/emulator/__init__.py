"""Kubelet probe emulator: when would a pod with these probes turn Ready, and would it be restarted?

- `model`: probe configuration (Kubernetes Probe objects with kubelet's defaults) read from values or manifests;
- `kubelet`: the pure rules (a discrete-event state machine that reads like kubelet's prober worker);
- `timeline`: recorded endpoint timelines (what each endpoint answered, from when, how fast);
- `drivers`: live mode (real HTTP on kubelet's schedule, recording as it goes) and replay mode;
- `report`: the per-probe table and the verdict, as text or JSON.
"""
