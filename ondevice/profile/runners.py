"""What every target shares about runners: a job, the command-line contract, and reading the output.

Both runners, the native ExecuTorch runner (``cpp/runner.cpp``) and the Python one
(``pyrunner.py``), take the same arguments and print one JSON object on stdout, or
``{"error": "..."}`` with a non-zero exit; as they measure they print ``ondevice: sample_ms=F``
lines on stderr, which is what survives of a run that was cut short.
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

from ondevice.errors import ProfileError

PYRUNNER = Path(__file__).resolve().parent / "pyrunner.py"


class RunnerFailed(ProfileError):
    """A runner exited with an error, crashed or was cut off; ``partial`` holds what it measured."""

    def __init__(self, message: str, partial: dict | None = None):
        super().__init__(message)
        self.partial = partial or {}


@dataclass
class Job:
    """One measurement: an artifact, a runner and the settings to run it with."""

    path: Path
    format: str
    runner: str  # "native" or "python" (others on android)
    method: str | None  # entry point ("forward_32", "serving_default"); None: the runner's default
    seq_len: int | None
    ids: list[int] = field(default_factory=lambda: [101, 2023, 2003, 102])
    threads: int = 2
    warmup: int = 5
    runs: int = 30
    cpus: tuple[int, ...] = ()
    profile_ops: int = 0  # python runner: this many extra runs for per-operator times (0: none)

    def args(self, model: str | None = None) -> list[str]:
        """The runner's command-line arguments; ``model`` overrides the path (a path on a device)."""
        args = ["--model", model or str(self.path), "--threads", str(self.threads)]
        args += ["--warmup", str(self.warmup), "--runs", str(self.runs), "--ids", ",".join(map(str, self.ids))]
        if self.method:
            args += ["--method", self.method]
        if self.profile_ops:
            args += ["--profile-ops", str(self.profile_ops)]
        return args


def partial_results(stderr: str) -> dict:
    """The figures a runner printed on stderr before it stopped."""
    out: dict = {"samples_ms": []}
    for line in stderr.splitlines():
        if not line.startswith("ondevice: ") or "=" not in line:
            continue
        key, _, value = line[len("ondevice: ") :].partition("=")
        try:
            number = float(value)
        except ValueError:
            continue
        if key == "sample_ms":
            out["samples_ms"].append(number)
        elif key in ("load_ms", "first_inference_ms"):
            out[key] = number
    return out


def _signal_of(returncode: int) -> signal.Signals | None:
    # subprocess gives -N for a signal; a shell (adb shell, qemu's own reporting) gives 128+N.
    signum = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    try:
        return signal.Signals(signum) if signum else None
    except ValueError:
        return None


def _describe_exit(returncode: int) -> str:
    sig = _signal_of(returncode)
    return f"crashed ({sig.name})" if sig else f"exited with status {returncode}"


# ExecuTorch's log lines: "E 00:00:00.000867 executorch:program.cpp:592] No segments in program".
_RUNTIME_LOG = re.compile(r"^([DIWEF]) \d+:\d+:\d+\.\d+ [\w.-]+:([\w./-]+:\d+)\] (.*)$")
_ERROR_WORDS = re.compile(r"error|fault|fatal|abort|exception|invalid|corrupt|cannot|failed", re.IGNORECASE)


def _cause(stderr: str) -> str | None:
    """What a runner that stopped said last about why: the runtime's last error, not its chatter.

    ExecuTorch's error and fatal log lines (E, F) are taken as they are; its info, debug and warning
    lines ("Resetting threadpool to 2 threads") say nothing about a failure and are skipped. Of other
    lines (a shell's "Segmentation fault", a Python exception) the last that reads like an error.
    """
    for line in reversed(stderr.strip().splitlines()):
        line = line.strip()
        if not line or line.startswith("ondevice: "):
            continue
        m = _RUNTIME_LOG.match(line)
        if m:
            if m.group(1) in "EF":
                return f"{m.group(3)} [{m.group(2)}]"
            continue
        if _ERROR_WORDS.search(line):
            return line[:200]
    return None


def _stage(partial: dict) -> str:
    """How far a runner got, from the figures it printed before it stopped."""
    if "load_ms" not in partial:
        return "while loading the model"
    if "first_inference_ms" not in partial and not partial.get("samples_ms"):
        return "in its first inference"
    n = len(partial.get("samples_ms") or [])
    return f"after {n} timed run{'s' if n != 1 else ''}" if n else "while warming up"


def parse_output(what: str, stdout: str, stderr: str, returncode: int) -> dict:
    """A runner's JSON result, or RunnerFailed with one clear line and the partial figures."""
    result = None
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                result = None
            break
    partial = partial_results(stderr)
    if isinstance(result, dict) and "error" in result:
        raise RunnerFailed(f"{what}: {result['error']}", partial)
    if returncode != 0 or not isinstance(result, dict):
        raise RunnerFailed(_failure(what, stderr, returncode, partial), partial)
    missing = [k for k in ("samples_ms", "load_ms", "first_inference_ms", "logits") if k not in result]
    if missing:
        raise RunnerFailed(f"{what} printed a result without {', '.join(missing)}", partial)
    return result


def _failure(what: str, stderr: str, returncode: int, partial: dict) -> str:
    """One line for a runner that crashed or stopped without a result: the signal, the cause, the stage.

    A crash before the first inference is almost always a damaged or foreign model file (a runner that
    loads a file with no manifest beside it has no checksum to check it against), and the line says so.
    """
    if returncode == 0:
        return f"{what} printed no result" + (f": {c}" if (c := _cause(stderr)) else "")
    sig = _signal_of(returncode)
    cause = _cause(stderr) or (signal.strsignal(sig) if sig else None)
    stage = _stage(partial)
    line = f"{what} {_describe_exit(returncode)}" + (f": {cause}" if cause else "") + f" ({stage})"
    if sig is not None and stage in ("while loading the model", "in its first inference"):
        line += "; the model file is probably damaged: export it again (a bundle's checksums are checked first)"
    return line


def runtime_section(job: Job, result: dict) -> dict:
    """The record's runtime section from a native or Python runner's output."""
    if job.runner == "native":
        name, version = "executorch", result.get("executorch_version")
    else:
        rt = result.get("runtime", {})
        name, version = rt.get("name"), rt.get("version")
    return {"name": name, "version": version, "runner": job.runner, "runner_version": result.get("runner_version")}
