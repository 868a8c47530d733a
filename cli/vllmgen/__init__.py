"""vllmgen: vLLM on Kubernetes behind model-aware probes."""

__version__ = "0.1.0"
