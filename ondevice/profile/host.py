"""``--target host``: this machine's CPU. Each measurement runs in a child process, pinned with ``taskset``
when the target names cores: the Python runtimes through ``pyrunner.py`` and ``.pte`` files also through
the native ExecuTorch runner."""

from __future__ import annotations

import glob
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from ondevice.errors import ProfileError
from ondevice.profile import native
from ondevice.profile.runners import PYRUNNER, Job, RunnerFailed, parse_output, partial_results, runtime_section
from ondevice.profile.targets import Target

RUN_TIMEOUT_S = 3600


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_facts() -> dict:
    """CPU model, core count, max frequencies and governor of this Linux machine, where readable."""
    model = None
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "Model") and value.strip():
            model = value.strip()
            break
    freqs = []
    for cpu in sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq")):
        value = _read(cpu)
        if value and value.isdigit():
            freqs.append(int(value))
    return {
        # The machine's product name where the firmware gives one (not the host name: records are shared).
        "model": _read("/sys/class/dmi/id/product_name"),
        "soc": model,
        "abi": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "kernel": platform.release(),
        "cores": os.cpu_count(),
        "max_freq_khz": freqs or None,
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
    }


def sensors() -> dict:
    """The hottest thermal zone (°C) and the battery level (%), where this machine has them."""
    temps = []
    for zone in glob.glob("/sys/class/thermal/thermal_zone*/temp"):
        value = _read(zone)
        if value and value.lstrip("-").isdigit():
            temps.append(int(value) / 1000)
    battery = None
    for cap in glob.glob("/sys/class/power_supply/*/capacity"):
        value = _read(cap)
        if value and value.isdigit():
            battery = int(value)
    return {"temperature_c": max(temps) if temps else None, "battery": battery}


def run_process(cmd: list[str], what: str, env: dict | None = None, timeout: float = RUN_TIMEOUT_S) -> dict:
    """Run a runner command to the end and read its result (RunnerFailed on any failure).

    A timeout or Ctrl-C stops the runner; what it had measured comes with the RunnerFailed.
    """
    try:
        # A damaged model can put any bytes into a runner's messages (a method name read from it): replace,
        # never fail on them.
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", env=env
        )
    except OSError as e:
        raise ProfileError(f"{what}: cannot start {cmd[0]}: {e.strerror}") from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except (subprocess.TimeoutExpired, KeyboardInterrupt) as e:
        proc.kill()
        _, stderr = proc.communicate()
        why = "was interrupted" if isinstance(e, KeyboardInterrupt) else f"did not finish within {timeout:.0f} s"
        raise RunnerFailed(f"{what} {why}", partial_results(stderr)) from None
    return parse_output(what, stdout, stderr, proc.returncode)


class HostBackend:
    """Runs jobs on this machine."""

    def __init__(self, target: Target, status=None):
        self.target = target
        self.status = status
        self.runner_binary: Path | None = None

    def prepare(self, jobs: list[Job]) -> None:
        if any(j.runner == "native" for j in jobs):
            self.runner_binary = native.build()
        if any(j.cpus for j in jobs) and shutil.which("taskset") is None:
            raise ProfileError("taskset is not installed (Debian package util-linux); it pins the target's cores")

    def device(self) -> dict:
        return cpu_facts()

    def sensors(self) -> dict:
        return sensors()

    def command(self, job: Job) -> list[str]:
        if job.runner == "native":
            if job.format != "executorch":
                raise ProfileError(f"the native runner runs .pte files only, not {job.path.name}")
            cmd = [str(self.runner_binary or native.build()), *job.args()]
        elif job.runner == "python":
            cmd = [sys.executable, str(PYRUNNER), *job.args()]
        else:
            raise ProfileError(f"runner {job.runner!r} does not run on the host")
        if job.cpus:
            cmd = ["taskset", "-c", ",".join(map(str, job.cpus)), *cmd]
        return cmd

    def run(self, job: Job) -> dict:
        return run_process(self.command(job), f"{job.runner} runner on {job.path.name}")

    def runtime(self, job: Job, result: dict) -> dict:
        return runtime_section(job, result)

    def close(self) -> None:
        pass
