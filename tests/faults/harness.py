"""The fault-injection harness: run the real `ondevice` command in its own process on a hostile input
or under a fault, and check what a user sees and what is left on disk.

Every case must end with: the expected non-zero exit, exactly one line starting with ``Error:``, no
``Traceback``, no file or directory created or changed outside what the case allows, and, where the
case says so, a peak resident memory under a bound. A case is a row of a table (``Case``); each
test module holds the table of one class of faults and hands each row to ``check``.

Set ONDEVICE_FAULT_LOG=FILE to append one JSON line per case (class, case, exit, outcome, peak
memory, seconds): the table of the suite.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

CLI = Path(sys.executable).with_name("ondevice")
SST2_SAMPLE = Path(__file__).resolve().parents[2] / "ondevice" / "assets" / "sst2_dev_sample.tsv"


@dataclass
class Result:
    exit: int
    stdout: str
    stderr: str
    peak_rss_mb: float
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return [line for line in (self.stdout + self.stderr).splitlines() if line.startswith("Error:")]


@dataclass
class Case:
    """One hostile input or fault.

    Args:
        klass: the class of fault (output, signal, data, unicode, manifest, model, report, ...).
        name: what the case is, in a few words (the test id).
        argv: the command line after ``ondevice``, or a function of the case's workspace that makes
            the hostile files and returns the command line.
        message: a piece of text the ``Error:`` line must contain (lower case compared).
        exit: the expected exit code; None for any non-zero one.
        max_rss_mb: a bound on the command's peak resident memory.
        allowed: paths (relative to the workspace) the command may create, e.g. a valid output.
        stdin: bytes fed to the command.
    """

    klass: str
    name: str
    argv: list[str] | Callable[[Path], list[str]]
    message: str = ""
    exit: int | None = None
    max_rss_mb: float | None = None
    allowed: tuple[str, ...] = ()
    stdin: bytes = b""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.klass}:{self.name}"


def run_cli(
    argv: list[str | bytes],
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: bytes = b"",
    timeout: float = 600,
    signal_after: tuple[float, int] | None = None,
    signal_when: Callable[[], bool] | None = None,
    prefix: tuple[str, ...] = (),
) -> Result:
    """Run ``ondevice ARGV`` in its own process and measure its own peak RSS (see ``_peak_rss_mb``).

    ``signal_after=(seconds, signum)`` sends a signal after a delay, or once ``signal_when()`` turns
    true after that delay (polled every 50 ms). ``prefix`` runs the command through another one
    (``setpriv`` to run it as another user).
    """
    full_env = {**os.environ, "ONDEVICE_PROGRESS": "0", "HF_HUB_OFFLINE": "1", **(env or {})}
    hwm_kb = 0  # the child's own peak, polled: see _peak_rss_mb
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [*prefix, str(CLI), *argv],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}
    readers = [
        threading.Thread(target=lambda s=stream, k=key: chunks[k].append(s.read()), daemon=True)
        for key, stream in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for r in readers:
        r.start()
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    signalled = signal_after is None
    while True:
        # wait4 on this one process: its exit status and rusage, not those of other children
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        elapsed = time.monotonic() - t0
        if elapsed > timeout:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise AssertionError(f"ondevice {argv} ran past {timeout} s")
        if not signalled and elapsed >= signal_after[0] and (signal_when is None or signal_when()):
            proc.send_signal(signal_after[1])
            signalled = True
        hwm_kb = max(hwm_kb, _vm_hwm_kb(proc.pid))
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    return Result(
        proc.returncode,
        b"".join(chunks["out"]).decode("utf-8", "replace"),
        b"".join(chunks["err"]).decode("utf-8", "replace"),
        _peak_rss_mb(usage.ru_maxrss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, hwm_kb),
        time.monotonic() - t0,
    )


def _vm_hwm_kb(pid: int) -> int:
    """The process's own peak resident memory so far (VmHWM, kB); 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass  # gone, or no /proc: the caller falls back on ru_maxrss
    return 0


