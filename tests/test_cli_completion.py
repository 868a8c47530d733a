"""Shell completion is on: `vllmgen --install-completion` / `--show-completion` (Typer), and the completion
protocol the installed script speaks completes commands and choices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
AS_VLLMGEN = "import sys; sys.argv[0] = 'vllmgen'; from vllmgen.cli import main; main()"


def _run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", AS_VLLMGEN, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO / "cli"), **(env or {})})


def test_help_offers_completion_install():
    res = _run(["--help"])
    assert res.returncode == 0 and "--install-completion" in res.stdout and "--show-completion" in res.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_script_names_vllmgen(shell):
    res = _run(["--show-completion", shell])
    assert res.returncode == 0, res.stderr
    assert "_VLLMGEN_COMPLETE" in res.stdout


@pytest.mark.parametrize(("words", "cword", "expected"), [("vllmgen va", 1, {"values", "validate"}),
                                                         ("vllmgen values --layout w", 3, {"wide-ep"}),
                                                         ("vllmgen values --role ", 3, {"standalone", "prefill", "decode"})])
def test_bash_completion_completes_commands_and_choices(words, cword, expected):
    res = _run([], {"_VLLMGEN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert res.returncode == 0, res.stderr
    assert set(res.stdout.split()) == expected
