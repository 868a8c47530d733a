"""What may not be written in clear text, shared by the spec checks (`vllmgen validate`, `values`) and `vllmgen
lint`: the `vllm serve` flags the spec controls, as vLLM's parser matches them, and credential-looking values
(environment names such as `AWS_SECRET_ACCESS_KEY`, URL userinfo such as `http://user:pass@prometheus`)."""

from __future__ import annotations

import re

#: Flags the spec controls; `engine.extraArgs` may not repeat them (value: the field to set instead).
CONTROLLED_FLAGS = {
    "--model": "model.source",
    "--served-model-name": "model.name",
    "--revision": "model.revision",
    "--port": "routing.servicePort / routing.targetPort",
    "--tensor-parallel-size": "engine.tensorParallelSize",
    "-tp": "engine.tensorParallelSize",
    "--data-parallel-size": "engine.dataParallelSize",
    "-dp": "engine.dataParallelSize",
    "--data-parallel-size-local": "engine.dataParallelSizeLocal",
    "--max-model-len": "engine.maxModelLen",
    "--gpu-memory-utilization": "engine.gpuMemoryUtilization",
    "--api-key": "engine.apiKeySecretName (the key stays in a Secret)",
    "--shutdown-timeout": "engine.shutdownTimeoutSeconds",
    "--pipeline-parallel-size": "engine.pipelineParallelSize",
    "-pp": "engine.pipelineParallelSize",
    "--nnodes": "multiNode.nodes",
    "--node-rank": "LWS_WORKER_INDEX (multi-node)",
    "--master-addr": "the LeaderWorkerSet leader address (multi-node)",
    "--master-port": "multiNode.masterPort",
    "--headless": "the LeaderWorkerSet workers (multi-node)",
    "--data-parallel-address": "the LeaderWorkerSet leader address (wide-ep)",
    "--data-parallel-start-rank": "LWS_WORKER_INDEX x dataParallelSizeLocal (wide-ep)",
    "--data-parallel-rpc-port": "wideEP.rpcPort",
    "--all2all-backend": "wideEP.all2allBackend",
    "--enable-expert-parallel": "wideEP.expertParallel",
    "--hf-token": "model.authSecretName (the token stays in a Secret)",
    "--enable-lora": "model.loras",
    "--lora-modules": "model.loras",
    "--max-loras": "engine.maxLoras",
    "--max-lora-rank": "engine.maxLoraRank",
}

#: Environment the spec controls through Secrets; `engine.env` may not set it in clear text (it would land in the
#: values, the spec ConfigMap and the logs, and shadow the Secret's value).
CONTROLLED_ENV = {
    "HF_TOKEN": "model.authSecretName (the token stays in a Secret)",
    "HUGGING_FACE_HUB_TOKEN": "model.authSecretName (the token stays in a Secret)",
    "VLLM_API_KEY": "engine.apiKeySecretName (the key stays in a Secret)",
}

#: Environment names that hold a credential by convention (AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, DB_PASSWORD,
#: OPENAI_API_KEY, ...): a value for one belongs in a Secret, not in clear text.
CREDENTIAL_ENV = re.compile(
    r"(^|_)(TOKEN|PASSWORD|PASSWD|PASSPHRASE|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|API_KEY|APIKEY|ACCESS_KEY|"
    r"PRIVATE_KEY|CREDENTIALS?)$", re.IGNORECASE)
#: A URL carrying userinfo (`scheme://user:password@host`, `scheme://token@host`): the credential travels with it.
URL_USERINFO = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://([^/\s?#@]*)@")
#: A secret written as a reference the shell or kubelet expands (`$TOKEN`, `${TOKEN}`, `$(TOKEN)`): not clear text.
VARIABLE_REFERENCE = re.compile(r"\$(\{\w+\}|\(\w+\)|\w+)")

#: Where a credential goes instead, for the messages.
SECRET_ROUTE = ("keep it in a Secret (model.authSecretName, engine.apiKeySecretName, or the values' extraEnv with "
                "valueFrom.secretKeyRef)")


def _long(flag: str) -> str:
    """vLLM's FlexibleArgumentParser turns underscores in long flags into dashes."""
    return flag.replace("_", "-") if flag.startswith("--") else flag


def flag_name(arg: str) -> str:
    """The flag an argument names, as vLLM's parser reads it: `--tensor_parallel_size=2` is
    `--tensor-parallel-size`."""
    return _long(arg.split("=", 1)[0])


def controlled_flag(arg: str) -> str | None:
    """The controlled flag `arg` sets (or could set) as vLLM's argparse reads it, None for any other argument.
    argparse takes an unambiguous prefix of a long flag for the flag (`allow_abbrev`, on in vLLM's parser):
    `--api-k=x` sets `--api-key`, `--served-model` sets `--served-model-name`. A prefix of several controlled
    flags (`--max-lora`) is refused too: argparse either picks one of them or stops on the ambiguity."""
    if not isinstance(arg, str) or not arg.startswith("-"):
        return None
    flag = flag_name(arg)
    if flag in CONTROLLED_FLAGS:
        return flag
    if not flag.startswith("--") or len(flag) < 3:
        return None
    matches = [c for c in CONTROLLED_FLAGS if c.startswith(flag)]
    return matches[0] if matches else None


def credential_env(name: str) -> bool:
    """Whether an environment variable of this name holds a credential by convention."""
    return isinstance(name, str) and (name.upper() in CONTROLLED_ENV or bool(CREDENTIAL_ENV.search(name)))


def has_userinfo(text: str) -> bool:
    """Whether `text` holds a URL with userinfo in clear text (`http://user:pass@host`); a secret part that is a
    variable reference (`https://oauth2:$HF_TOKEN@huggingface.co`) is not clear text."""
    if not isinstance(text, str):
        return False
    for m in URL_USERINFO.finditer(text):
        secret = m.group(1).split(":", 1)[-1]
        if not VARIABLE_REFERENCE.fullmatch(secret):
            return True
    return False
