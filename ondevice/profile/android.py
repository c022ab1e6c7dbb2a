"""The `android[:SERIAL]` targets: profile artifacts on a device that adb sees.

`AndroidBackend` is what `ondevice profile` drives (prepare, device, sensors, run, runtime, close).
On the device: check its ABI against the runner's (and that a Linux build's loader exists there),
check free space, push the artifacts and the runner to /data/local/tmp/ondevice/ (files the device
already has, by sha256, are skipped), run over `adb shell` pinned with `taskset` when the target names
cores, collect the runner's JSON, and remove the artifacts at the end (the runner stays, so the next
run skips it).

Runners:
- `native`: the ExecuTorch runner (`native.py`) with its .so files beside it (LD_LIBRARY_PATH). It
  prints each sample on stderr as it goes, so a device lost mid-run still leaves the samples so far
  (the record is then marked incomplete).
- `benchmark_model`: LiteRT's benchmark tool for `.tflite`, a binary the user provides. It reports
  statistics, not samples; the record carries its summary.
- `app`: the demo app's benchmark mode (android_demo), started with `am start` on the model in its own
  assets (checked by sha256 against the artifact); the record it writes is read back with `run-as`.

Devices: the target's serial (`android:SERIAL`), else ANDROID_SERIAL, else the only device attached.
With several attached and none named, nothing runs: the choice would be a guess (`ondevice profile
--all-devices` runs on each in turn).
"""

from __future__ import annotations

import json
import os
import shlex
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ondevice.errors import DeviceError
from ondevice.profile.adb import DEVICE_DIR, Adb, file_sha256

APP_PACKAGE = "org.ondevice.demo"  # android_demo: the demo app, its benchmark mode
APP_ACTIVITY = ".BenchmarkActivity"
APP_RESULTS = "files/benchmarks"  # in the app's private directory, read with run-as
ELF_ABIS = {183: "arm64-v8a", 62: "x86_64", 40: "armeabi-v7a", 3: "x86"}
ANDROID_LINKERS = ("/system/bin/linker64", "/system/bin/linker")


@dataclass(frozen=True)
class Executable:
    """A program to push (with the shared libraries that must sit beside it)."""

    binary: Path
    libraries: tuple[Path, ...] = ()

    @property
    def interpreter(self) -> str | None:
        return elf_interpreter(self.binary)


def select_devices(adb: Adb, serials: list[str] | None = None, all_devices: bool = False) -> list[str]:
    """The serials to run on; a clear error when there are none or the choice is ambiguous."""
    attached = adb.devices()
    ready = [d.serial for d in attached if d.state == "device"]
    states = {d.serial: d.state for d in attached}
    for serial in serials or []:
        if serial not in states:
            known = ", ".join(states) or "none"
            raise DeviceError(f"no device {serial!r} attached (attached: {known})")
        if states[serial] != "device":
            raise DeviceError(f"device {serial} is {states[serial]}{_state_hint(states[serial])}")
    if serials:
        return list(dict.fromkeys(serials))
    if not ready:
        if attached:
            d = attached[0]
            raise DeviceError(f"device {d.serial} is {d.state}{_state_hint(d.state)}")
        raise DeviceError("no Android device attached: connect one with USB debugging on, or `adb connect HOST:PORT`")
    if len(ready) > 1 and not all_devices:
        raise DeviceError(
            f"{len(ready)} devices attached ({', '.join(ready)}): pick one with --target android:SERIAL "
            "(or -s SERIAL), or run on each with --all-devices"
        )
    return ready


def _state_hint(state: str) -> str:
    return {
        "unauthorized": ": accept the USB debugging prompt on the phone",
        "offline": ": reconnect it (adb reconnect) and try again",
    }.get(state, "")


def check_abi(facts: dict, program: Executable, what: str) -> None:
    """Refuse a program the device cannot execute, before anything is pushed."""
    for path in (program.binary, *program.libraries):
        abi = elf_abi(path)
        if abi is None:
            raise DeviceError(f"{what}: {path.name} is not an ELF executable or library")
        if abi not in (facts.get("abilist") or [facts.get("abi")]):
            raise DeviceError(
                f"{what}: {path.name} is built for {abi}; device {facts.get('serial')} ({facts.get('model')}) "
                f"runs {facts.get('abi')}"
            )


