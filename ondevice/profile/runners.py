"""What every target shares about runners: a job, the command-line contract, and reading the output.

Both runners, the native ExecuTorch runner (``cpp/runner.cpp``) and the Python one
(``pyrunner.py``), take the same arguments and print one JSON object on stdout, or
``{"error": "..."}`` with a non-zero exit; as they measure they print ``ondevice: sample_ms=F``
lines on stderr, which is what survives of a run that was cut short.
"""

from __future__ import annotations

import json
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


def _describe_exit(returncode: int) -> str:
    # subprocess gives -N for a signal; a shell (adb shell, qemu's own reporting) gives 128+N.
    signum = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    if signum:
        try:
            return f"crashed ({signal.Signals(signum).name})"
        except ValueError:
            pass
    return f"exited with status {returncode}"


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
        detail = _describe_exit(returncode) if returncode != 0 else "printed no result"
        last = [line for line in stderr.strip().splitlines() if not line.startswith("ondevice: ")]
        hint = f": {last[-1].strip()[:200]}" if last else ""
        raise RunnerFailed(f"{what} {detail}{hint}", partial)
    missing = [k for k in ("samples_ms", "load_ms", "first_inference_ms", "logits") if k not in result]
    if missing:
        raise RunnerFailed(f"{what} printed a result without {', '.join(missing)}", partial)
    return result


def runtime_section(job: Job, result: dict) -> dict:
    """The record's runtime section from a native or Python runner's output."""
    if job.runner == "native":
        name, version = "executorch", result.get("executorch_version")
    else:
        rt = result.get("runtime", {})
        name, version = rt.get("name"), rt.get("version")
    return {"name": name, "version": version, "runner": job.runner, "runner_version": result.get("runner_version")}
