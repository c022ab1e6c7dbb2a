"""The Android target: LiteRT benchmark_model parsing, ELF checks, and profiling end to end on stand-in devices."""

import pytest
from adb_device import DeviceSpec

from ondevice.errors import DeviceError
from ondevice.profile.android import benchmark_model_command, parse_benchmark_model
from ondevice.profile.runners import Job

# benchmark_model's log as LiteRT 2.x prints it on a phone (logcat-style "INFO: " prefixes), with op
# profiling and peak memory reporting on. Numbers are ours; the layout is the tool's.
BENCHMARK_MODEL_LOG = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Min num runs: [20]
INFO: Num threads: [2]
INFO: Min warmup runs: [3]
INFO: Graph: [/data/local/tmp/ondevice/model_int8.tflite]
INFO: Enable op profiling: [1]
INFO: Report the peak memory footprint: [1]
INFO: #threads used for CPU inference: [2]
INFO: Loaded model /data/local/tmp/ondevice/model_int8.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: The input model file size (MB): 23.4512
INFO: Initialized session in 61.482ms.
INFO: Running benchmark for at least 3 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=3 first=48211 curr=30917 min=30917 max=48211 avg=36830.3 std=7951 p5=30917 median=31362 p95=48211

INFO: Running benchmark for at least 20 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=20 first=30455 curr=29874 min=29102 max=33867 avg=30214.6 std=1063 p5=29102 median=29988 p95=33867

INFO: Inference timings in us: Init: 61482, First inference: 48211, Warmup (avg): 36830.3, Inference (avg): 30214.6
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the \
actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=27.1836 overall=41.0078
INFO: Overall peak memory footprint (MB) via periodic monitoring: 44.8945
INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t   TfLiteXNNPackDelegate\t        7\t    27.940\t    93.105%\t    93.105%\t     0.000\t        7
\t                 GATHER\t        2\t     1.204\t     4.012%\t    97.117%\t     0.000\t        2
\t                SOFTMAX\t        6\t     0.611\t     2.036%\t    99.153%\t     0.000\t        6
\t                    ADD\t        3\t     0.254\t     0.847%\t   100.000%\t     0.000\t        3

Timings (microseconds): count=20 first=30101 curr=29655 min=28890 max=33501 avg=30009.4 std=1041
Memory (bytes): count=0
18 nodes observed
"""

# An older build prints no prefixes and only the delta line for memory.
BENCHMARK_MODEL_OLD_LOG = """\
Loaded model /data/local/tmp/m.tflite
count=1 curr=90210

count=50 first=71934 curr=70877 min=70213 max=75110 avg=71502.9 std=988

Inference timings in us: Init: 8123, First inference: 90210, Warmup (avg): 90210, Inference (avg): 71502.9
Memory footprint delta from the start of the tool (MB): init=3.5 overall=60.25
"""


def test_parse_benchmark_model():
    out = parse_benchmark_model(BENCHMARK_MODEL_LOG)
    assert out["load_ms"] == pytest.approx(61.482) and out["first_inference_ms"] == pytest.approx(48.211)
    assert out["samples_ms"] == []  # the tool prints statistics, not samples
    s = out["summary_ms"]
    assert s["count"] == 20 and s["mean_ms"] == pytest.approx(30.2146) and s["p50_ms"] == pytest.approx(29.988)
    assert s["min_ms"] == pytest.approx(29.102) and s["max_ms"] == pytest.approx(33.867)
    assert s["std_ms"] == pytest.approx(1.063)
    assert out["peak_rss_bytes"] == int(44.8945 * 1024 * 1024)
    ops = out["operators"]
    assert ops["runs"] == 20 and ops["ops"][0] == {"name": "TfLiteXNNPackDelegate", "count": 7, "total_ms": 27.94}
    assert [op["name"] for op in ops["ops"]] == ["TfLiteXNNPackDelegate", "GATHER", "SOFTMAX", "ADD"]


def test_parse_benchmark_model_older_format():
    out = parse_benchmark_model(BENCHMARK_MODEL_OLD_LOG)
    assert out["summary_ms"]["count"] == 50 and out["summary_ms"]["mean_ms"] == pytest.approx(71.5029)
    assert out["summary_ms"]["p50_ms"] is None and out["operators"] is None
    assert out["peak_rss_bytes"] == int(60.25 * 1024 * 1024)


def test_parse_benchmark_model_failure():
    log = "INFO: Loaded model /data/local/tmp/m.tflite\nERROR: Failed to allocate tensors!\n"
    with pytest.raises(DeviceError, match="benchmark_model gave no timing summary: ERROR: Failed to allocate tensors!"):
        parse_benchmark_model(log)


def test_benchmark_model_command_pins_and_sets_counts():
    plan = Job(path="m.tflite", format="tflite", runner="benchmark_model", method=None, seq_len=None, threads=4,
               warmup=3, runs=20, cpus=(4, 5, 6, 7))  # fmt: skip
    cmd = benchmark_model_command("/data/local/tmp/ondevice/benchmark_model", "/data/local/tmp/m.tflite", plan)
    assert cmd.startswith("taskset f0 /data/local/tmp/ondevice/benchmark_model --graph=/data/local/tmp/m.tflite")
    assert "--num_threads=4" in cmd and "--warmup_runs=3" in cmd and "--num_runs=20" in cmd


# -- end to end: `ondevice profile --target android` through the real adb and stand-in devices --------


@pytest.fixture
def tiny_pte(tiny_bundle):
    """The small BERT of the session's bundle as .pte (sequence length 32): the profiler reads its manifest."""
    return tiny_bundle / "model.fp32.pte"