def check_loader(adb: Adb, program: Executable, what: str) -> None:
    """A Linux (glibc) build needs its dynamic loader on the device; Android has none."""
    interp = program.interpreter
    if interp and interp not in ANDROID_LINKERS:
        if adb.shell(f"test -e {shlex.quote(interp)}", check=False).returncode != 0:
            raise DeviceError(
                f"{what}: {program.binary.name} is a Linux build (loader {interp}) and device {adb.serial} has no "
                "such loader; build the runner for Android with the NDK (ondevice/profile/cpp/CMakeLists.txt) "
                "and pass its directory with --runner native=DIR"
            )


def check_cpus(facts: dict, cpus: tuple[int, ...], target_name: str) -> None:
    cores = facts.get("cores")
    if cpus and cores and max(cpus) >= cores:
        raise DeviceError(
            f"target {target_name} pins cores {','.join(map(str, cpus))} but device {facts.get('serial')} has "
            f"{cores} cores (0-{cores - 1})"
        )


def pinned(command: str, cpus) -> str:
    """`command` under taskset with the cores' hexadecimal mask (cores 4,5 -> 30), or as it is."""
    return f"taskset {format(sum(1 << c for c in cpus), 'x')} {command}" if cpus else command


def push_all(
    adb: Adb, files: list[Path], on_step: Callable[[str], None] | None = None, remote_dir: str = DEVICE_DIR
) -> dict[str, str]:
    """Push files into `remote_dir` after a free-space check; returns {local name: device path}."""
    digests = {f: file_sha256(f) for f in files}
    for f in files:
        clash = next((g for g in files if g.name == f.name and digests[g] != digests[f]), None)
        if clash:
            raise DeviceError(f"{f} and {clash} have the same name and different contents; profile them one at a time")
    adb.shell(f"mkdir -p {shlex.quote(remote_dir)}")
    remote = {f.name: f"{remote_dir}/{f.name}" for f in files}
    needed = [f for f in files if adb.sha256(remote[f.name]) != digests[f]]
    adb.ensure_space(remote_dir, sum(f.stat().st_size for f in needed))
    for f in files:
        if on_step:
            on_step(f"{'pushing' if f in needed else 'unchanged'} {f.name}")
        if f in needed:
            adb.push(f, remote[f.name], digests[f])
    return remote


# -- LiteRT's benchmark_model ----------------------------------------------------------------------


def benchmark_model_command(binary_remote: str, model_remote: str, job, op_profiling: bool = True) -> str:
    args = [
        f"--graph={model_remote}",
        f"--num_threads={job.threads}",
        f"--warmup_runs={job.warmup}",
        f"--num_runs={job.runs}",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--report_peak_memory_footprint=true",
    ]
    if op_profiling:
        args.append("--enable_op_profiling=true")
    return pinned(" ".join([binary_remote, *args]), job.cpus)


