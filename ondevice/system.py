"""The Debian packages that the profiling targets, the emulated ARM CPU and the Java tests need.

`ondevice setup` installs what is missing (as root, with apt-get) or says which command would.
Each tool is found by an executable on PATH or by a file that its package installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ondevice.errors import OndeviceError


@dataclass(frozen=True)
class SystemTool:
    name: str
    package: str  # Debian package that provides it
    purpose: str
    executable: str | None = None  # found on PATH ...
    path: str | None = None  # ... or at this file

    def location(self) -> str | None:
        if self.executable:
            return shutil.which(self.executable)
        return self.path if self.path and Path(self.path).exists() else None


TOOLS = (
    SystemTool("adb", "adb", "profiling on Android devices and emulators", executable="adb"),
    SystemTool(
        "qemu-aarch64-static", "qemu-user-static", "the emulated ARM64 target", executable="qemu-aarch64-static"
    ),
    SystemTool(
        "aarch64 g++", "g++-aarch64-linux-gnu", "the native runner for ARM64", executable="aarch64-linux-gnu-g++"
    ),
    SystemTool("javac", "default-jdk-headless", "the Android demo's Java core and its tests", executable="javac"),
    SystemTool("JUnit 4", "junit4", "the Java core's unit tests", path="/usr/share/java/junit4.jar"),
    SystemTool("Hamcrest", "libhamcrest-java", "JUnit 4's matchers", path="/usr/share/java/hamcrest-core.jar"),
)


def check() -> list[dict]:
    """One record per tool: name, package, purpose and where it was found (None when missing)."""
    return [{"name": t.name, "package": t.package, "purpose": t.purpose, "found": t.location()} for t in TOOLS]


def missing_packages() -> list[str]:
    return sorted({t.package for t in TOOLS if t.location() is None})


def install(packages: list[str]) -> None:
    """Install Debian packages with apt-get; needs root and apt."""
    if not packages:
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if shutil.which("apt-get") is None:
        raise OndeviceError(f"apt-get not found; install these packages with your system's tools: {' '.join(packages)}")
    if os.geteuid() != 0:
        raise OndeviceError(f"installing system packages needs root: sudo {' '.join(command)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-q"], command):
        done = subprocess.run(step, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise OndeviceError(f"{' '.join(step[:2])} failed ({done.returncode}): {tail[0]}")
