"""The `android[:SERIAL]` targets: profile an artifact on a device that adb sees.

Steps, per device: check the device's ABI against the runner's, check free space, push the artifact and
the runner to /data/local/tmp/ondevice/ (files the device already has, by sha256, are skipped), run
pinned with `taskset` when the target names cores, collect the runner's JSON, read the device's state
before and after, and remove the artifact again (the runner stays, so the next run skips it).

Runners:
- `native`: the ExecuTorch runner (`native.py`), with its .so files beside it. Timed runs go in
  batches of at most `batch_runs` per process, so a device lost mid-run still leaves the samples of
  the finished batches (written as a record marked incomplete).
- `benchmark_model`: LiteRT's benchmark tool for `.tflite`, a binary the user provides. It reports
  statistics, not samples; the record carries its summary.
- `app`: the demo app's benchmark mode, started with `am start`; its JSON record is pulled back.

Several devices: one serial (`android:SERIAL`, or `-s`), several, or `all_devices`. With more than one
device attached and none of those, nothing runs: the choice would be a guess.
"""

from __future__ import annotations

import json
import shlex
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ondevice.errors import DeviceDisconnected, DeviceError
from ondevice.profile.adb import DEVICE_DIR, Adb, file_sha256

APP_PACKAGE = "dev.ondevice.demo"
APP_ACTIVITY = ".BenchmarkActivity"
APP_FILES = f"/sdcard/Android/data/{APP_PACKAGE}/files"  # the app reads its model and writes its record here
APP_RESULT = f"{APP_FILES}/ondevice-benchmark.json"
ELF_ABIS = {183: "arm64-v8a", 62: "x86_64", 40: "armeabi-v7a", 3: "x86"}
ANDROID_LINKERS = ("/system/bin/linker64", "/system/bin/linker")


@dataclass(frozen=True)
class Executable:
    """A program to push (with the shared libraries that must sit beside it)."""

    binary: Path
    libraries: tuple[Path, ...] = ()

    @property
    def abi(self) -> str | None:
        return elf_abi(self.binary)

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
                "and pass its directory with --android-runner"
            )


def check_cpus(facts: dict, cpus: tuple[int, ...], target_name: str) -> None:
    cores = facts.get("cores")
    if cpus and cores and max(cpus) >= cores:
        raise DeviceError(
            f"target {target_name} pins cores {','.join(map(str, cpus))} but device {facts.get('serial')} has "
            f"{cores} cores (0-{cores - 1})"
        )


def push_all(
    adb: Adb, files: list[Path], on_step: Callable[[str], None] | None = None, remote_dir: str = DEVICE_DIR
) -> dict[str, str]:
    """Push files into `remote_dir` after a free-space check; returns {local name: device path}."""
    adb.shell(f"mkdir -p {shlex.quote(remote_dir)}")
    digests = {f: file_sha256(f) for f in files}
    remote = {f.name: f"{remote_dir}/{f.name}" for f in files}
    needed = [f for f in files if adb.sha256(remote[f.name]) != digests[f]]
    adb.ensure_space(remote_dir, sum(f.stat().st_size for f in needed))
    for f in files:
        if on_step:
            on_step(f"{'pushing' if f in needed else 'unchanged'} {f.name}")
        if f in needed:
            adb.push(f, remote[f.name], digests[f])
    return remote


@dataclass
class RunPlan:
    threads: int
    warmup: int
    runs: int
    cpus: tuple[int, ...] = ()
    method: str | None = None
    ids: list[int] | None = None
    batch_runs: int = 10

    @property
    def cpu_mask(self) -> str | None:
        return format(sum(1 << c for c in self.cpus), "x") if self.cpus else None


def _pinned(command: str, plan: RunPlan) -> str:
    mask = plan.cpu_mask
    return f"taskset {mask} {command}" if mask else command


def run_native(
    adb: Adb, runner: Executable, model_remote: str, plan: RunPlan, on_batch=None
) -> tuple[dict, str | None]:
    """Run the native runner in batches; returns the merged runner output and why it stopped early (or None).

    A lost device or a crash after some batches gives the samples so far and the reason; a failure
    before any sample raises.
    """
    exe = f"{DEVICE_DIR}/{runner.binary.name}"
    merged: dict = {}
    samples: list[float] = []
    done_runs = 0
    while done_runs < plan.runs:
        n = min(plan.batch_runs, plan.runs - done_runs)
        args = [
            "--model", model_remote, "--threads", str(plan.threads), "--warmup", str(plan.warmup), "--runs", str(n),
        ]  # fmt: skip
        if plan.method:
            args += ["--method", plan.method]
        if plan.ids:
            args += ["--ids", ",".join(map(str, plan.ids))]
        command = f"cd {DEVICE_DIR} && LD_LIBRARY_PATH={DEVICE_DIR} " + _pinned(
            " ".join([exe, *map(shlex.quote, args)]), plan
        )
        try:
            result = adb.shell(command, check=False)
            out = _runner_json(result.stdout)
            if result.returncode != 0 or out is None or "error" in out:
                raise DeviceError(_runner_failure(adb, runner, result, out))
        except DeviceError as e:
            if not samples:
                raise
            return {**merged, "samples_ms": samples}, str(e)
        if not merged:
            merged = out
        samples += [float(x) for x in out.get("samples_ms", [])]
        merged["peak_rss_bytes"] = max(merged.get("peak_rss_bytes") or 0, out.get("peak_rss_bytes") or 0)
        done_runs += n
        if on_batch:
            on_batch(n)
    return {**merged, "samples_ms": samples}, None


