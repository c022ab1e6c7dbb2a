"""The native ExecuTorch runner: built from source against the executorch wheel and run for real."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from ondevice.profile import native


@pytest.fixture(scope="module")
def runner(profile_cache, tiny_bundle):
    # The module-scoped fixture runs before the autouse cache fixture: point the build at the shared cache.
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(profile_cache))
    try:
        yield native.build()
    finally:
        mp.undo()


def _run(binary, *args):
    proc = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_runner_output_matches_executorch_python(runner, tiny_bundle):
    from ondevice.converters.executorch_runtime import Runner

    pte = tiny_bundle / "model.fp32.pte"
    ids = [101, 2009, 1005, 1055, 1037, 11951, 102]
    code, out, err = _run(
        runner, "--model", pte, "--threads", 1, "--warmup", 1, "--runs", 4, "--ids", ",".join(map(str, ids))
    )
    assert code == 0, out
    assert out["method"] == "forward" and out["seq_len"] == 32 and len(out["samples_ms"]) == 4
    assert all(s > 0 for s in out["samples_ms"]) and out["load_ms"] > 0 and out["peak_rss_bytes"] > 1_000_000
    # Every sample is also printed on stderr as it is measured: what a cut-short run leaves behind.
    assert err.count("ondevice: sample_ms=") == 4

    py = Runner(pte, threads=1)
    input_ids = np.zeros((1, 32), dtype=np.int64)
    mask = np.zeros((1, 32), dtype=np.int64)
    input_ids[0, : len(ids)] = ids
    mask[0, : len(ids)] = 1
    expected = py.run(input_ids, mask)[0]
    assert np.abs(np.array(out["logits"]) - expected).max() < 1e-5
    # The build directory is self-contained: the binary and the libraries it loads through $ORIGIN.
    assert {p.name for p in native.files(runner)} <= {p.name for p in runner.parent.iterdir()}


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_runner_errors_are_one_json_line(runner, tiny_bundle, tmp_path):
    code, out, _ = _run(runner, "--model", tmp_path / "absent.pte")
    assert code == 1 and "cannot open" in out["error"]
    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"\0" * 64)
    code, out, _ = _run(runner, "--model", bad)
    assert code == 1 and "not a loadable ExecuTorch program" in out["error"]
    code, out, _ = _run(runner, "--model", tiny_bundle / "model.fp32.pte", "--method", "forward_999")
    assert code == 1 and "no method 'forward_999'" in out["error"]
    code, out, _ = _run(runner, "--model", tiny_bundle / "model.fp32.pte", "--runs", "0")
    assert code == 2 and "--runs takes an integer" in out["error"]
    code, out, _ = _run(runner, "--model", tiny_bundle / "model.fp32.pte", "--ids", ",".join(["7"] * 40))
    assert code == 1 and "--ids has 40 tokens" in out["error"]


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_a_damaged_program_is_refused_with_executorch_s_error_not_a_crash(runner, tiny_bundle, tmp_path):
    """Bytes flipped in the program's tables (past the header a size check reads) used to crash the runner
    (SIGSEGV while loading); its consistency is checked first, and ExecuTorch's error is what it reports."""
    data = bytearray((tiny_bundle / "model.fp32.pte").read_bytes())
    for i in range(64, 2048):
        data[i] ^= 0x5A
    bad = tmp_path / "damaged.pte"
    bad.write_bytes(bytes(data))
    code, out, _ = _run(runner, "--model", bad, "--runs", 1, "--warmup", 0)
    assert code == 1
    assert out["error"] == f"{bad}: not a loadable ExecuTorch program (Error 0x23: InvalidProgram)"
