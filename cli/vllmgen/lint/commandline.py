"""Reading a container's command line as vLLM's argument parser would: flags with `=` or a space, quoted or
not, inside shell scripts (`sh -c "... exec vllm serve ..."`, a bash array of arguments), `_` and `-` alike in
flag names (vLLM's FlexibleArgumentParser accepts both), shell comments ignored, and integer values written
as literals, variables (`$TP_SIZE`) or shell arithmetic (`$((LWS_GROUP_SIZE * DP_SIZE_LOCAL))`).
"""

from __future__ import annotations

import re
import shlex
from typing import Optional

from vllmgen import workloads
from vllmgen.lint import arithmetic

#: Largest count read from a manifest (ports, sizes, parallel sizes): the API's int32 fields end there.
MAX_COUNT = workloads.INT32_MAX

_COMMENT = re.compile(r"(?m)(?:^|(?<=\s))#.*$")
_UNDERSCORE_FLAG = re.compile(r"(?<![\w-])--([A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)+)")
_FLAG_RE_CACHE: dict[str, re.Pattern] = {}
#: `vllm serve MODEL`: the first word after `serve` that is not a flag (quotes and line continuations skipped).
_POSITIONAL_MODEL = re.compile(r"vllm[\"']?(?:\s|\\)+[\"']?serve[\"']?(?:\s|\\)+[\"']*([^\s\"'\\-][^\s\"'\\]*)")


def command_text(command: list[str], args: list[str], scripts: str = "") -> str:
    """command + args (+ scripts the container runs) as one text: comments dropped, flag names with `-`."""
    text = "\n".join(command + args + ([scripts] if scripts else []))
    text = _COMMENT.sub("", text)
    return _UNDERSCORE_FLAG.sub(lambda m: "--" + m.group(1).replace("_", "-"), text)


def flag_value(text: str, *names: str) -> Optional[str]:
    """Value of the last `--name V` / `--name=V` / `"--name" "V"` in a command text (shell arithmetic kept whole)."""
    found = None
    for name in names:
        pat = _FLAG_RE_CACHE.get(name)
        if pat is None:
            pat = re.compile(rf"(?:^|[\s(])[\"']?{re.escape(name)}[\"']?(?:=|(?:\s|\\)+)"
                             rf"(\$\(\([^)]*\)\)|\"[^\"]*\"|'[^']*'|[^\s)]+)")
            _FLAG_RE_CACHE[name] = pat
        for m in pat.finditer(text):
            found = m.group(1).strip("\"'")
    return found


#: Words that end a flag's list of values in a shell line.
_SHELL_BREAKS = (";", "&&", "||", "|", "&", "\\")


def flag_values(text: str, name: str) -> list[str]:
    """Values of the last `--name V1 V2 ...` (a flag that takes several, such as `--lora-modules`): the words
    after it up to the next flag or the end of the shell command; `--name=V` gives one."""
    found: list[str] = []
    for m in re.finditer(rf"(?:^|[\s(])[\"']?{re.escape(name)}[\"']?(=|\s|$)", text):
        rest = text[m.end():]
        try:
            words = shlex.split(rest, comments=False)
        except ValueError:  # an unbalanced quote further on: plain words
            words = rest.split()
        if m.group(1) == "=":
            found = words[:1]
            continue
        found = []
        for word in words:
            if word.startswith("-") or word in _SHELL_BREAKS:
                break
            found.append(word)
    return found


def has_flag(text: str, *names: str) -> bool:
    return any(re.search(rf"(?:^|[\s(])[\"']?{re.escape(name)}[\"']?(?:=|\s|$|\))", text) is not None
               for name in names)


def positional_model(text: str) -> Optional[str]:
    """The model `vllm serve` is given (its positional argument, or `--model`)."""
    m = _POSITIONAL_MODEL.search(text)
    if m is not None:
        return m.group(1)
    return flag_value(text, "--model")


def evaluate(value: Optional[str], variables: dict[str, Optional[int]]) -> Optional[int]:
    """An integer flag value: a literal, `$VAR`/`${VAR}`/`$(VAR)`, or shell arithmetic `$((A * B))`."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        return to_int(value)
    m = re.fullmatch(r"\$\{?\(?([A-Za-z_][A-Za-z0-9_]*)\)?\}?", value)
    if m:
        return variables.get(m.group(1))
    m = re.fullmatch(r"\$\(\((.*)\)\)", value, re.DOTALL)
    if not m:
        return None
    unknown = []

    def substitute(name: re.Match) -> str:
        v = variables.get(name.group(1))
        if v is None:
            unknown.append(name.group(1))
        return str(v)

    expr = re.sub(r"\$?\{?\b([A-Za-z_][A-Za-z0-9_]*)\b(?::-[^}]*)?\}?", substitute, m.group(1))
    return None if unknown else to_int(arithmetic.evaluate(expr))


def to_int(value) -> Optional[int]:
    """A whole number from a manifest field or flag (digits in a string count), up to MAX_COUNT."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii() and len(value.strip()) <= 10:
        value = int(value.strip())
    if isinstance(value, int) and value <= MAX_COUNT:
        return value
    return None


def to_float(value) -> Optional[float]:
    """A non-negative number of seconds written as a flag value."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 <= number < 10**9 else None
