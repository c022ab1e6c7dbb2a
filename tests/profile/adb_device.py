"""A device-side ADB transport server on loopback: the phone that tests cannot have.

The real `adb` client connects to it with `adb -P PORT connect 127.0.0.1:DEVICE_PORT` and speaks the
real protocol: 24-byte message headers, CNXN with a banner, OPEN/OKAY/WRTE/CLSE streams with one
write in flight per stream, the shell protocol v2 (separate stdout and stderr, exit codes) and the
sync protocol (STAT, LIST, SEND, RECV, QUIT) for push and pull.

Shell commands run in a sandbox directory that stands in for the device's filesystem: device paths
(/data, /sdcard, /sys, /system, /proc/cpuinfo, /lib) are mapped into it, and back again in the output.
`getprop`, `dumpsys`, `am`, `df` and `taskset` come from the sandbox's /system/bin and answer from the
device description. aarch64 executables run through `qemu-aarch64-static -cpu neoverse-n1 -L SYSROOT`, so the device
really executes ARM code; executables for another architecture fail as they do on a phone.

Faults for tests: drop the connection after N shell commands, when the Nth native program starts, or
once a native program printed N lines that contain a given text; a full disk on push; a native
program that dies of SIGSEGV (the shell around it lives on, as on a phone).

Loopback only; the standard library and the ELF header reader of ondevice.profile.android.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ondevice.profile.android import ELF_ABIS, elf_machine

A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH = (
    int.from_bytes(name, "little") for name in (b"CNXN", b"OPEN", b"OKAY", b"CLSE", b"WRTE", b"AUTH")
)
VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
SYNC_DATA_MAX = 64 * 1024
# Shell protocol v2 packet ids.
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN = 0, 1, 2, 3, 4
# Device paths that live in the sandbox; everything else is the host's (the toolbox, /proc/self ...).
DEVICE_ROOTS = ("data", "sdcard", "storage", "sys", "system", "proc/cpuinfo", "vendor", "lib")
# A phone's big core (Cortex-A76 class). qemu's default model ("max") makes XNNPACK pick int8 kernels
# whose emulation gives wrong logits.
QEMU_CPU = "neoverse-n1"
WRAPPERS = {"env", "exec", "nice", "time", "command", "nohup", "taskset", "timeout"}


@dataclass
class DeviceSpec:
    """What the stand-in reports and how it misbehaves."""

    model: str = "Pixel 7"
    product: str = "panther"
    device: str = "panther"
    soc: str = "Tensor G2"
    platform: str = "gs201"
    abi: str = "arm64-v8a"
    android_release: str = "14"
    sdk: int = 34
    max_freq_khz: tuple[int, ...] = (1803000,) * 4 + (2348000,) * 2 + (2850000,) * 2
    governor: str = "sched_pixel"
    temperature_mc: int = 36500  # thermal zone millidegrees C
    battery_level: int = 87
    battery_temp_dc: int = 283  # dumpsys battery reports tenths of a degree
    storage_kb: int = 4 * 1024 * 1024
    sysroot: str | None = None  # aarch64 libraries for qemu's -L; None: aarch64 programs cannot run
    # Faults.
    disconnect_after_commands: int | None = None  # drop the connection when shell command N+1 opens
    disconnect_at_native_run: int | None = None  # drop it when native program N (1-based) is started
    # (text, n): drop it once a native program printed n lines containing text (mid-run, on purpose)
    disconnect_after_native_lines: tuple[str, int] | None = None
    crash_at_native_run: int | None = None  # native program N dies of SIGSEGV soon after it starts
    full_disk: bool = False  # every push fails with ENOSPC
    extra_props: dict[str, str] = field(default_factory=dict)

    def props(self) -> dict[str, str]:
        abilist = {"arm64-v8a": "arm64-v8a,armeabi-v7a,armeabi", "x86_64": "x86_64,x86"}.get(self.abi, self.abi)
        return {
            "ro.product.model": self.model,
            "ro.product.name": self.product,
            "ro.product.device": self.device,
            "ro.product.manufacturer": "Google",
            "ro.soc.model": self.soc,
            "ro.board.platform": self.platform,
            "ro.product.cpu.abi": self.abi,
            "ro.product.cpu.abilist": abilist,
            "ro.build.version.release": self.android_release,
            "ro.build.version.sdk": str(self.sdk),
            "ro.build.fingerprint": f"google/{self.product}/{self.device}:{self.android_release}/UQ1A/1:user/release",
            **self.extra_props,
        }


class Disconnected(Exception):
    pass


class AdbDevice:
    """Listens on 127.0.0.1 (an ephemeral port); one sandbox directory per device."""

    def __init__(self, root: Path, spec: DeviceSpec | None = None):
        self.spec = spec or DeviceSpec()
        self.root = Path(root).resolve()
        self.commands: list[str] = []  # every shell command, as the device received it
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self.port = self._listener.getsockname()[1]
        self.serial = f"127.0.0.1:{self.port}"
        self._conns: list[_Connection] = []
        self.native_runs = 0
        self._lock = threading.Lock()
        self._gone = False
        self._build_sandbox()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    # -- lifecycle -------------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self._gone:  # a device that left does not come back when adb reconnects
                sock.close()
                continue
            conn = _Connection(self, sock)
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=conn.run, daemon=True).start()

    def disconnect(self) -> None:
        """The cable is pulled: every connection drops and reconnects are refused."""
        self._gone = True
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()

    def close(self) -> None:
        self.disconnect()
        try:
            self._listener.close()
        except OSError:
            pass

    # -- the device filesystem -----------------------------------------------------------------
    def _build_sandbox(self) -> None:
        s = self.spec
        for d in ("data/local/tmp", "sdcard/Android/data", "system/bin", "proc", "sys/class/thermal/thermal_zone0"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        cpu = self.root / "sys/devices/system/cpu"
        n = len(s.max_freq_khz)
        for i, khz in enumerate(s.max_freq_khz):
            freq = cpu / f"cpu{i}" / "cpufreq"
            freq.mkdir(parents=True, exist_ok=True)
            (freq / "cpuinfo_max_freq").write_text(f"{khz}\n")
            (freq / "scaling_governor").write_text(f"{s.governor}\n")
        (cpu / "possible").write_text(f"0-{n - 1}\n")
        (cpu / "present").write_text(f"0-{n - 1}\n")
        (self.root / "proc/cpuinfo").write_text(
            "".join(f"processor\t: {i}\nBogoMIPS\t: 49.15\nCPU implementer\t: 0x41\n\n" for i in range(n))
        )
        zone = self.root / "sys/class/thermal/thermal_zone0"
        (zone / "type").write_text("cpu-therm\n")
        (zone / "temp").write_text(f"{s.temperature_mc}\n")
        if s.sysroot:  # the aarch64 loader and C++ runtime that qemu runs programs with are on the device
            (self.root / "lib").symlink_to(Path(s.sysroot) / "lib")
        (self.root / "system/build.prop").write_text("".join(f"{k}={v}\n" for k, v in s.props().items()))
        (self.root / "system/battery.txt").write_text(
            "Current Battery Service state:\n  AC powered: false\n  USB powered: true\n  Wireless powered: false\n"
            f"  status: 2\n  health: 2\n  present: true\n  level: {s.battery_level}\n  scale: 100\n"
            f"  voltage: 4213\n  temperature: {s.battery_temp_dc}\n  technology: Li-ion\n"
        )
        tools = Path(__file__).with_name("adb_device_tools.py")
        for name in ("getprop", "dumpsys", "am", "df", "taskset"):
            script = self.root / "system/bin" / name
            script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(tools))} {name} "$@"\n')
            script.chmod(0o755)

    def host_path(self, device_path: str) -> Path:
        return Path(self.to_host(device_path))

    def to_host(self, text: str) -> str:
        roots = "|".join(re.escape(r) for r in DEVICE_ROOTS)
        return re.sub(rf"(?<![\w./-])/(?=(?:{roots})(?:[/\s'\";:)*?]|$))", str(self.root) + "/", text)

    def to_device(self, data: bytes) -> bytes:
        return data.replace(str(self.root).encode(), b"")

    def used_kb(self) -> int:
        total = 0
        for dirpath, _, files in os.walk(self.root / "data"):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        return total // 1024

    def free_kb(self) -> int:
        return 0 if self.spec.full_disk else max(self.spec.storage_kb - self.used_kb(), 0)

    # -- running a shell command ---------------------------------------------------------------
    def command_line(self, command: str) -> tuple[list[str], bool]:
        """The host command that runs `command` on the device, and whether it starts a native program."""
        text = self.to_host(command)
        native = False
        for m in reversed(list(re.finditer(re.escape(str(self.root)) + r"/[^\s'\";&|()]*", text))):
            path = Path(m.group(0))
            machine = elf_machine(path)
            if machine is None or not _in_command_position(text[: m.start()]):
                continue
            native = True
            if ELF_ABIS.get(machine) not in self._runnable_abis():
                device_path = str(path).replace(str(self.root), "")
                replacement = _fail(f"/system/bin/sh: {device_path}: not executable: 64-bit ELF file", 126)
            elif machine == 183 and _host_machine() != 183:
                if not self.spec.sysroot or shutil.which("qemu-aarch64-static") is None:
                    replacement = _fail(f"{path.name}: this stand-in cannot run aarch64 code here", 126)
                else:
                    sysroot = shlex.quote(self.spec.sysroot)
                    replacement = f"qemu-aarch64-static -cpu {QEMU_CPU} -L {sysroot} {shlex.quote(str(path))}"
            else:
                continue
            text = text[: m.start()] + replacement + text[m.end() :]
        return ["/bin/sh", "-c", text], native

    def _runnable_abis(self) -> set[str]:
        return set(self.spec.props()["ro.product.cpu.abilist"].split(",")) - {"armeabi-v7a", "armeabi", "x86"}

    def shell_env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.root}/system/bin:/usr/bin:/bin",
            "HOME": str(self.root / "data/local/tmp"),
            "TMPDIR": str(self.root / "data/local/tmp"),
            "ADB_DEVICE_ROOT": str(self.root),
            "ADB_DEVICE_FREE_KB": str(self.free_kb()),
            "ADB_DEVICE_STORAGE_KB": str(self.spec.storage_kb),
            "ADB_DEVICE_CORES": str(len(self.spec.max_freq_khz)),
            "LANG": "C",
        }


def _fail(message: str, code: int) -> str:
    return f"{{ echo {shlex.quote(message)} >&2; exit {code}; }}"


def _host_machine() -> int:
    return elf_machine(Path(sys.executable).resolve()) or 0


def _in_command_position(before: str) -> bool:
    """True when what precedes a word on its line makes that word the program to run."""
    segment = re.split(r"[;&|(\n]|\bthen\b|\bdo\b", before)[-1]
    try:
        words = shlex.split(segment)
    except ValueError:
        return False
    return all(
        w in WRAPPERS or w.startswith("-") or re.fullmatch(r"\w+=.*", w) or re.fullmatch(r"[0-9a-fA-Fx,-]+", w)
        for w in words
    )


class _Stream:
    """One OPEN'd service: bytes in from the host, flow-controlled writes out."""

    def __init__(self, conn: _Connection, local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self._inbox = bytearray()
        self._cond = threading.Condition()
        self._acked = threading.Event()
        self._acked.set()
        self.closed = False

    def feed(self, data: bytes) -> None:
        with self._cond:
            self._inbox += data
            self._cond.notify_all()

    def ack(self) -> None:
        self._acked.set()

    def close_from_host(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self._acked.set()

    def read_exact(self, n: int) -> bytes:
        with self._cond:
            while len(self._inbox) < n:
                if self.closed:
                    raise Disconnected()
                self._cond.wait()
            data = bytes(self._inbox[:n])
            del self._inbox[:n]
            return data

    def read_some(self) -> bytes:
        with self._cond:
            while not self._inbox:
                if self.closed:
                    return b""
                self._cond.wait()
            data = bytes(self._inbox)
            self._inbox.clear()
            return data

    def write(self, data: bytes) -> None:
        for i in range(0, len(data), self.conn.max_payload):
            # One WRTE in flight: the next waits for the host's OKAY.
            while not self._acked.wait(0.5):
                if self.closed or self.conn.dead:
                    raise Disconnected()
            if self.closed or self.conn.dead:
                raise Disconnected()
            self._acked.clear()
            self.conn.send(A_WRTE, self.local_id, self.remote_id, data[i : i + self.conn.max_payload])

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
            self.conn.streams.pop(self.local_id, None)


class _Connection:
    def __init__(self, device: AdbDevice, sock: socket.socket):
        self.device, self.sock = device, sock
        self.streams: dict[int, _Stream] = {}
        self.max_payload = MAX_PAYLOAD
        self.dead = False
        self._send_lock = threading.Lock()
        self._next_id = 1

    def close(self) -> None:
        self.dead = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for s in list(self.streams.values()):
            s.close_from_host()

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        header = struct.pack("<6I", command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, command ^ 0xFFFFFFFF)
        with self._send_lock:
            if self.dead:
                raise Disconnected()
            try:
                self.sock.sendall(header + data)
            except OSError as e:
                raise Disconnected() from e

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise Disconnected()
            buf += chunk
        return bytes(buf)

    def run(self) -> None:
        try:
            while True:
                command, arg0, arg1, length, _, magic = struct.unpack("<6I", self._recv_exact(24))
                if magic != command ^ 0xFFFFFFFF:
                    raise Disconnected()
                data = self._recv_exact(length) if length else b""
                self._dispatch(command, arg0, arg1, data)
        except (Disconnected, OSError):
            pass
        finally:
            self.close()

    def _dispatch(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        if command == A_CNXN:
            self.max_payload = min(arg1 or MAX_PAYLOAD, MAX_PAYLOAD)
            props = self.device.spec.props()
            banner = "device::" + "".join(
                f"{k}={props[k]};" for k in ("ro.product.name", "ro.product.model", "ro.product.device")
            )
            self.send(A_CNXN, VERSION, MAX_PAYLOAD, (banner + "features=shell_v2,cmd").encode())
        elif command == A_OPEN:
            local_id = self._next_id
            self._next_id += 1
            stream = _Stream(self, local_id, arg0)
            self.streams[local_id] = stream
            service = data.rstrip(b"\0").decode()
            self.send(A_OKAY, local_id, arg0)
            threading.Thread(target=self._serve, args=(stream, service), daemon=True).start()
        elif command == A_OKAY:
            stream = self.streams.get(arg1)
            if stream:
                stream.ack()
        elif command == A_WRTE:
            stream = self.streams.get(arg1)
            if stream is None:
                self.send(A_CLSE, 0, arg0)
                return
            stream.feed(data)
            self.send(A_OKAY, arg1, arg0)
        elif command == A_CLSE:
            stream = self.streams.pop(arg1, None)
            if stream:
                stream.close_from_host()

    def _serve(self, stream: _Stream, service: str) -> None:
        try:
            if service.startswith(("shell", "exec:")):
                _Shell(self.device, stream, service).run()
            elif service == "sync:":
                _Sync(self.device, stream).run()
            else:
                stream.write(f"FAIL{len('unknown service'):04x}unknown service".encode())
        except Disconnected:
            pass
        finally:
            try:
                stream.close()
            except Disconnected:
                pass


class _Shell:
    def __init__(self, device: AdbDevice, stream: _Stream, service: str):
        self.device, self.stream = device, stream
        head, _, self.command = service.partition(":")
        self.v2 = head.startswith("shell") and "v2" in head.split(",")

    def _packet(self, kind: int, data: bytes) -> None:
        if self.v2:
            self.stream.write(struct.pack("<BI", kind, len(data)) + data)
        elif kind in (SHELL_STDOUT, SHELL_STDERR):
            self.stream.write(data)

    def run(self) -> None:
        device = self.device
        device.commands.append(self.command)
        limit = device.spec.disconnect_after_commands
        if limit is not None and len(device.commands) > limit:
            device.disconnect()
            raise Disconnected()
        argv, native = device.command_line(self.command or "exit 0")
        if native:
            device.native_runs += 1
            if device.native_runs == device.spec.disconnect_at_native_run:
                device.disconnect()
                raise Disconnected()
        proc = subprocess.Popen(
            argv,
            cwd=device.root / "data/local/tmp",
            env=device.shell_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        if native and device.native_runs == device.spec.crash_at_native_run:
            threading.Thread(target=_crash_native, args=(proc.pid, str(device.root)), daemon=True).start()
        send_lock = threading.Lock()
        lines = [0]
        cut = device.spec.disconnect_after_native_lines if native else None

        def pump(pipe, kind: int) -> None:
            for chunk in iter(lambda: pipe.readline(), b""):
                with send_lock:
                    self._packet(kind, device.to_device(chunk))
                    lines[0] += cut is not None and cut[0].encode() in chunk
                    if cut is not None and lines[0] >= cut[1]:
                        device.disconnect()  # mid-run: what was sent so far is all the host gets
                        return

        threading.Thread(target=self._stdin, args=(proc,), daemon=True).start()
        pumps = [
            threading.Thread(target=pump, args=(p, k), daemon=True) for p, k in ((proc.stdout, 1), (proc.stderr, 2))
        ]
        try:
            for t in pumps:
                t.start()
            while proc.poll() is None:
                if self.stream.closed or self.stream.conn.dead:
                    _kill(proc)
                    raise Disconnected()
                time.sleep(0.02)
            for t in pumps:
                t.join()
        finally:
            if proc.poll() is None:
                _kill(proc)
        code = proc.returncode
        if code < 0:  # the shell itself was killed: report 128 + signal, as adbd does
            code = 128 - code
        self._packet(SHELL_EXIT, bytes([code & 0xFF]))

    def _stdin(self, proc: subprocess.Popen) -> None:
        try:
            while self.v2:
                kind, length = struct.unpack("<BI", self.stream.read_exact(5))
                data = self.stream.read_exact(length) if length else b""
                if kind == SHELL_STDIN:
                    proc.stdin.write(data)
                    proc.stdin.flush()
                elif kind == SHELL_CLOSE_STDIN:
                    break
        except (Disconnected, OSError):
            pass
        try:
            proc.stdin.close()
        except OSError:
            pass


def _crash_native(shell_pid: int, root: str) -> None:
    """SIGSEGV the native program (found among the shell's descendants by its sandbox path), not the shell."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in _descendants(shell_pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if root.encode() in cmdline and b"/system/bin/" not in cmdline:
                try:
                    os.kill(pid, signal.SIGSEGV)
                except ProcessLookupError:
                    pass
                return
        time.sleep(0.005)


def _descendants(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            children += [int(entry.name), *_descendants(int(entry.name))]
    return children


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class _Sync:
    def __init__(self, device: AdbDevice, stream: _Stream):
        self.device, self.stream = device, stream

    def _msg(self, ident: bytes, *values: int, payload: bytes = b"") -> None:
        self.stream.write(ident + struct.pack(f"<{len(values)}I", *values) + payload)

    def _fail(self, message: str) -> None:
        data = message.encode()
        self._msg(b"FAIL", len(data), payload=data)

    def run(self) -> None:
        while True:
            ident = self.stream.read_exact(4)
            (length,) = struct.unpack("<I", self.stream.read_exact(4))
            if ident == b"QUIT":
                return
            arg = self.stream.read_exact(length).decode()
            if ident == b"STAT":
                self._stat(arg)
            elif ident == b"LIST":
                self._list(arg)
            elif ident == b"SEND":
                self._send(arg)
            elif ident == b"RECV":
                self._recv(arg)
            else:
                self._fail(f"unknown sync request {ident!r}")
                return

    def _stat(self, path: str) -> None:
        try:
            st = os.stat(self.device.host_path(path))
            self._msg(b"STAT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime))
        except OSError:
            self._msg(b"STAT", 0, 0, 0)

    def _list(self, path: str) -> None:
        host = self.device.host_path(path)
        try:
            names = sorted(os.listdir(host))
        except OSError:
            names = []
        for name in names:
            try:
                st = os.lstat(host / name)
            except OSError:
                continue
            raw = name.encode()
            self._msg(b"DENT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(raw), payload=raw)
        self._msg(b"DONE", 0, 0, 0, 0)

    def _send(self, spec: str) -> None:
        path, _, mode = spec.rpartition(",")
        host = self.device.host_path(path)
        tmp = host.with_name(f".{host.name}.adb-partial")
        error = None
        out = None
        free = self.device.free_kb() * 1024
        try:
            host.parent.mkdir(parents=True, exist_ok=True)
            out = open(tmp, "wb")
        except OSError as e:
            error = f"{path}: {e.strerror}"
        written = 0
        while True:
            ident = self.stream.read_exact(4)
            (value,) = struct.unpack("<I", self.stream.read_exact(4))
            if ident == b"DATA":
                data = self.stream.read_exact(value)
                written += len(data)
                if error is None and written > free:
                    error = "write failed: No space left on device"
                if error is None:
                    out.write(data)
            elif ident == b"DONE":
                break
            else:
                error = error or f"unexpected {ident!r} in SEND"
                break
        if out:
            out.close()
        if error is None:
            os.replace(tmp, host)
            os.chmod(host, stat.S_IMODE(int(mode)) or 0o644)
            os.utime(host, (value, value))
            self._msg(b"OKAY", 0)
        else:
            tmp.unlink(missing_ok=True)
            self._fail(error)

    def _recv(self, path: str) -> None:
        try:
            with open(self.device.host_path(path), "rb") as f:
                while chunk := f.read(SYNC_DATA_MAX):
                    self._msg(b"DATA", len(chunk), payload=chunk)
        except OSError as e:
            self._fail(f"remote object '{path}' does not exist" if e.errno == 2 else f"{path}: {e.strerror}")
            return
        self._msg(b"DONE", 0)
