"""`ondevice devices`: where profiling can run here: adb devices, the host, the emulated ARM64 CPU."""

from __future__ import annotations

import os
import platform
import shutil

import click

from ondevice.cli_common import emit, handle_errors
from ondevice.errors import DeviceError


def host_facts() -> dict:
    return {
        "available": True,
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def qemu_facts() -> dict:
    """The emulated ARM64 target needs qemu-aarch64-static and the aarch64 cross compiler (for its runner)."""
    from ondevice import system

    needed = [t for t in system.TOOLS if t.package in ("qemu-user-static", "g++-aarch64-linux-gnu")]
    missing = [t for t in needed if t.location() is None]
    from ondevice.profile import qemu

    sysroot = qemu.sysroot_dir()
    return {
        "available": not missing,
        "qemu": shutil.which("qemu-aarch64-static"),
        "sysroot": str(sysroot) if sysroot.is_dir() else None,  # set up by the first profile run
        "missing": [f"{t.name} (Debian package {t.package})" for t in missing],
        "how": "ondevice setup" if missing else None,
        "note": "emulated: checks outputs and relative cost, never a phone's speed",
    }


def android_devices() -> dict:
    """Every device adb sees, with facts for those that answer; what is missing when adb is absent."""
    from ondevice.profile.adb import Adb

    try:
        adb = Adb(timeout=60)
    except DeviceError as e:
        return {"available": False, "adb": None, "missing": [str(e)], "how": "ondevice setup", "devices": []}
    devices = []
    for d in adb.devices():
        entry = {"serial": d.serial, "state": d.state, "model": d.model.replace("_", " ")}
        if d.state == "device":
            try:
                entry.update(adb.on(d.serial).facts())
            except DeviceError as e:
                entry["error"] = str(e)
        devices.append(entry)
    return {"available": True, "adb": adb.binary, "missing": [], "how": None, "devices": devices}


def _device_line(d: dict) -> str:
    if d["state"] != "device" or "error" in d:
        return f"  {d['serial']:<22} {d['state']}  {d.get('error', '')}".rstrip()
    freqs = d.get("max_freq_khz") or []
    ghz = f"max {max(freqs) / 1e6:.2f} GHz" if freqs else "frequencies unreadable"
    return (
        f"  {d['serial']:<22} {d['model']}  {d['soc'] or 'unknown SoC'}  {d['abi']}  "
        f"Android {d['android_version']} (SDK {d['sdk']})  {d['cores']} cores  {ghz}"
    )


def _text(data: dict) -> str:
    android = data["android"]
    lines = ["android (adb):"]
    if not android["available"]:
        lines.append(f"  unavailable: {'; '.join(android['missing'])} (get it with `{android['how']}`)")
    elif not android["devices"]:
        lines.append("  no device attached (USB debugging on, or `adb connect HOST:PORT`)")
    lines += [_device_line(d) for d in android["devices"]]
    h = data["host"]
    lines.append(f"host: {h['machine']}, {h['cores']} cores, {h['system']}")
    q = data["qemu"]
    if q["available"]:
        where = f"arm64 sysroot {q['sysroot']}" if q["sysroot"] else "the arm64 sysroot is set up on first use"
        lines.append(f"linux-arm64-qemu: ready ({q['qemu']}; {where}; {q['note']})")
    else:
        lines.append(f"linux-arm64-qemu: missing {', '.join(q['missing'])} (get them with `{q['how']}`)")
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def devices(as_json: bool) -> None:
    """List where `ondevice profile` can run: every adb device with its facts, the host, and the
    emulated ARM64 CPU, with what is missing and how to get it.

    adb's server port follows ANDROID_ADB_SERVER_PORT, as adb itself does.

    \b
    Example:
        ondevice devices
        ondevice devices --json
    """
    data = {"android": android_devices(), "host": host_facts(), "qemu": qemu_facts()}
    emit(data, as_json, _text(data))