def _runner_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _runner_failure(adb: Adb, runner: Executable, result, out: dict | None) -> str:
    name = runner.binary.name
    if out and "error" in out:
        return f"device {adb.serial}: {name} failed: {out['error']}"
    code = result.returncode
    if code > 128:
        signals = {134: "SIGABRT", 135: "SIGBUS", 136: "SIGFPE", 137: "SIGKILL", 139: "SIGSEGV"}
        return f"device {adb.serial}: {name} crashed ({signals.get(code, f'signal {code - 128}')}, exit {code})"
    detail = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no output"])[-1]
    if code == 126 or "not executable" in detail:
        return f"device {adb.serial}: {name} cannot be executed there: {detail}"
    return f"device {adb.serial}: {name} exited with {code} and no result: {detail}"


# -- LiteRT's benchmark_model ----------------------------------------------------------------------


def benchmark_model_command(binary_remote: str, model_remote: str, plan: RunPlan, op_profiling: bool = True) -> str:
    args = [
        f"--graph={model_remote}",
        f"--num_threads={plan.threads}",
        f"--warmup_runs={plan.warmup}",
        f"--num_runs={plan.runs}",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--report_peak_memory_footprint=true",
    ]
    if op_profiling:
        args.append("--enable_op_profiling=true")
    return _pinned(" ".join([binary_remote, *args]), plan)


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
        "operators": _node_type_summary(lines),
    }
    return out


def _node_type_summary(lines: list[str]) -> list[dict] | None:
    """The last "Summary by node type" table (the timed runs'), as [{name, count, total_ms}]."""
    starts = [i for i, line in enumerate(lines) if "Summary by node type" in line]
    if not starts:
        return None
    ops = []
    for line in lines[starts[-1] + 2 :]:
        cells = line.split()
        if len(cells) < 7 or not cells[1].isdigit():
            break
        ops.append({"name": cells[0], "count": int(cells[1]), "total_ms": float(cells[2])})
    return ops


# -- the demo app ---------------------------------------------------------------------------------


def app_start_command(model_file: str, plan: RunPlan) -> str:
    extras = ["--es", "model", model_file, "--ei", "runs", str(plan.runs), "--ei", "warmup", str(plan.warmup),
              "--ei", "threads", str(plan.threads)]  # fmt: skip
    return " ".join(["am", "start", "-W", "-n", f"{APP_PACKAGE}/{APP_ACTIVITY}", *map(shlex.quote, extras)])


def run_app(adb: Adb, model_remote: str, plan: RunPlan, timeout_s: float = 600.0) -> dict:
    """Start the demo app's benchmark mode on a pushed model and pull the record it writes."""
    adb.shell(f"rm -f {APP_RESULT}", check=False)
    result = adb.shell(app_start_command(model_remote, plan), check=False)
    text = result.stdout + result.stderr
    if result.returncode != 0 or "Error" in text:
        line = next((x for x in text.splitlines() if x.startswith("Error")), text.strip() or "no output")
        raise DeviceError(f"device {adb.serial}: the demo app did not start ({line}); install android_demo first")
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "result.json"
        while time.monotonic() < deadline:
            if adb.shell(f"test -s {APP_RESULT}", check=False).returncode == 0:
                adb.pull(APP_RESULT, local)
                try:
                    return json.loads(local.read_text())
                except json.JSONDecodeError as e:
                    raise DeviceError(f"device {adb.serial}: the app's result is not JSON ({e})") from None
            time.sleep(1.0)
    raise DeviceError(f"device {adb.serial}: the demo app wrote no result in {timeout_s:.0f} s")


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


def disconnected(e: Exception) -> bool:
    return isinstance(e, DeviceDisconnected)


# -- one artifact on one or more devices ------------------------------------------------------------


@dataclass
class AndroidJob:
    """What to run: the artifact, the runner and how, and where the results go."""

    artifact_path: Path
    artifact: dict  # the record's artifact section
    runner: str  # native, benchmark_model or app
    plan: RunPlan
    program: Executable | None = None  # the native runner or benchmark_model; None for the app
    reference_logits: list[float] | None = None