def _profile(*args):
    from click.testing import CliRunner

    from ondevice.cli import cli

    return CliRunner().invoke(cli, ["profile", *map(str, args)])


def _one_line_error(result) -> str:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def _host_logits(pte):
    """The host's logits for the sentence the profiler feeds, through ExecuTorch's own Python runtime."""
    import numpy as np

    from ondevice import converters
    from ondevice.profile.profiler import resolve_artifacts, token_ids

    (artifact,) = resolve_artifacts([pte])
    runner = converters.open_runner(pte, threads=1)
    length = max(artifact.seq_lens)
    ids = token_ids(artifact, length)
    input_ids = np.zeros((1, length), runner.input_dtype)
    input_ids[0, : len(ids)] = ids
    return runner.run(input_ids, (input_ids != 0).astype(runner.input_dtype))[0]


def test_profile_on_android_end_to_end(connect_device, runner_cache, tiny_pte, tmp_path):
    import json

    import numpy as np

    device = connect_device()
    out = tmp_path / "results"
    result = _profile(tiny_pte, "--target", "pixel-8", "--warmup", 1, "--runs", 3, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    (rec,) = json.loads(result.stdout)["records"]
    assert rec["complete"] and not rec["emulated"] and rec["target"]["name"] == "pixel-8"
    assert rec["device"]["serial"] == device.serial and rec["device"]["model"] == "Pixel 7"
    assert rec["device"]["soc"] == "Tensor G2" and rec["device"]["cores"] == 8 and rec["device"]["abi"] == "arm64-v8a"
    assert rec["device"]["temperature_c_before"] == 36.5 and rec["device"]["battery_after"]["level"] == 87
    assert rec["runtime"]["name"] == "executorch" and rec["runtime"]["runner"] == "native"
    assert len(rec["timing"]["samples_ms"]) == 3 and rec["timing"]["p50_ms"] > 0 and rec["timing"]["load_ms"] > 0
    assert rec["settings"]["cpu_mask"] == "30" and rec["settings"]["threads"] == 2
    runs = [c for c in device.commands if c.startswith("(\ncd /data/local/tmp/ondevice && LD_LIBRARY_PATH=")]
    assert runs and all("taskset 30 /data/local/tmp/ondevice/ondevice-et-runner --model" in c for c in runs)
    # The device computed what the host computes: aarch64 code, under qemu, on the pushed files.
    assert np.abs(np.array(rec["outputs"]["logits"]) - _host_logits(tiny_pte)).max() < 1e-4
    # The artifact is removed afterwards; the runner stays and is not pushed again.
    assert not device.host_path("/data/local/tmp/ondevice/model.fp32.pte").exists()
    assert device.host_path("/data/local/tmp/ondevice/ondevice-et-runner").is_file()
    again = _profile(tiny_pte, "--target", "android", "--warmup", 0, "--runs", 1, "--out", out)
    assert again.exit_code == 0, again.output
    assert "unchanged ondevice-et-runner" in again.stderr and "pushing model.fp32.pte" in again.stderr
    assert len(list(out.glob("*.json"))) == 2


def test_profile_on_several_devices(connect_device, runner_cache, tiny_pte, tmp_path):
    import json

    phone = connect_device()
    emulator = connect_device(DeviceSpec(model="sdk_gphone64_x86_64", abi="x86_64", soc="", platform="ranchu"))
    out = tmp_path / "results"
    ambiguous = _profile(tiny_pte, "--target", "android", "--runs", 1, "--out", out)
    assert "2 devices attached" in _one_line_error(ambiguous) and not out.exists()
    result = _profile(
        tiny_pte, "--target", "android", "--all-devices", "--warmup", 0, "--runs", 2, "--out", out, "--json"
    )
    assert result.exit_code == 0, result.output
    recs = {r["device"]["serial"]: r for r in json.loads(result.stdout)["records"]}
    assert set(recs) == {phone.serial, emulator.serial} and len(list(out.glob("*.json"))) == 2
    assert recs[emulator.serial]["device"]["abi"] == "x86_64"  # the x86-64 runner, run natively
    assert recs[phone.serial]["target"]["serial"] == phone.serial
    a, b = (recs[s]["outputs"]["logits"] for s in (phone.serial, emulator.serial))
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-4
    for pick in (["--target", f"android:{emulator.serial}"], ["--target", "android", "-s", emulator.serial]):
        one = _profile(tiny_pte, *pick, "--runs", 1, "--out", tmp_path / pick[-1])
        assert one.exit_code == 0, one.output
        assert emulator.serial.replace(":", "_") in next((tmp_path / pick[-1]).glob("*.json")).name


FAULTS = {
    "no device": (None, "no Android device attached"),
    "unknown serial": ("android:emulator-5554", "no device 'emulator-5554' attached"),
    "wrong ABI": (DeviceSpec(abi="armeabi-v7a"), "no native runner for armeabi-v7a devices"),
    "pinned cores missing": (DeviceSpec(max_freq_khz=(1800000,) * 4), "target pixel-8 pins cores 4,5 but device"),
    "full disk": (DeviceSpec(storage_kb=64), "not enough space in /data/local/tmp/ondevice"),
    "Linux runner on a phone": (DeviceSpec(sysroot=""), "is a Linux build (loader /lib/ld-linux-aarch64.so.1)"),
    "runner crash": (DeviceSpec(crash_at_native_run=1), "crashed (SIGSEGV)"),
    "lost before a sample": (DeviceSpec(disconnect_at_native_run=1), "disconnected"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_profile_faults_give_one_line(fault, connect_device, runner_cache, tiny_pte, tmp_path):
    spec, message = FAULTS[fault]
    target = "pixel-8" if fault == "pinned cores missing" else "android"
    if isinstance(spec, str):
        connect_device()
        target = spec
    elif spec is not None:
        connect_device(spec)
    result = _profile(tiny_pte, "--target", target, "--warmup", 0, "--runs", 2, "--out", tmp_path / "r")
    assert message in _one_line_error(result)
    assert not list((tmp_path / "r").glob("*.json")) if (tmp_path / "r").exists() else True


def test_lost_device_keeps_the_samples_so_far(connect_device, runner_cache, tiny_pte, tmp_path):
    from ondevice.profile import record

    # The runner prints one "ondevice: sample_ms=" line per timed run on stderr: the cable goes after
    # the third of ten.
    device = connect_device(DeviceSpec(disconnect_after_native_lines=("sample_ms=", 3)))
    result = _profile(tiny_pte, "--target", "android", "--warmup", 0, "--runs", 10, "--out", tmp_path / "r")
    line = _one_line_error(result)
    assert f"device {device.serial} disconnected" in line and "marked incomplete" in line
    (path,) = (tmp_path / "r").glob("*.json")
    rec = record.load(path)
    assert rec["complete"] is False and "disconnected" in rec["incomplete_reason"]
    assert len(rec["timing"]["samples_ms"]) == 3 and rec["timing"]["load_ms"] > 0


def test_wrong_abi_runner_is_refused_before_pushing(connect_device, runner_cache, tiny_pte, tmp_path):
    from ondevice.profile import native

    x86 = native.build("x86_64").parent
    device = connect_device()
    result = _profile(tiny_pte, "--target", "android", "--runner", f"native={x86}", "--out", tmp_path / "r")
    line = _one_line_error(result)
    assert f"ondevice-et-runner is built for x86_64; device {device.serial} (Pixel 7) runs arm64-v8a" in line
    assert not device.host_path("/data/local/tmp/ondevice").exists()


def test_no_adb_binary(tiny_pte, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    line = _one_line_error(_profile(tiny_pte, "--target", "android", "--out", tmp_path / "r"))
    assert "adb not found: install it with `ondevice setup`" in line


def test_benchmark_model_for_the_wrong_abi(connect_device, tiny_bundle, tmp_path):
    """A user-provided benchmark_model is checked like our runner: here an x86-64 program for an arm64 phone."""
    import shutil
    import sys

    device = connect_device()
    tool = tmp_path / "benchmark_model"
    shutil.copy(sys.executable, tool)  # a real x86-64 executable, not an Android arm64 one
    model = tiny_bundle / "model.fp32.tflite"
    result = _profile(model, "--target", "android", "--runner", f"benchmark_model={tool}", "--out", tmp_path / "r")
    assert f"benchmark_model is built for x86_64; device {device.serial}" in _one_line_error(result)


def test_app_runner_starts_the_benchmark_activity(connect_device, tiny_pte, tmp_path, monkeypatch):
    """A target file that names the demo app's runner; the stand-in has no app installed, as a fresh phone."""
    targets = tmp_path / "config" / "ondevice" / "targets"
    targets.mkdir(parents=True)
    (targets / "phone-app.toml").write_text('kind = "android"\nthreads = 4\n[runners]\nexecutorch = ["app"]\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    device = connect_device()
    result = _profile(tiny_pte, "--target", "phone-app", "--warmup", 2, "--runs", 7, "--out", tmp_path / "r")
    line = _one_line_error(result)
    assert "the demo app did not start (Error: Activity class {org.ondevice.demo/org.ondevice.demo.Benchmark" in line
    start = next(c for c in device.commands if c.startswith("(\nam start"))
    assert "-n org.ondevice.demo/.BenchmarkActivity --es model model.fp32.pte --ei runs 7 --ei warmup 2" in start
    assert "--ei threads 4 --es out ondevice-" in start and "--ei seq_len 32" in start
    assert not device.host_path("/data/local/tmp/ondevice/model.fp32.pte").exists()  # the app has its own


def _app_record(pte, **changes) -> str:
    """A record as the app writes it (the same schema as ours), made with our record builder."""
    import json

    from ondevice.bundle import sha256
    from ondevice.profile import record

    rec = record.build(
        artifact={"path": "ondevice/model.fp32.pte", "file": "model.fp32.pte", "format": "executorch",
                  "sha256": sha256(pte), "size_bytes": pte.stat().st_size},
        target={"name": "android-app", "kind": "android-app", "serial": None},
        device={"model": "Google Pixel 8"},
        runtime={"name": "executorch", "version": "1.0.0", "runner": "android-app", "runner_version": 1},
        settings={"threads": 2, "cpu_mask": None, "warmup": 1, "runs": 3, "method": "forward", "seq_len": 32},
        run={"samples_ms": [4.5, 4.25, 4.75], "load_ms": 31.0, "first_inference_ms": 9.5, "logits": [0.25, -0.5],
             "peak_rss_bytes": 123456789, "input_dtype": "int64"},
        emulated=False,
    )  # fmt: skip
    rec.update(changes)
    return json.dumps(rec)


def test_app_record_becomes_runner_output(tiny_pte):
    from ondevice.bundle import sha256
    from ondevice.profile.android import app_record_as_run
    from ondevice.profile.runners import RunnerFailed

    run = app_record_as_run(_app_record(tiny_pte), "model.fp32.pte", sha256(tiny_pte), "R58N")
    assert run["samples_ms"] == [4.5, 4.25, 4.75] and run["load_ms"] == 31.0 and run["first_inference_ms"] == 9.5
    assert run["logits"] == [0.25, -0.5] and run["method"] == "forward" and run["seq_len"] == 32
    assert run["runtime"]["name"] == "executorch" and run["peak_rss_bytes"] == 123456789
    with pytest.raises(DeviceError, match=r"^the demo app on R58N has another model.fp32.pte \(sha256 "):
        app_record_as_run(_app_record(tiny_pte), "model.fp32.pte", "0" * 64, "R58N")
    failed = _app_record(tiny_pte, complete=False, incomplete_reason="out of memory", error="out of memory")
    with pytest.raises(RunnerFailed, match="^the demo app on R58N: out of memory$"):
        app_record_as_run(failed, "model.fp32.pte", sha256(tiny_pte), "R58N")
    with pytest.raises(DeviceError, match="not JSON"):
        app_record_as_run("{truncated", "model.fp32.pte", sha256(tiny_pte), "R58N")
