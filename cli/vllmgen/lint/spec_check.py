"""VG000 for model specs: a spec (alone, or embedded in values under `spec:`) checked as `vllmgen values` would,
schema first, then the cross-field rules."""

from __future__ import annotations

from vllmgen.errors import InputError, InputErrors
from vllmgen.lint.findings import Hit


def _path_of(pointer_text: str, data) -> tuple:
    """JSON pointer -> path of keys and list indices inside `data` (for the line number)."""
    path: list = []
    node = data
    for raw in pointer_text.split("/")[1:] if pointer_text else []:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and key.isdigit():
            key = int(key)
        path.append(key)
        node = node[key] if isinstance(node, (dict, list)) and key in (node if isinstance(node, dict)
                                                                          else range(len(node))) else None
    return tuple(path)


def load_errors(data) -> tuple[dict | None, list[InputError]]:
    """The effective spec, or the errors that keep `data` from being one."""
    from vllmgen.spec import effective

    try:
        return effective(data), []
    except InputErrors as exc:
        return None, exc.errors
    except InputError as exc:
        return None, [exc]


def spec_hits(data, prefix: tuple = ()) -> list[Hit]:
    """VG000 hits for a spec at `prefix` inside its document (() for a spec file, ("spec",) inside values)."""
    _, errors = load_errors(data)
    where = "".join(f"/{p}" for p in prefix)
    return [Hit("VG000", prefix + _path_of(e.pointer, data), f"model spec: {where}{e.pointer or ''}: {e.message}"
                if where else f"model spec: {e.pointer or '(document)'}: {e.message}") for e in errors]
