"""A thin wrapper over the real `adb` binary: devices, facts, push, shell, free space, cleanup.

Every call is one `adb` subprocess. `serial` becomes `-s SERIAL`; the server port comes from `port`
or from ANDROID_ADB_SERVER_PORT (adb reads it itself), so tests can run their own server.

Shell commands end with a marker line that carries their exit status. adb 29 returns 0 with
truncated output when the connection drops mid-command; a missing marker is how a lost device is
told apart from a command that printed nothing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ondevice.bundle import sha256 as file_sha256
from ondevice.errors import DeviceDisconnected, DeviceError

DEVICE_DIR = "/data/local/tmp/ondevice"
_EXIT_MARK = ":ondevice-exit:"
# adb's own words for a transport that is gone or never was.
_GONE = re.compile(
    r"device offline|device '.*' not found|no devices/emulators found|error: closed|protocol fault|"
    r"device still connecting|connection reset|failed to connect"
)


@dataclass(frozen=True)
class ShellResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class AttachedDevice:
    """One line of `adb devices -l`."""

    serial: str
    state: str  # device, offline, unauthorized, recovery, ...
    model: str = ""
    product: str = ""
    transport_id: str = ""


def adb_binary() -> str:
    found = shutil.which("adb")
    if found is None:
        raise DeviceError("adb not found: install it with `ondevice setup` (Debian package adb) or the Android SDK")
    return found


class Adb:
    """adb for one server (port) and, once `serial` is set, one device."""

    def __init__(self, serial: str | None = None, port: int | None = None, timeout: float = 600.0):
        self.binary = adb_binary()
        self.serial = serial
        self.port = port
        self.timeout = timeout

    def on(self, serial: str) -> Adb:
        return Adb(serial, self.port, self.timeout)

    def _argv(self, *args: str) -> list[str]:
        argv = [self.binary]
        if self.port:
            argv += ["-P", str(self.port)]
        if self.serial:
            argv += ["-s", self.serial]
        return argv + list(args)

    def _run(self, *args: str, timeout: float | None = None, what: str | None = None) -> subprocess.CompletedProcess:
        argv = self._argv(*args)
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout or self.timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt) as e:
            proc.kill()  # adbd ends the device-side command when its stream closes
            stdout, stderr = proc.communicate()
            what = what or f"`adb {' '.join(args[:2])}`"
            why = "was interrupted" if isinstance(e, KeyboardInterrupt) else f"gave no answer in {e.timeout:.0f} s"
            raise DeviceError(f"{self._who()}: {what} {why}", stdout, stderr) from None
        return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)

    def _who(self) -> str:
        return f"device {self.serial}" if self.serial else "adb"

    def _failed(self, what: str, done: subprocess.CompletedProcess) -> DeviceError:
        text = " ".join((done.stderr + " " + done.stdout).split())
        if _GONE.search(text):
            message = f"{self._who()} disconnected during {what} ({_first_error(done.stderr or done.stdout)})"
            return DeviceDisconnected(message, done.stdout, done.stderr)
        return DeviceError(f"{self._who()}: {what} failed: {_first_error(text) or f'exit {done.returncode}'}")

    # -- the server ------------------------------------------------------------------------------
    def devices(self) -> list[AttachedDevice]:
        """Every device the server sees, in any state (`adb devices -l`)."""
        done = self._run("devices", "-l", timeout=60)
        if done.returncode != 0:
            raise DeviceError(f"adb devices failed: {_first_error(done.stderr) or done.returncode}")
        found = []
        for line in done.stdout.splitlines():
            if not line.strip() or line.startswith(("List of devices", "*")):
                continue
            serial, _, rest = line.partition(" ")
            if "\t" in serial:
                serial, _, rest = line.partition("\t")
            words = rest.split()
            fields = dict(w.split(":", 1) for w in words[1:] if ":" in w)
            found.append(
                AttachedDevice(
                    serial=serial.strip(),
                    state=words[0] if words else "unknown",
                    model=fields.get("model", ""),
                    product=fields.get("product", ""),
                    transport_id=fields.get("transport_id", ""),
                )
            )
        return found

    # -- one device -----------------------------------------------------------------------------
    def shell(self, command: str, check: bool = True, timeout: float | None = None) -> ShellResult:
        """Run `command` with /system/bin/sh on the device; stdout and stderr apart, with its exit status."""
        done = self._run("shell", _marked(command), timeout=timeout, what=f"`{_short(command)}`")
        return self._shell_result(command, done, check)

    def _shell_result(self, command: str, done: subprocess.CompletedProcess, check: bool) -> ShellResult:
        out, mark, code = done.stdout.rpartition(f"\n{_EXIT_MARK}")
        if not mark or not code.strip().isdigit():
            if done.returncode != 0:
                raise self._failed(f"`{_short(command)}`", done)
            # The marker is the command's last word: output without it means the device went away.
            raise DeviceDisconnected(f"{self._who()} disconnected during `{_short(command)}`", done.stdout, done.stderr)
        result = ShellResult(int(code.strip()), out, done.stderr)
        if check and result.returncode != 0:
            detail = _first_error(result.stderr) or _first_error(result.stdout) or "no output"
            raise DeviceError(f"{self._who()}: `{_short(command)}` exited with {result.returncode}: {detail}")
        return result

    def getprops(self) -> dict[str, str]:
        props = {}
        for line in self.shell("getprop").stdout.splitlines():
            m = re.match(r"\[(.*?)\]: \[(.*)\]$", line.strip())
            if m:
                props[m.group(1)] = m.group(2)
        return props

    def sha256(self, remote: str) -> str | None:
        result = self.shell(f"sha256sum {shlex.quote(remote)} 2>/dev/null", check=False)
        words = result.stdout.split()
        return words[0] if result.returncode == 0 and words and len(words[0]) == 64 else None

    def free_bytes(self, remote_dir: str) -> int | None:
        """Available bytes on the filesystem holding `remote_dir` (`df -k`), None when df says nothing usable."""
        result = self.shell(f"df -k {shlex.quote(remote_dir)}", check=False)
        for line in result.stdout.splitlines()[1:]:
            words = line.split()
            if len(words) >= 4 and words[3].isdigit():
                return int(words[3]) * 1024
        return None

    def push(self, local: Path, remote: str, digest: str | None = None) -> bool:
        """Copy `local` to `remote` unless the device already has the same bytes (sha256). True if copied."""
        digest = digest or file_sha256(local)
        if self.sha256(remote) == digest:
            return False
        done = self._run("push", str(local), remote)
        if done.returncode != 0:
            text = done.stdout + done.stderr
            if "No space left" in text:
                raise DeviceError(f"{self._who()}: disk full while pushing {local.name} to {remote}")
            raise self._failed(f"push of {local.name}", done)
        return True

    def pull(self, remote: str, local: Path) -> None:
        done = self._run("pull", remote, str(local))
        if done.returncode != 0:
            raise self._failed(f"pull of {remote}", done)

    def remove(self, *remote: str) -> None:
        """Delete files or directories on the device; what is not there is no error."""
        self.shell("rm -rf " + " ".join(shlex.quote(r) for r in remote), check=False)

    def ensure_space(self, remote_dir: str, needed: int) -> None:
        free = self.free_bytes(remote_dir)
        if free is not None and free < needed:
            raise DeviceError(
                f"{self._who()}: not enough space in {remote_dir}: {_mb(needed)} needed, {_mb(free)} free"
            )

    def facts(self) -> dict:
        """Model, SoC, ABI, Android version, cores, frequencies, governor, temperature and battery."""
        props = self.getprops()
        facts = {
            "serial": self.serial,
            "model": props.get("ro.product.model", ""),
            "manufacturer": props.get("ro.product.manufacturer", ""),
            "soc": props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware", ""),
            "platform": props.get("ro.board.platform", ""),
            "abi": props.get("ro.product.cpu.abi", ""),
            "abilist": [a for a in props.get("ro.product.cpu.abilist", "").split(",") if a],
            "android_version": props.get("ro.build.version.release", ""),
            "sdk": int(props["ro.build.version.sdk"]) if props.get("ro.build.version.sdk", "").isdigit() else None,
            "fingerprint": props.get("ro.build.fingerprint", ""),
            "kernel": self.shell("uname -r", check=False).stdout.strip() or None,
        }
        return {**facts, **self.state()}

    def state(self) -> dict:
        """What changes during a run: frequencies and governor, temperatures, battery."""
        script = (
            "cat /sys/devices/system/cpu/possible 2>/dev/null; echo '--'; "
            'for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; do echo "$f $(cat $f)"; done'
            " 2>/dev/null; echo '--'; cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null;"
            " echo '--'; for z in /sys/class/thermal/thermal_zone*; do echo \"$(cat $z/type) $(cat $z/temp)\"; done"
            " 2>/dev/null; echo '--'; dumpsys battery 2>/dev/null"
        )
        sections = (self.shell(script, check=False).stdout + "\n--\n" * 5).split("--\n")
        possible, freqs, governor, zones, battery = (s.strip() for s in sections[:5])
        return {
            "cores": _count_cpus(possible) or len(_max_freqs(freqs)) or None,
            "max_freq_khz": _max_freqs(freqs),
            "governor": governor or None,
            "temperature_c": _cpu_temperature(zones),
            "battery": _battery(battery),
        }


def _marked(command: str) -> str:
    # A subshell, so that an `exit` in the command still lets the marker print.
    return f"(\n{command}\n); printf '\\n{_EXIT_MARK}%d\\n' $?"


def server_port() -> int | None:
    value = os.environ.get("ANDROID_ADB_SERVER_PORT")
    return int(value) if value and value.isdigit() else None


def _count_cpus(possible: str) -> int | None:
    total = 0
    for part in possible.split(","):
        lo, _, hi = part.strip().partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return None
        total += int(hi or lo) - int(lo) + 1
    return total or None


def _max_freqs(text: str) -> list[int]:
    found = {}
    for line in text.splitlines():
        m = re.search(r"cpu(\d+)/cpufreq/cpuinfo_max_freq (\d+)$", line.strip())
        if m:
            found[int(m.group(1))] = int(m.group(2))
    return [found[i] for i in sorted(found)]


def _cpu_temperature(zones: str) -> float | None:
    """The hottest CPU-ish thermal zone, else the hottest zone, in °C (sysfs gives millidegrees)."""
    readings = []
    for line in zones.splitlines():
        words = line.split()
        if len(words) >= 2 and re.fullmatch(r"-?\d+", words[-1]):
            value = int(words[-1])
            readings.append((words[0], value / 1000 if abs(value) > 200 else float(value)))
    cpu = [c for name, c in readings if re.search(r"cpu|soc|tsens|big|little|mid", name, re.I)]
    pool = cpu or [c for _, c in readings]
    return max(pool) if pool else None


def _battery(text: str) -> dict | None:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if "level" not in fields:
        return None
    out = {"level": _int(fields.get("level")), "scale": _int(fields.get("scale"))}
    if _int(fields.get("temperature")) is not None:
        out["temperature_c"] = _int(fields["temperature"]) / 10
    out["plugged"] = any(fields.get(k) == "true" for k in ("AC powered", "USB powered", "Wireless powered"))
    return out


def _int(value: str | None) -> int | None:
    return int(value) if value and re.fullmatch(r"-?\d+", value) else None


def _first_error(text: str) -> str:
    for line in text.splitlines() or [text]:
        line = line.strip()
        if line:
            return line.removeprefix("adb: ").removeprefix("error: ")
    return ""


def _short(command: str) -> str:
    return command if len(command) <= 60 else command[:57] + "..."


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
