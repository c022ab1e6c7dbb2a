"""`ondevice profile --target host` end to end through the CLI (profiler, host target, runners), and the faults
it must report in one line."""

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.profile import record


def _error_line(r) -> str:
    assert r.exit_code != 0, r.output
    assert "Traceback" not in r.output
    return [line for line in r.stderr.splitlines() if line.strip()][-1]


def _profile(*args):
    return CliRunner().invoke(cli, ["profile", *map(str, args)])


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ for the native runner")
def test_profile_bundle_on_host(tiny_bundle, tmp_path):
    out = tmp_path / "results"
    r = _profile(tiny_bundle, "--target", "host", "--warmup", 1, "--runs", 5, "--threads", 1, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    recs = json.loads(r.stdout)["records"]
    files = sorted(out.glob("*.json"))
    assert len(recs) == len(files) == 4  # .pte with the native and the Python runner, .tflite, .onnx
    by = {(x["artifact"]["format"], x["runtime"]["runner"]): x for x in map(record.load, files)}
    assert set(by) == {("executorch", "native"), ("executorch", "python"), ("tflite", "python"), ("onnx", "python")}
    manifest = json.loads((tiny_bundle / "ondevice.json").read_text())
    for (fmt, _), rec in by.items():
        entry = next(a for a in manifest["artifacts"] if a["format"] == fmt)
        assert rec["complete"] and not rec["emulated"] and rec["target"]["name"] == "host"
        assert rec["artifact"]["sha256"] == entry["sha256"] and rec["artifact"]["size_bytes"] == entry["size_bytes"]
        assert rec["artifact"]["verification"]["max_abs_logit_diff"] == entry["verification"]["max_abs_logit_diff"]
        assert {k: rec["settings"][k] for k in ("threads", "warmup", "runs", "seq_len")} == {
            "threads": 1,
            "warmup": 1,
            "runs": 5,
            "seq_len": 32,
        }
        t = rec["timing"]
        assert len(t["samples_ms"]) == 5 and 0 < t["min_ms"] <= t["p50_ms"] <= t["p90_ms"] <= t["max_ms"]
        assert t["load_ms"] > 0 and t["first_inference_ms"] > 0 and rec["memory"]["peak_rss_bytes"] > 1e6
        assert rec["device"]["cores"] == os.cpu_count() and rec["runtime"]["version"]
        assert len(rec["outputs"]["logits"]) == 3  # the tiny model's three labels
    # Every runtime computes the same function: the fp32 artifacts agree with each other.
    ref = by[("executorch", "native")]["outputs"]["logits"]
    for rec in by.values():
        assert max(abs(a - b) for a, b in zip(rec["outputs"]["logits"], ref, strict=True)) < 1e-4
    assert by[("executorch", "native")]["outputs"]["logits"] == pytest.approx(
        by[("executorch", "python")]["outputs"]["logits"], abs=1e-6
    )
    ops = by[("onnx", "python")]["operators"]
    assert ops["source"] == "onnxruntime profiler" and any(o["name"] == "MatMul" for o in ops["ops"])
    ops = by[("executorch", "python")]["operators"]
    assert ops["source"] == "executorch etdump" and ops["runs"] == 3
    assert any(o["name"].startswith("Fully Connected") and o["total_ms"] > 0 for o in ops["ops"])  # inside XNNPACK
    ops = by[("tflite", "python")]["operators"]  # LiteRT's profiler, through its C library
    assert ops["source"] == "litert profiler" and ops["runs"] == 3 and "error" not in ops
    assert any(o["name"].startswith("Fully Connected") and o["count"] > 0 for o in ops["ops"])  # XNNPACK's own
    assert sum(o["total_ms"] for o in ops["ops"]) > 0
    assert by[("executorch", "native")]["operators"] is None  # the wheels' libraries carry no event tracer


def test_one_artifact_to_one_file_with_taskset(tiny_bundle, tmp_path, monkeypatch):
    if shutil.which("taskset") is None:
        pytest.skip("needs taskset")
    cfg = tmp_path / "config" / "ondevice" / "targets"
    cfg.mkdir(parents=True)
    (cfg / "pinned.toml").write_text('kind = "host"\nthreads = 1\ncpus = [0]\n[runners]\ntflite = ["python"]\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    out = tmp_path / "one.json"
    r = _profile(tiny_bundle / "model.fp32.tflite", "--target", "pinned", "--runs", 2, "--warmup", 0, "--out", out)
    assert r.exit_code == 0, r.output
    rec = record.load(out)
    assert rec["settings"]["cpus"] == [0] and rec["settings"]["cpu_mask"] == "1" and rec["target"]["name"] == "pinned"


def _kill_runner_after_first_samples(artifact: Path, sig: int | None) -> threading.Thread:
    """Find the runner process that reads ``artifact`` and send it ``sig`` once it has timed a few runs
    (``None``: press Ctrl-C in the profiler instead)."""

    def watch():
        deadline = time.time() + 600  # the runner may first be compiled, slowly on a loaded machine
        while time.time() < deadline:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if str(artifact).encode() in cmd and any(b"ondevice-et-runner" in c for c in cmd):
                    time.sleep(1.5)
                    if sig is None:  # Ctrl-C: a real SIGINT, which also wakes a main thread blocked in a wait
                        os.kill(os.getpid(), signal.SIGINT)
                    else:
                        os.kill(int(pid), sig)
                    return
            time.sleep(0.05)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ for the native runner")
def test_a_runner_that_crashes_leaves_a_partial_record(tiny_bundle, tmp_path):
    pte = tiny_bundle / "model.fp32.pte"
    watcher = _kill_runner_after_first_samples(pte, signal.SIGSEGV)
    out = tmp_path / "results"
    r = _profile(pte, "--target", "host", "--runner", "native", "--runs", 1_000_000, "--warmup", 0, "--out", out)
    watcher.join()
    line = _error_line(r)
    assert "native runner on model.fp32.pte crashed (SIGSEGV)" in line and "marked incomplete" in line
    (f,) = out.glob("*.json")
    rec = record.load(f)
    assert rec["complete"] is False and "SIGSEGV" in rec["incomplete_reason"]
    assert len(rec["timing"]["samples_ms"]) > 0 and rec["timing"]["p50_ms"] > 0


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ for the native runner")
def test_an_interrupted_run_keeps_its_samples(tiny_bundle, tmp_path):
    pte = tiny_bundle / "model.fp32.pte"
    # Ctrl-C reaches Python's own SIGINT handler in a terminal; an earlier test in this process may
    # have left another installed, and interrupt_main does nothing under SIG_IGN or SIG_DFL.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        watcher = _kill_runner_after_first_samples(pte, None)
        out = tmp_path / "results"
        r = _profile(pte, "--target", "host", "--runner", "native", "--runs", 1_000_000, "--warmup", 0, "--out", out)
        watcher.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "native runner on model.fp32.pte was interrupted" in _error_line(r)
    (f,) = out.glob("*.json")
    rec = record.load(f)
    assert rec["complete"] is False and len(rec["timing"]["samples_ms"]) > 0


def test_faults_are_one_line(tiny_bundle, tmp_path, monkeypatch):
    out = tmp_path / "results"
    assert "unknown target 'phone'" in _error_line(_profile(tiny_bundle, "--target", "phone", "--out", out))
    assert "no such artifact or bundle" in _error_line(_profile(tmp_path / "absent.pte", "--out", out))
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert "not a .pte, .tflite or .onnx file" in _error_line(_profile(notes, "--out", out))
    # A truncated artifact outside a bundle, and a changed one inside a bundle.
    loose = tmp_path / "loose.tflite"
    loose.write_bytes((tiny_bundle / "model.fp32.tflite").read_bytes()[:100])
    assert "loose.tflite" in _error_line(_profile(loose, "--out", out))
    bad = tmp_path / "bad-bundle"
    shutil.copytree(tiny_bundle, bad)
    data = bytearray((bad / "model.fp32.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "model.fp32.onnx").write_bytes(bytes(data))
    assert "sha256 does not match the manifest" in _error_line(_profile(bad / "model.fp32.onnx", "--out", out))
    # An artifact the target has no runner for (an .onnx on Android), a length the artifact lacks.
    line = _error_line(_profile(tiny_bundle / "model.fp32.onnx", "--target", "android", "--out", out))
    assert "target android has no onnx runner for model.fp32.onnx" in line
    line = _error_line(_profile(tiny_bundle / "model.fp32.onnx", "--seq-len", "64", "--out", out))
    assert "has sequence lengths 32, not 64" in line
    # The emulated target without qemu on PATH.
    monkeypatch.setenv("PATH", str(tmp_path))
    line = _error_line(_profile(tiny_bundle / "model.fp32.tflite", "--target", "linux-arm64-qemu", "--out", out))
    assert "qemu-aarch64-static is not installed" in line and "qemu-user-static" in line
    assert not out.exists()  # nothing was measured, nothing written
