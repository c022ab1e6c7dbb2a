"""`--target linux-arm64-qemu`: every format really runs as ARM64 code under qemu and computes the host's logits."""

import json
import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.profile import qemu, record


def _why_not() -> str | None:
    for tool in ("qemu-aarch64-static", "aarch64-linux-gnu-g++", "g++", "dpkg", "apt-get"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    archs = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True).stdout
    if "arm64" not in archs.split() and os.geteuid() != 0:
        return "dpkg has no arm64 architecture, and adding it needs root"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


def test_every_format_on_emulated_arm64(tiny_bundle, tmp_path):
    out = tmp_path / "results"
    r = CliRunner().invoke(
        cli,
        [
            "profile",
            str(tiny_bundle),
            "--target",
            "linux-arm64-qemu",
            "--warmup",
            "0",
            "--runs",
            "2",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "not a device's speed" in r.stdout
    recs = [record.load(f) for f in sorted(out.glob("*.json"))]
    assert {(x["artifact"]["format"], x["runtime"]["runner"]) for x in recs} == {
        ("executorch", "native"),
        ("tflite", "python"),
        ("onnx", "python"),
    }
    for rec in recs:
        assert rec["emulated"] and rec["complete"] and len(rec["timing"]["samples_ms"]) == 2
        assert rec["device"]["abi"] == "arm64-v8a" and rec["device"]["qemu_cpu"] == qemu.QEMU_CPU
        o = rec["outputs"]
        assert o["match"] and o["max_abs_diff"] <= 1e-3 and o["same_label"], (rec["artifact"]["file"], o)
    ops = next(x for x in recs if x["artifact"]["format"] == "tflite")["operators"]
    assert ops["source"] == "litert profiler" and "error" not in ops, ops  # the aarch64 wheel's libLiteRt.so
    assert any(o["name"].startswith("Fully Connected") for o in ops["ops"])
    # The sysroot really is ARM64: its Python is an aarch64 ELF file.
    python = qemu.sysroot_dir() / "usr" / "bin" / "python3.11"
    assert python.read_bytes()[18:20] == (183).to_bytes(2, "little")  # e_machine EM_AARCH64
    assert json.loads(json.dumps(recs))  # the records are plain JSON


def test_python_bindings_of_executorch_are_refused_on_arm64(tiny_bundle, tmp_path):
    r = CliRunner().invoke(
        cli,
        ["profile", str(tiny_bundle / "model.fp32.pte"), "--target", "linux-arm64-qemu", "--runner", "python"],
    )
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "target linux-arm64-qemu has no python executorch runner for model.fp32.pte" in r.stderr
