"""Schema pattern failures in words: what each pattern of the spec schema asks for, and the obvious repair of a
near miss ("did you mean `hf://Qwen/Qwen3-8B`?"), instead of the regular expression. A repair is offered only
when it matches the pattern itself."""

from __future__ import annotations

import re
from collections.abc import Callable

from vllmgen import quantities

SOURCE = (r"^(hf://[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*|pvc://[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?"
          r"(/[^\s\x00-\x1f\x7f]*)?|/[^\s\x00-\x1f\x7f]*)$")

#: Pattern -> what it asks for, in words. A test checks every pattern of the spec schema is here.
WORDS: dict[str, str] = {
    SOURCE: "a model source: `hf://ORG/NAME` (the Hugging Face hub), `pvc://CLAIM/PATH` (a PersistentVolumeClaim) "
            "or an absolute path inside the image",
    r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$": "a name of 1 to 128 letters, digits, `.`, `_`, `/` or `-`, starting with a "
                                            "letter or digit",
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$": "a Kubernetes object name: lower-case letters, digits, `-` and `.`, "
                                         "starting and ending with a letter or digit",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "a DNS label: lower-case letters, digits and `-`, starting and ending "
                                        "with a letter or digit",
    r"^[-._a-zA-Z0-9]+$": "a Secret key: letters, digits, `-`, `_` and `.`",
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$": "a name of 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit",
    r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?((a|b|rc)[0-9]+)?$": "a vLLM release such as `0.11.0` (or `v0.11.0`, or a "
                                                       "pre-release such as `0.11.0rc1`)",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name: letters, digits and `_`, not starting with a digit",
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$":
        "an extended resource name such as `nvidia.com/gpu`: a lower-case DNS prefix, `/`, then letters, digits, "
        "`-`, `_` and `.` (the API server refuses an unprefixed name in a container's resources)",
    r"^(model-cache|pvc://[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?(/[^\s]*)?)?$": "`model-cache` (the chart's claim), "
                                                                      "`pvc://CLAIM[/PATH]` or empty",
    r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$": "an image reference "
        "`REPOSITORY[:TAG][@sha256:DIGEST]`, the repository in lower case",
    quantities.QUANTITY_PATTERN: "a Kubernetes quantity such as `2Gi`, `2G`, `1.5Gi` or `2048Mi`",
    r"^[a-z0-9][a-z0-9._/:-]*$": "an image repository in lower case (registry, path and name)",
    r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$": "an image tag: up to 128 letters, digits, `_`, `.` and `-`, not "
                                           "starting with `.` or `-`",
    r"^https?://[^\s]+$": "an `http://` or `https://` URL",
    r"^[a-zA-Z_][a-zA-Z0-9_.-]*$": "a name of letters, digits, `_`, `.` and `-`, starting with a letter or `_`",
}

_HUB_URL = re.compile(r"^(?:https?://)?(?:www\.)?huggingface\.co/([^/\s]+/[^/\s]+?)(?:/.*)?$")


def _sizes(text: str) -> list[str]:
    size = re.sub(r"\s+", "", text)
    binary = re.sub(r"(?i)([0-9.])([kmgtpe])ib?$", lambda m: m.group(1) + m.group(2).upper() + "i", size)
    decimal = re.sub(r"(?i)([0-9.])([kmgtpe])b?$",
                     lambda m: m.group(1) + ("k" if m.group(2) in "kK" else m.group(2).upper()), size)
    return [binary, decimal, size]


def _candidates(text: str) -> list[str]:
    """Repairs of common near misses, most specific first."""
    out = []
    hub = _HUB_URL.match(text)
    if hub:
        out.append(f"hf://{hub.group(1)}")
    out.append(f"hf://{text.removeprefix('hf:/').removeprefix('hf:')}")  # ORG/NAME, hf:/ORG/NAME
    out.append(re.sub(r"^pvc:/*", "pvc://", text))
    out.append(f"pvc://{text}")
    out.append(f"http://{text}")
    if re.match(r"^\s*[+]?[0-9.]", text):  # a size: `2 Gi`, `2GB`, `2GiB`, `2gi`
        out.extend(_sizes(text))
    release = re.match(r"^v?([0-9]+\.[0-9]+(?:\.[0-9]+)?(?:(?:a|b|rc)[0-9]+)?)", text)
    if release:
        out.append(release.group(1))
    lower = text.lower()
    out.append(lower)
    out.append(re.sub(r"[^a-z0-9.-]+", "-", lower).strip("-."))
    out.append(re.sub(r"[^a-z0-9-]+", "-", lower).strip("-"))
    out.append(re.sub(r"[^A-Za-z0-9_]", "_", text))
    out.append(re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-."))
    return out


def suggestion(pattern: str, value: str) -> str | None:
    """An obvious repair of `value` that matches `pattern`; None when there is none."""
    if not isinstance(value, str) or not value:
        return None
    matches: Callable[[str], bool] = re.compile(pattern).search
    for candidate in _candidates(value):
        if candidate and candidate != value and matches(candidate):
            return candidate
    return None


def explain(pattern: str, value, description: str | None = None) -> str:
    """`'Qwen/Qwen3-8B' is not a model source: ... ; did you mean `hf://Qwen/Qwen3-8B`?`"""
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    words = WORDS.get(pattern) or (description.split(". ")[0].rstrip(".") if description else None)
    text = f"{shown} is not {words}" if words else f"{shown} does not match the expected form {pattern}"
    fix = suggestion(pattern, value)
    return f"{text}; did you mean `{fix}`?" if fix else text
