"""`ondevice search --target android` with two stand-in phones (real adb, aarch64 code under qemu): each
device is a Ray resource that measures one trial at a time; one phone drops off its cable when its
first measurement starts, and that trial is recorded as failed while the search goes on with the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from adb_device import DeviceSpec

CLI = Path(sys.executable).with_name("ondevice")


def test_search_measures_on_adb_devices_and_survives_one_lost(
    connect_device, runner_cache, search_model, search_data, tiny_space, tmp_path
):
    phone = connect_device()
    lost = connect_device(DeviceSpec(disconnect_at_native_run=1), name="lost")
    out = tmp_path / "search"
    argv = [str(CLI), "search", str(search_model), "--data", str(search_data), "--space", str(tiny_space)]
    argv += ["--out", str(out), "--target", "android", "--val-size", "300", "--trial-minutes", "0.5"]
    argv += ["--trials", "4", "--workers", "2", "--json"]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "ONDEVICE_PROGRESS": "0"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=2400, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert sorted(results["cluster"]["devices"]) == sorted([phone.serial, lost.serial])
    assert "2 device(s)" in done.stderr
    trials = results["trials"]
    failed = [t for t in trials if t["state"] == "failed"]
    complete = [t for t in trials if t["state"] == "complete"]
    assert len(failed) == 1 and len(complete) == 3, [(t["number"], t["state"]) for t in trials]
    assert failed[0]["failed_in"] == "measure" and f"device {lost.serial} disconnected" in failed[0]["error"]
    assert f"device {lost.serial} left the search" in done.stderr
    for t in complete:
        assert t["device"] == phone.serial
        rec = json.loads(Path(t["profile_record"]).read_text())
        assert rec["device"]["serial"] == phone.serial and rec["device"]["abi"] == "arm64-v8a"
        assert rec["runtime"]["runner"] == "native" and rec["timing"]["p50_ms"] == t["latency_ms"] > 0
        manifest = json.loads((Path(t["bundle"]) / "ondevice.json").read_text())
        assert manifest["target"] == "android" and manifest["artifacts"][0]["format"] == "executorch"
    assert results["pick"] in {t["number"] for t in complete}