def _peak_rss_mb(ru_maxrss_kb: int, own_peak_kb: int, hwm_kb: int) -> float:
    """The child's peak RSS. Linux hands a child the high-water mark of the memory it was forked from
    (this test process) at exec, so ru_maxrss is at least our own peak: above it, it is the child's
    own; at or below it, the child's VmHWM polled while it ran is (missing at most a peak in its
    last 50 ms)."""
    if ru_maxrss_kb > own_peak_kb or hwm_kb == 0:
        return ru_maxrss_kb / 1024
    return hwm_kb / 1024


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time (what a case may not change)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                st = p.lstat()
            except OSError:
                continue
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns if not p.is_dir() else 0)
    return out


def check(case: Case, workspace: Path, **run_kwargs) -> Result:
    """Run one case in ``workspace`` and assert the clean-failure contract; log it if asked."""
    argv = case.argv(workspace) if callable(case.argv) else list(case.argv)
    before = snapshot(workspace)
    result = run_cli(argv, workspace, env=case.env, stdin=case.stdin, **run_kwargs)
    after = snapshot(workspace)
    problems = []
    if result.exit == 0:
        problems.append("exit 0")
    elif case.exit is not None and result.exit != case.exit:
        problems.append(f"exit {result.exit}, expected {case.exit}")
    if "Traceback" in result.stdout + result.stderr:
        problems.append("a traceback")
    if len(result.error_lines) != 1:
        problems.append(f"{len(result.error_lines)} 'Error:' lines")
    elif case.message.lower() not in result.error_lines[0].lower():
        problems.append(f"the Error line lacks {case.message!r}")
    allowed = tuple(case.allowed)
    changed = sorted(
        p
        for p in set(after) | set(before)
        if before.get(p) != after.get(p) and not any(p == a or p.startswith(a + "/") for a in allowed)
    )
    if changed:
        problems.append(f"left on disk: {changed[:5]}")
    if case.max_rss_mb is not None and not result.peak_rss_mb <= case.max_rss_mb:
        problems.append(f"peak memory {result.peak_rss_mb:.0f} MB > {case.max_rss_mb:.0f} MB")
    log(case, result, problems)
    assert not problems, (
        f"{case.id}: " + "; ".join(problems) + f"\n--- exit {result.exit}\n--- stdout\n{result.stdout[-2000:]}"
        f"\n--- stderr\n{result.stderr[-3000:]}"
    )
    return result


def log(case: Case, result: Result, problems: list[str]) -> None:
    path = os.environ.get("ONDEVICE_FAULT_LOG")
    if not path:
        return
    line = {
        "class": case.klass,
        "case": case.name,
        "exit": result.exit,
        "outcome": "; ".join(problems) if problems else (result.error_lines[0] if result.error_lines else ""),
        "passed": not problems,
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "seconds": round(result.seconds, 2),
    }
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")


def copy_bundle(bundle: Path, where: Path, name: str = "bundle") -> Path:
    """A copy of a bundle inside a case's workspace, to damage."""
    return Path(shutil.copytree(bundle, where / name))


# Command lines on the tiny model, which the tests link at ../model beside the workspace (the
# command's working directory); what they write goes to OUT inside the workspace.
MODEL = "../model"


def export_argv(out: str, *extra: str, formats: str = "onnx", quantize: str = "fp32") -> list[str]:
    return ["export", MODEL, "--target", "host", "--format", formats, "--quantize", quantize, "--seq-len", "16",
            "--data", str(SST2_SAMPLE), "--out", out, *extra]  # fmt: skip


def finetune_argv(out: str, epochs: int = 1) -> list[str]:
    # the tiny model's head has three labels; SST-2's 0 and 1 are indices into them
    return ["finetune", MODEL, "--train", str(SST2_SAMPLE), "--dev", str(SST2_SAMPLE), "--labels", "neg,neu,pos",
            "--max-length", "16", "--epochs", str(epochs), "--out", out]  # fmt: skip


def compress_argv(out: str, *extra: str, recipe: str = "conservative") -> list[str]:
    return ["compress", MODEL, "--recipe", recipe, "--data", str(SST2_SAMPLE), "--dev", str(SST2_SAMPLE),
            "--out", out, *extra]  # fmt: skip
