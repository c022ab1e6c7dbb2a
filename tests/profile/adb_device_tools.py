"""The stand-in device's system tools: getprop, dumpsys, am, df and taskset, in their Android output formats.

Run as `adb_device_tools.py TOOL ARGS...` from the sandbox's /system/bin; the device description comes
through the environment that the stand-in's shell sets (ADB_DEVICE_ROOT and friends).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(os.environ["ADB_DEVICE_ROOT"])


def getprop(args: list[str]) -> int:
    props = {}
    for line in (ROOT / "system/build.prop").read_text().splitlines():
        key, _, value = line.partition("=")
        props[key] = value
    if not args:
        print("".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items())), end="")
    else:
        print(props.get(args[0], args[1] if len(args) > 1 else ""))
    return 0


def dumpsys(args: list[str]) -> int:
    if args[:1] == ["battery"]:
        print((ROOT / "system/battery.txt").read_text(), end="")
        return 0
    print(f"Can't find service: {args[0] if args else ''}", file=sys.stderr)
    return 0


def am(args: list[str]) -> int:
    # No app is installed on the stand-in: `am start` answers as Android's activity manager does.
    if args[:1] == ["start"] and "-n" in args:
        component = args[args.index("-n") + 1]
        package, _, activity = component.partition("/")
        if activity.startswith("."):
            activity = package + activity
        print(f"Starting: Intent {{ cmp={component} }}")
        print("Error type 3", file=sys.stderr)
        print(f"Error: Activity class {{{package}/{activity}}} does not exist.", file=sys.stderr)
        return 1
    print("usage: am start -n COMPONENT ...", file=sys.stderr)
    return 1


def df(args: list[str]) -> int:
    total = int(os.environ["ADB_DEVICE_STORAGE_KB"])
    free = int(os.environ["ADB_DEVICE_FREE_KB"])
    used = total - free
    print("Filesystem      1K-blocks     Used Available Use% Mounted on")
    print(f"/dev/block/dm-46 {total:9d} {used:8d} {free:9d} {100 * used // max(total, 1):3d}% /data")
    return 0


def taskset(args: list[str]) -> int:
    # Pinning is checked against the device's cores; the host has its own (fewer) cores, so the
    # program then runs unpinned here.
    cores = int(os.environ["ADB_DEVICE_CORES"])
    if args[:1] == ["-c"] and len(args) > 2:
        wanted = set()
        for part in args[1].split(","):
            lo, _, hi = part.partition("-")
            wanted |= set(range(int(lo), int(hi or lo) + 1))
        command = args[2:]
    elif len(args) > 1:
        mask = int(args[0], 16)
        wanted = {i for i in range(64) if mask >> i & 1}
        command = args[1:]
    else:
        print("usage: taskset [-c CPULIST | MASK] COMMAND...", file=sys.stderr)
        return 1
    if not wanted or max(wanted) >= cores:
        print("taskset: sched_setaffinity: Invalid argument", file=sys.stderr)
        return 1
    os.execvp(command[0], command)
    return 127


if __name__ == "__main__":
    tool = {"getprop": getprop, "dumpsys": dumpsys, "am": am, "df": df, "taskset": taskset}[sys.argv[1]]
    sys.exit(tool(sys.argv[2:]))