def parse_benchmark_model(text: str) -> dict:
    """LiteRT benchmark_model's log as a runner-output dict (times in ms, memory in bytes).

    Reads the `count=... avg=... std=...` statistics of the timed runs (the last such line before the
    summary; the first one is the warm-up's), the `Inference timings in us: Init: ..., First inference:
    ...` summary, the peak memory line and, with op profiling, the "Summary by node type" table of the
    timed runs. Raises DeviceError when the summary is missing (the tool failed or was cut short).
    """
    import re

    lines = [re.sub(r"^(?:INFO: |I tflite\s*: |[IWE] \S+\s*: )", "", line.strip()) for line in text.splitlines()]
    number = r"(-?[\d.]+(?:e[+-]?\d+)?)"
    stats = []
    summary = None
    memory = None
    for line in lines:
        if line.startswith("count="):
            stats.append({k: float(v) for k, v in re.findall(rf"(\w+)={number}", line)})
        m = re.match(
            rf"Inference timings in us: Init: {number}, First inference: {number}, Warmup \(avg\): {number}, "
            rf"Inference \(avg\): {number}",
            line,
        )
        if m:
            summary = [float(x) for x in m.groups()]
        m = re.match(rf"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): "
                     rf"init={number} overall={number}", line)  # fmt: skip
        if m and (memory is None or line.startswith("Peak")):
            memory = float(m.group(2))
        m = re.match(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {number}", line)
        if m:
            memory = float(m.group(1))
    if summary is None:
        tail = next((line for line in reversed(lines) if line), "no output")
        raise DeviceError(f"benchmark_model gave no timing summary: {tail}")
    init_us, first_us, _, avg_us = summary
    timed = [s for s in stats if "avg" in s]
    runs = timed[-1] if timed else {"count": None, "avg": avg_us}
    out = {
        "runner": "benchmark_model",
        "load_ms": init_us / 1000,
        "first_inference_ms": first_us / 1000,
        "samples_ms": [],
        "summary_ms": {
            "count": int(runs["count"]) if runs.get("count") is not None else None,
            "mean_ms": runs["avg"] / 1000,
            "std_ms": runs["std"] / 1000 if "std" in runs else None,
            "min_ms": runs["min"] / 1000 if "min" in runs else None,
            "max_ms": runs["max"] / 1000 if "max" in runs else None,
            "p50_ms": runs["median"] / 1000 if "median" in runs else None,
        },
        "peak_rss_bytes": int(memory * 1024 * 1024) if memory is not None else None,
        "operators": _node_type_summary(lines, int(runs["count"]) if runs.get("count") is not None else None),
    }
    return out


def _node_type_summary(lines: list[str], runs: int | None) -> dict | None:
    """The last "Summary by node type" table (the timed runs'): per node type, ms per inference."""
    starts = [i for i, line in enumerate(lines) if "Summary by node type" in line]
    if not starts:
        return None
    ops = []
    for line in lines[starts[-1] + 2 :]:
        cells = line.split()
        if len(cells) < 7 or not cells[1].isdigit():
            break
        ops.append({"name": cells[0], "count": int(cells[1]), "total_ms": float(cells[2])})
    return {"source": "benchmark_model op profiling", "runs": runs, "ops": ops}


# -- the demo app ---------------------------------------------------------------------------------


def app_start_command(model_file: str, job, out: str) -> str:
    """`am start` of the app's benchmark mode (android_demo/README.md, "Benchmark mode")."""
    extras = ["--es", "model", model_file, "--ei", "runs", str(job.runs), "--ei", "warmup", str(job.warmup),
              "--ei", "threads", str(job.threads), "--es", "out", out]  # fmt: skip
    if job.seq_len:
        extras += ["--ei", "seq_len", str(job.seq_len)]
    return " ".join(["am", "start", "-W", "-n", f"{APP_PACKAGE}/{APP_ACTIVITY}", *map(shlex.quote, extras)])


def run_app(adb: Adb, job, sha256: str, timeout_s: float = 3600.0, poll_s: float = 1.0) -> dict:
    """Run the app's benchmark mode on the model of its bundle that has the artifact's name, and read
    the record it writes (with `run-as`: the app's files are private) as a runner's output.

    The app runs the model in its own assets, so that model must be the artifact: the sha256 in its
    record is compared with the artifact's.
    """
    name = Path(job.path).name
    out = f"ondevice-{int(time.time() * 1000)}.json"
    result = adb.shell(app_start_command(name, job, out), check=False)
    text = result.stdout + result.stderr
    if result.returncode != 0 or "Error" in text:
        # "Error: Activity class ... does not exist." says more than the "Error type 3" before it.
        errors = sorted((x for x in text.splitlines() if x.startswith("Error")), key=lambda x: x[:7] != "Error: ")
        line = errors[0] if errors else text.strip() or "no output"
        raise DeviceError(f"device {adb.serial}: the demo app did not start ({line}); install android_demo first")
    read = f"run-as {APP_PACKAGE} cat {APP_RESULTS}/{out}"
    deadline = time.monotonic() + timeout_s
    while True:
        done = adb.shell(read, check=False)
        if done.returncode == 0 and done.stdout.strip():
            break
        if "unknown package" in done.stderr or "not debuggable" in done.stderr:
            raise DeviceError(f"device {adb.serial}: cannot read the app's result: {done.stderr.strip()}")
        if time.monotonic() > deadline:
            raise DeviceError(f"device {adb.serial}: the demo app wrote no result in {timeout_s:.0f} s")
        time.sleep(poll_s)
    adb.shell(f"run-as {APP_PACKAGE} rm -f {APP_RESULTS}/{out}", check=False)
    return app_record_as_run(done.stdout, name, sha256, adb.serial)


def app_record_as_run(text: str, name: str, sha256: str, serial: str) -> dict:
    """The app's record (schema ondevice.profile) as a runner's output; a failed run or another model raises."""
    from ondevice.profile.runners import RunnerFailed

    try:
        rec = json.loads(text)
    except json.JSONDecodeError as e:
        raise DeviceError(f"device {serial}: the app's result is not JSON ({e})") from None
    if not isinstance(rec, dict) or rec.get("schema") != "ondevice.profile":
        raise DeviceError(f"device {serial}: the app's result is not an ondevice.profile record")
    if not rec.get("complete"):
        raise RunnerFailed(f"the demo app on {serial}: {rec.get('error') or rec.get('incomplete_reason')}")
    theirs = rec["artifact"].get("sha256")
    if theirs != sha256:
        raise DeviceError(
            f"the demo app on {serial} has another {name} (sha256 {str(theirs)[:12]}..., the artifact's is "
            f"{sha256[:12]}...): copy the bundle into the app's assets (ondevice export --copy-to) and reinstall"
        )
    s, t = rec.get("settings", {}), rec.get("timing", {})
    return {
        "runtime": rec.get("runtime", {}),
        "runner_version": rec.get("runtime", {}).get("runner_version"),
        "method": s.get("method"),
        "seq_len": s.get("seq_len"),
        "input_dtype": s.get("input_dtype"),
        "load_ms": t.get("load_ms"),
        "first_inference_ms": t.get("first_inference_ms"),
        "samples_ms": t.get("samples_ms", []),
        "peak_rss_bytes": rec.get("memory", {}).get("peak_rss_bytes"),
        "logits": rec.get("outputs", {}).get("logits"),
        "operators": rec.get("operators"),
    }


# -- ELF headers ----------------------------------------------------------------------------------


def elf_machine(path: Path) -> int | None:
    """e_machine of an ELF file (183 aarch64, 62 x86-64, 40 arm, 3 x86), None for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return struct.unpack_from("<H", head, 18)[0]


def elf_abi(path: Path) -> str | None:
    machine = elf_machine(path)
    return None if machine is None else ELF_ABIS.get(machine, f"machine {machine}")


def elf_interpreter(path: Path) -> str | None:
    """The PT_INTERP of a 64-bit little-endian ELF (its dynamic loader), None for static or other files."""
    try:
        data = Path(path).read_bytes()[: 1 << 16]
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 56 > len(data):
            return None
        (p_type,) = struct.unpack_from("<I", data, off)
        if p_type == 3:  # PT_INTERP
            (p_offset,) = struct.unpack_from("<Q", data, off + 8)
            (p_filesz,) = struct.unpack_from("<Q", data, off + 32)
            return data[p_offset : p_offset + p_filesz].rstrip(b"\0").decode(errors="replace")
    return None


# -- the backend that `ondevice profile` drives ------------------------------------------------------


def native_runner(abi: str, given: str | None = None) -> Executable:
    """The ExecuTorch runner for a device ABI: `given` or ONDEVICE_ANDROID_RUNNER (a directory with an NDK
    build of ondevice-et-runner and its .so files), else our Linux build for that architecture."""
    from ondevice.profile import native

    given = given or os.environ.get("ONDEVICE_ANDROID_RUNNER")
    if given:
        binary = Path(given) / native.BINARY
        if not binary.is_file():
            raise DeviceError(f"native runner directory {given}: no {native.BINARY} in it")
        return Executable(binary, tuple(sorted(Path(given).glob("*.so"))))
    arch = {"arm64-v8a": "aarch64", "x86_64": "x86_64"}.get(abi)
    if arch is None:
        raise DeviceError(f"no native runner for {abi} devices (there are builds for arm64-v8a and x86_64)")
    binary = native.build(arch)
    files = native.files(binary)
    return Executable(files[0], tuple(files[1:]))


def benchmark_model_binary(given: str | None = None) -> Executable:
    """LiteRT's benchmark_model that the user provides: `given`, else ONDEVICE_BENCHMARK_MODEL."""
    given = given or os.environ.get("ONDEVICE_BENCHMARK_MODEL")
    if not given:
        raise DeviceError(
            "the benchmark_model runner needs LiteRT's benchmark_model for Android: "
            "pass it with --runner benchmark_model=PATH (or ONDEVICE_BENCHMARK_MODEL=PATH)"
        )
    if not Path(given).is_file():
        raise DeviceError(f"benchmark_model: {given} does not exist")
    return Executable(Path(given))


class AndroidBackend:
    """Runs jobs on one adb device (the target's serial, or the only device attached)."""

    def __init__(self, target, status: Callable[[str], None] | None = None, tools: dict[str, str] | None = None):
        self.target = target
        self.tools = tools or {}  # runner -> what the user provides (benchmark_model: the tool; native: a dir)
        self.say = status or (lambda _: None)
        self.adb: Adb | None = None
        self.facts: dict = {}
        self.programs: dict[str, Executable] = {}
        self.remote: dict[str, str] = {}  # local path -> device path
        self.artifacts: list[str] = []  # device paths to remove at the end

    def prepare(self, jobs: list) -> None:
        adb = Adb()
        serial = self.target.serial or os.environ.get("ANDROID_SERIAL") or None
        self.adb = adb.on(select_devices(adb, [serial] if serial else None)[0])
        facts = self.facts = self.adb.facts()
        self.say(
            f"{self.adb.serial}: {facts['model']} ({facts['soc'] or 'unknown SoC'}, {facts['abi']}, "
            f"Android {facts['android_version']})"
        )
        abis = facts["abilist"] or [facts["abi"]]
        if self.target.abi and self.target.abi not in abis:
            raise DeviceError(
                f"target {self.target.name} is for {self.target.abi}; device {self.adb.serial} runs {facts['abi']}"
            )
        check_cpus(facts, tuple(self.target.cpus), self.target.name)
        for runner in sorted({j.runner for j in jobs}):
            if runner == "native":
                self.programs[runner] = native_runner(facts["abi"], self.tools.get(runner))
            elif runner == "benchmark_model":
                self.programs[runner] = benchmark_model_binary(self.tools.get(runner))
        for runner, program in self.programs.items():
            check_abi(facts, program, f"the {runner} runner")
            check_loader(self.adb, program, f"the {runner} runner")
        tools = [f for p in self.programs.values() for f in (p.binary, *p.libraries)]
        models = list(dict.fromkeys(Path(j.path) for j in jobs if j.runner != "app"))  # the app has its own
        if tools or models:
            pushed = push_all(self.adb, tools + models, self.say)
            self.remote.update({str(f): pushed[f.name] for f in tools + models})
        self.artifacts = [self.remote[str(f)] for f in models]
        if self.programs:
            self.adb.shell("chmod 755 " + " ".join(self.remote[str(p.binary)] for p in self.programs.values()))

    def device(self) -> dict:
        f = self.facts
        return {
            "serial": self.adb.serial,
            "model": f["model"],
            "manufacturer": f["manufacturer"],
            "soc": f["soc"],
            "abi": f["abi"],
            "os": f"Android {f['android_version']} (SDK {f['sdk']})",
            "fingerprint": f["fingerprint"],
            "kernel": f["kernel"],
            "cores": f["cores"],
            "max_freq_khz": f["max_freq_khz"],
            "governor": f["governor"],
        }

    def sensors(self) -> dict:
        try:
            return self.adb.state()
        except DeviceError:  # gone: the record says so through its reason, not through a second error
            return {}

    def run(self, job) -> dict:
        from ondevice.profile.host import RUN_TIMEOUT_S
        from ondevice.profile.runners import RunnerFailed, parse_output, partial_results

        if job.runner == "app":
            return run_app(self.adb, job, file_sha256(Path(job.path)))
        model = self.remote[str(Path(job.path))]
        what = f"{job.runner} runner on {Path(job.path).name} ({self.adb.serial})"
        if job.runner == "native":
            exe = self.remote[str(self.programs["native"].binary)]
            args = " ".join(shlex.quote(a) for a in job.args(model))
            command = f"cd {DEVICE_DIR} && LD_LIBRARY_PATH={DEVICE_DIR} " + pinned(f"{exe} {args}", job.cpus)
        elif job.runner == "benchmark_model":
            command = benchmark_model_command(self.remote[str(self.programs["benchmark_model"].binary)], model, job)
        else:
            raise DeviceError(f"runner {job.runner!r} does not run on Android (native, benchmark_model or app)")
        try:
            result = self.adb.shell(command, check=False, timeout=RUN_TIMEOUT_S)
        except DeviceError as e:  # lost, timed out or interrupted: the samples printed so far are kept
            raise RunnerFailed(f"{what}: {e}", partial_results(e.stderr)) from None
        if job.runner == "benchmark_model":
            if result.returncode != 0:
                last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
                raise RunnerFailed(f"{what} exited with status {result.returncode}: {last}")
            return parse_benchmark_model(result.stdout + "\n" + result.stderr)
        return parse_output(what, result.stdout, result.stderr, result.returncode)

    def runtime(self, job, result: dict) -> dict:
        from ondevice.profile.runners import runtime_section

        if job.runner == "benchmark_model":
            return {"name": "litert", "version": None, "runner": job.runner, "runner_version": None}
        return runtime_section(job, result)  # native, and the app's record, which carries its runtime

    def close(self) -> None:
        """Remove the pushed artifacts; the runners stay, so the next run skips them by sha256."""
        if self.adb and self.artifacts:
            try:
                self.adb.remove(*self.artifacts)
            except DeviceError:
                pass  # the device is gone; the error that ended the run has been reported
