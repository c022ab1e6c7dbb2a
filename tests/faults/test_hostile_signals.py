"""Fault class "signal": SIGTERM, SIGHUP and SIGINT at random points of an export, a fine-tuning and a
compression. Every one ends with one `Error:` line, the shell's exit code for that signal, and
nothing left on disk: no bundle, no checkpoint, no staged directory.

The points are drawn from a seeded generator (reproducible) and counted from the moment the
command's staged output appears, so each lands while something is being written; a point past the
end of the work would let the command finish, which the test reports as a failure to place it.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from harness import Case, check, compress_argv, export_argv, finetune_argv

_rng = random.Random(17)


def staged(ws: Path) -> bool:
    """Whether the command has started writing: its staged output exists in the workspace."""
    return any(".ondevice-tmp-" in p.name for p in ws.iterdir())


EXPORT = export_argv("bundle", formats="executorch,tflite,onnx", quantize="fp32,int8-dynamic")
FINETUNE = finetune_argv("ckpt", epochs=200)


def COMPRESS(ws: Path) -> list[str]:
    """A compression that is still distilling when the signal comes (the shipped recipes finish in
    seconds on the tiny model)."""
    (ws / "long.toml").write_text(
        'name = "long"\n[[step]]\nkind = "prune"\nheads = 0.25\n[[step]]\nkind = "distill"\nepochs = 500.0\n'
    )
    return compress_argv("ckpt", recipe="long.toml")


# (case, signal, seconds after the start, whether to wait for the staged output first)
POINTS = [
    (Case("signal", "SIGTERM while export starts up", EXPORT, "stopped by SIGTERM", exit=143), 1.0, False),
    *[
        (
            Case("signal", f"SIGTERM {d:.1f} s into writing the bundle", EXPORT, "stopped by SIGTERM", exit=143),
            d,
            True,
        )
        for d in sorted(_rng.uniform(0, 12) for _ in range(3))
    ],
    (
        Case("signal", "SIGHUP while writing the bundle", EXPORT, "stopped by SIGHUP", exit=129),
        _rng.uniform(0, 8),
        True,
    ),
    (
        Case("signal", "SIGINT while writing the bundle", EXPORT, "stopped by Ctrl-C", exit=130),
        _rng.uniform(0, 8),
        True,
    ),
    (
        Case("signal", "SIGTERM during fine-tuning", FINETUNE, "stopped by SIGTERM", exit=143),
        _rng.uniform(8, 14),
        False,
    ),
    (
        Case("signal", "SIGTERM during compression", COMPRESS, "stopped by SIGTERM", exit=143),
        _rng.uniform(8, 14),
        False,
    ),
]


@pytest.mark.parametrize("case,delay,wait_for_staged", POINTS, ids=[p[0].id for p in POINTS])
def test_signal(case, delay, wait_for_staged, workspace, tiny_bert_dir):
    (workspace.parent / "model").symlink_to(tiny_bert_dir)
    signum = {143: signal.SIGTERM, 129: signal.SIGHUP, 130: signal.SIGINT}[case.exit]
    if wait_for_staged:
        appeared: list[float] = []

        def ready() -> bool:
            if not appeared and staged(workspace):
                appeared.append(time.monotonic())
            return bool(appeared) and time.monotonic() - appeared[0] >= delay

        check(case, workspace, signal_after=(0.0, signum), signal_when=ready)
    else:
        check(case, workspace, signal_after=(delay, signum))


SWALLOWED = """
import os, signal, sys
from pathlib import Path

import click

from ondevice import output
from ondevice.cli_common import handle_errors


class SignalledWhileCollected:
    def __del__(self):  # Python prints and swallows an exception raised here
        os.kill(os.getpid(), signal.SIG{name})
        for _ in range(10_000):
            pass


@click.command()
@click.argument("out", type=click.Path(path_type=Path))
@handle_errors
def write(out):
    SignalledWhileCollected()
    output.write_text(out / "result.txt", "finished")


output.install_signal_handlers()
write()
"""


@pytest.mark.parametrize("name,code", [("TERM", 143), ("INT", 130)])
def test_signal_swallowed_by_a_finalizer(name, code, tmp_path):
    """A signal that lands in a __del__ or a weakref callback (as one did during an export, in a
    torch weakref callback) has its exception swallowed by Python; the command must still stop
    before it commits anything, without a traceback, with the signal's exit code."""
    import subprocess
    import sys

    script = tmp_path / "swallow.py"
    script.write_text(SWALLOWED.format(name=name))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: stopped by"), done.stderr
    assert "nothing was left half-written" in lines[0]
    assert not out.exists() or list(out.iterdir()) == [], sorted(p.name for p in out.iterdir())