def profile(
    target,
    job: AndroidJob,
    serials: list[str] | None = None,
    all_devices: bool = False,
    on_record: Callable[[dict], None] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> list[dict]:
    """Profile one artifact on each selected device; returns the records (each also given to `on_record`).

    A device lost mid-run, or a runner that crashes after some batches, still gives a record marked
    incomplete with the samples so far (passed to `on_record`) before the error is raised.
    """
    adb = Adb()
    wanted = serials or ([target.serial] if getattr(target, "serial", None) else None)
    records = []
    for serial in select_devices(adb, wanted, all_devices):
        record, failure = _profile_one(adb.on(serial), target, job, on_status or (lambda _: None))
        if record is not None:
            records.append(record)
            if on_record:
                on_record(record)
        if failure is not None:
            raise failure
    return records


def _profile_one(adb: Adb, target, job: AndroidJob, say: Callable[[str], None]):
    from ondevice.profile import record as records

    facts = adb.facts()
    soc = facts["soc"] or "unknown SoC"
    say(f"{adb.serial}: {facts['model']} ({soc}, {facts['abi']}, Android {facts['android_version']})")
    if target.abi and target.abi not in (facts["abilist"] or [facts["abi"]]):
        raise DeviceError(f"target {target.name} is for {target.abi}; device {adb.serial} runs {facts['abi']}")
    check_cpus(facts, job.plan.cpus, target.name)
    files = [job.artifact_path]
    if job.program is not None:
        check_abi(facts, job.program, job.runner)
        check_loader(adb, job.program, job.runner)
        files = [job.program.binary, *job.program.libraries, job.artifact_path]
    remote = push_all(adb, files, say, APP_FILES if job.runner == "app" else DEVICE_DIR)
    model_remote = remote[job.artifact_path.name]
    adb.shell(f"chmod 755 {' '.join(remote[f.name] for f in files[:-1])}" if len(files) > 1 else "true")
    reason = None
    if job.runner == "native":
        say(f"{adb.serial}: {job.plan.runs} runs in batches of {job.plan.batch_runs}")
        out, reason = run_native(adb, job.program, model_remote, job.plan)
        runtime = {
            "name": "executorch",
            "version": out.get("executorch_version"),
            "runner": out.get("runner", job.program.binary.name),
            "runner_version": out.get("runner_version"),
        }
    elif job.runner == "benchmark_model":
        exe = remote[job.program.binary.name]
        result = adb.shell(benchmark_model_command(exe, model_remote, job.plan), check=False)
        if result.returncode != 0:
            raise DeviceError(_runner_failure(adb, job.program, result, None))
        out = parse_benchmark_model(result.stdout + "\n" + result.stderr)
        runtime = {"name": "litert", "version": None, "runner": "benchmark_model", "runner_version": None}
    elif job.runner == "app":
        out = run_app(adb, model_remote, job.plan)
        runtime = out.get("runtime") or {"name": None, "version": None, "runner": "app", "runner_version": None}
    else:
        raise DeviceError(f"unknown Android runner {job.runner!r}; use native, benchmark_model or app")
    try:
        after = adb.state()
    except DeviceDisconnected as e:
        after, reason = {}, reason or str(e)
    if reason is None:
        adb.remove(model_remote)  # the runner stays: the next run skips it by sha256
    record = records.build(
        artifact=job.artifact,
        target={**target.to_dict(), "serial": adb.serial},
        device=_device_section(adb, facts, after),
        runtime=runtime,
        settings={
            "threads": job.plan.threads,
            "cpu_mask": job.plan.cpu_mask,
            "warmup": job.plan.warmup,
            "runs": job.plan.runs,
            "method": job.plan.method,
            "input_tokens": len(job.plan.ids) if job.plan.ids else None,
            "runs_per_process": job.plan.batch_runs if job.runner == "native" else job.plan.runs,
        },
        run=out,
        emulated=False,
        reference_logits=job.reference_logits,
        incomplete_reason=reason,
    )
    failure = None
    if reason is not None:
        kind = DeviceDisconnected if "disconnected" in reason else DeviceError
        failure = kind(f"{reason}; {len(record['timing']['samples_ms'])} samples kept in an incomplete record")
    return record, failure


def _device_section(adb: Adb, facts: dict, after: dict) -> dict:
    return {
        "serial": adb.serial,
        "model": facts["model"],
        "manufacturer": facts["manufacturer"],
        "soc": facts["soc"],
        "abi": facts["abi"],
        "os": f"Android {facts['android_version']} (SDK {facts['sdk']})",
        "fingerprint": facts["fingerprint"],
        "kernel": facts.get("kernel"),
        "cores": facts["cores"],
        "max_freq_khz": facts["max_freq_khz"],
        "governor": facts["governor"],
        "temperature_c_before": facts["temperature_c"],
        "temperature_c_after": after.get("temperature_c"),
        "battery_before": facts["battery"],
        "battery_after": after.get("battery"),
    }
