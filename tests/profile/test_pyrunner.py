"""The Python runner: the runner contract over LiteRT and ONNX Runtime, checked against the converters' runners."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ondevice.profile.runners import PYRUNNER, RunnerFailed, parse_output, partial_results


def _run(*args):
    proc = subprocess.run([sys.executable, str(PYRUNNER), *map(str, args)], capture_output=True, text=True, timeout=300)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_same_logits_as_the_converters_runner(tiny_bundle, fmt):
    from ondevice import converters

    path = tiny_bundle / f"model.fp32.{fmt}"
    ids = [101, 7592, 2088, 102]
    code, out, err = _run("--model", path, "--threads", 1, "--warmup", 0, "--runs", 3, "--ids", "101,7592,2088,102")
    assert code == 0, out
    assert out["seq_len"] == 32 and len(out["samples_ms"]) == 3 and err.count("ondevice: sample_ms=") == 3
    input_ids = np.zeros((1, 32), dtype=np.int64)
    input_ids[0, :4] = ids
    expected = converters.open_runner(path, threads=1).run(input_ids, (input_ids > 0).astype(np.int64))[0]
    assert np.abs(np.array(out["logits"]) - expected).max() < 1e-5


def test_errors_are_one_json_line(tiny_bundle, tmp_path):
    code, out, _ = _run("--model", tmp_path / "absent.onnx")
    assert code == 1 and "no such file" in out["error"]
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    code, out, _ = _run("--model", bad)
    assert code == 1 and "ONNX Runtime cannot load it" in out["error"]
    code, out, _ = _run("--model", tiny_bundle / "model.fp32.tflite", "--method", "serving_default_64")
    assert code == 1 and "no signature 'serving_default_64'" in out["error"]
    code, out, _ = _run("--model", tiny_bundle / "model.fp32.onnx", "--runs", "0")
    assert code == 2 and "--runs must be at least 1" in out["error"]


def test_reading_runner_output():
    assert parse_output("r", '{"samples_ms": [1], "load_ms": 1, "first_inference_ms": 1, "logits": [0]}', "", 0)
    with pytest.raises(RunnerFailed, match=r"^r: model\.pte: cannot open$"):
        parse_output("r", '{"error": "model.pte: cannot open"}', "", 1)
    # A shell (adb shell) reports a signal as 128 + N; its last stderr line is kept as a hint.
    with pytest.raises(RunnerFailed, match=r"r crashed \(SIGSEGV\): Segmentation fault") as e:
        parse_output("r", "", "ondevice: load_ms=5\nondevice: sample_ms=2.5\nSegmentation fault\n", 139)
    assert e.value.partial == {"samples_ms": [2.5], "load_ms": 5.0}
    with pytest.raises(RunnerFailed, match="printed no result"):
        parse_output("r", "hello", "", 0)
    assert partial_results("noise\nondevice: sample_ms=x\nondevice: sample_ms=3\n") == {"samples_ms": [3.0]}


def test_a_crash_names_its_cause_not_a_log_line():
    """The runtime's own error (ExecuTorch's E lines), else the signal; where it stopped; never an info line."""
    log = (
        "I 00:00:00.000698 executorch:threadpool.cpp:66] Resetting threadpool to 2 threads.\n"
        "E 00:00:00.000867 executorch:program.cpp:592] No segments in program: requested index 1\n"
        "I 00:00:00.000900 executorch:cpuinfo_utils.cpp:125] CPU info and manual query on # of cpus dont match.\n"
    )
    with pytest.raises(RunnerFailed) as e:
        parse_output("native runner on m.pte", "", log, -11)
    line = str(e.value)
    assert line.startswith("native runner on m.pte crashed (SIGSEGV): No segments in program: requested index 1")
    assert "[program.cpp:592] (while loading the model)" in line and "probably damaged" in line
    assert "threadpool" not in line and "cpuinfo" not in line
    # Only info lines: the signal itself is the cause.
    with pytest.raises(RunnerFailed) as e:
        parse_output("r", "", log.splitlines()[0] + "\nondevice: load_ms=3\n", -7)
    assert (
        str(e.value) == "r crashed (SIGBUS): Bus error (in its first inference); the model file is probably damaged: "
        "export it again (a bundle's checksums are checked first)"
    )
    # Later in a run, no damage is suggested.
    with pytest.raises(RunnerFailed) as e:
        parse_output("r", "", "ondevice: load_ms=3\nondevice: first_inference_ms=1\nondevice: sample_ms=2\n", -6)
    assert str(e.value) == "r crashed (SIGABRT): Aborted (after 1 timed run)"
    # A runner that exits with a status and prints no JSON: its last error-like line.
    with pytest.raises(
        RunnerFailed, match=r"^r exited with status 3: ValueError: bad ids \(while loading the model\)$"
    ):
        parse_output("r", "", "Traceback (most recent call last):\nValueError: bad ids\n", 3)
