"""Fixtures for Android devices in tests: the stand-in ADB device (adb_device.py) reached through the real adb client.

The test session's adb calls go to its own server on a free port (ANDROID_ADB_SERVER_PORT, which adb
and ondevice both follow), killed at the end; each stand-in is disconnected and closed after its test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from adb_device import AdbDevice, DeviceSpec

CROSS_SYSROOT = Path("/usr/aarch64-linux-gnu")  # the aarch64 libc and libstdc++ of g++-aarch64-linux-gnu


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def private_adb_server():
    """Every adb call of the session goes to a server on a free port (ANDROID_ADB_SERVER_PORT), never the
    user's on 5037; adb starts it on first use and it is killed at the end."""
    port = _free_port()
    old = os.environ.get("ANDROID_ADB_SERVER_PORT")
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(port)
    yield port
    if shutil.which("adb"):
        subprocess.run(["adb", "-P", str(port), "kill-server"], capture_output=True, timeout=60)
    if old is None:
        os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
    else:
        os.environ["ANDROID_ADB_SERVER_PORT"] = old


@pytest.fixture
def adb_port(private_adb_server, monkeypatch):
    if shutil.which("adb") is None:
        pytest.skip("adb is not installed (Debian package adb; `ondevice setup`)")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(private_adb_server))
    return private_adb_server


def aarch64_sysroot() -> str | None:
    """Where qemu finds the aarch64 loader and libraries, None when this machine cannot run aarch64 code."""
    if shutil.which("qemu-aarch64-static") is None:
        return None
    return str(CROSS_SYSROOT) if (CROSS_SYSROOT / "lib" / "ld-linux-aarch64.so.1").exists() else None


@pytest.fixture
def connect_device(adb_port, tmp_path):
    """Start stand-in devices and `adb connect` them; all are disconnected and closed after the test."""
    started: list[AdbDevice] = []

    def connect(spec: DeviceSpec | None = None, name: str = "device") -> AdbDevice:
        spec = spec or DeviceSpec()
        if spec.sysroot is None:
            spec.sysroot = aarch64_sysroot()
        device = AdbDevice(tmp_path / f"{name}{len(started)}", spec)
        started.append(device)
        done = subprocess.run(["adb", "-P", str(adb_port), "connect", device.serial], capture_output=True, text=True)
        assert "connected to" in done.stdout, done.stdout + done.stderr
        return device

    yield connect
    for device in started:
        subprocess.run(["adb", "-P", str(adb_port), "disconnect", device.serial], capture_output=True, timeout=30)
        device.close()
