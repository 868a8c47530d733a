"""The `vllmgen` command line. Each command imports its module lazily: `vllmgen values` must start cold
in well under 0.35 s, so nothing heavy (helm, httpx, jsonschema) is imported at module level."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from vllmgen.errors import EXIT_INPUT, InputError, InputErrors

app = typer.Typer(
    name="vllmgen",
    help="vLLM on Kubernetes behind model-aware probes: spec -> Helm values, lint, probe emulator, supervisor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail_input(exc: InputError | InputErrors) -> None:
    """Print bad-input errors (one line each) on stderr and exit 2: never a traceback."""
    errors = exc.errors if isinstance(exc, InputErrors) else [exc]
    for err in errors:
        typer.echo(f"error: {err.format()}", err=True)
    raise typer.Exit(EXIT_INPUT)


def main() -> None:
    try:
        app()
    except (InputError, InputErrors) as exc:  # commands normally catch these; this is the backstop
        errors = exc.errors if isinstance(exc, InputErrors) else [exc]
        for err in errors:
            print(f"error: {err.format()}", file=sys.stderr)
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:
        sys.exit(130)


# --- commands are registered below, one block each, owned by their modules' authors -------------------
