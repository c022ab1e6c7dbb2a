"""Fault table: `ondevice report` on result files that must not be trusted and outputs it cannot write.

Each case copies a real profile record (or the headline benchmark result) from ``profiles/results``
into the workspace, damages the copy (a field missing, null, of the wrong type, NaN or Infinity, no
samples, a list where an object belongs) or points ``--out``/``--plot`` somewhere unwritable, and runs
``report`` on it: one `Error:` line that names the file and the field, and nothing written at all (not
the table when the plot fails, nor the plot when the table cannot be written).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import pytest
from harness import Case, check

RESULTS = Path(__file__).resolve().parents[2] / "profiles" / "results"
RECORD = RESULTS / "host" / "host--model.fp32.pte--native--L32--20261123T141542Z.json"
HEADLINE = RESULTS / "headline.json"
OUTPUTS = ("--out", "r.md", "--plot", "r.png")


def record(change: Callable[[dict], object] | None = None, *extra: str, name: str = "rec.json", source: Path = RECORD):
    """An argv maker: a copy of a real record (or of ``source``) in the workspace, changed by ``change``
    (one that returns something replaces the whole), then ``report`` on it with ``extra``."""

    def make(ws: Path) -> list[str]:
        data = json.loads(source.read_text())
        if change:
            new = change(data)
            data = data if new is None else new
        (ws / name).write_text(json.dumps(data))
        return ["report", name, *extra]

    return make


def headline(change: Callable[[dict], object], *extra: str):
    return record(change, *extra, name="headline.json", source=HEADLINE)


def _set(*path_and_value):
    """Set a nested field: _set("timing", "p50_ms", None)."""
    *path, key, value = path_and_value

    def change(d: dict) -> None:
        for p in path:
            d = d[p]
        d[key] = value

    return change


def _drop(*path):
    *path, key = path

    def change(d: dict) -> None:
        for p in path:
            d = d[p]
        d.pop(key)

    return change


def _incomplete_without_samples(d: dict) -> None:
    d.update(complete=False, incomplete_reason="runner crashed")
    d["timing"].update(samples_ms=[], **{k: None for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms")})


def with_dir(name: str, make: Callable[[Path], list[str]]):
    def argv(ws: Path) -> list[str]:
        (ws / name).mkdir()
        return make(ws)

    return argv


def with_file(name: str, make: Callable[[Path], list[str]]):
    def argv(ws: Path) -> list[str]:
        (ws / name).write_text("a file\n")
        return make(ws)

    return argv


def read_only_dir(name: str, make: Callable[[Path], list[str]]):
    def argv(ws: Path) -> list[str]:
        (ws / name).mkdir()
        (ws / name).chmod(0o555)
        return make(ws)

    return argv


def not_utf8(ws: Path) -> list[str]:
    (ws / "rec.json").write_bytes(b'{"schema": "ondevice.profile", "created": "\xff\xfe"}')
    return ["report", "rec.json", *OUTPUTS]


def broken_in_directory(ws: Path) -> list[str]:
    """A directory of records, one of them (ours, by its schema) broken: refused by name, not skipped."""
    (ws / "results").mkdir()
    for i in range(2):
        (ws / "results" / f"ok{i}.json").write_text(RECORD.read_text())
    data = json.loads(RECORD.read_text())
    data["timing"]["samples_ms"] = ["fast"]
    (ws / "results" / "broken.json").write_text(json.dumps(data))
    return ["report", "results", *OUTPUTS]


R = "report"
CASES = [
    # records of the wrong shape, read once by the record reader
    Case(R, "timing null", record(_set("timing", None), *OUTPUTS), "rec.json: not a valid profile record: timing", 1),
    Case(R, "p50_ms null with samples", record(_set("timing", "p50_ms", None), *OUTPUTS), "timing.p50_ms", 1),
    Case(
        R,
        "p50_ms a string",
        record(_set("timing", "p50_ms", "15.4"), *OUTPUTS),
        'p50_ms must be a non-negative number, not "15.4"',
        1,
    ),
    Case(R, "p50_ms NaN", record(_set("timing", "p50_ms", float("nan")), *OUTPUTS), "not nan", 1),
    Case(
        R,
        "a sample NaN",
        record(_set("timing", "samples_ms", [1.0, float("nan")]), *OUTPUTS),
        "samples_ms has bad values",
        1,
    ),
    Case(R, "size Infinity", record(_set("artifact", "size_bytes", float("inf")), *OUTPUTS), "artifact.size_bytes", 1),
    Case(
        R,
        "complete without samples",
        record(_set("timing", "samples_ms", []), *OUTPUTS),
        "a complete record has no samples",
        1,
    ),
    Case(R, "a list of records", record(lambda d: [d], *OUTPUTS), "not a json object", 1),
    Case(R, "target.name missing", record(_drop("target", "name"), *OUTPUTS), "target.name is missing", 1),
    Case(R, "created null", record(_set("created", None), *OUTPUTS), "created is null", 1),
    Case(
        R,
        "accuracy a word",
        record(_set("artifact", "verification", {"accuracy": "high"}), *OUTPUTS),
        "verification.accuracy",
        1,
    ),
    Case(
        R,
        "verification a list",
        record(_set("artifact", "verification", [0.9]), *OUTPUTS),
        "artifact.verification must be an object",
        1,
    ),
    Case(
        R, "threads true", record(_set("settings", "threads", True), *OUTPUTS), "settings.threads must be an integer", 1
    ),
    Case(R, "seq_len a list", record(_set("settings", "seq_len", [32]), *OUTPUTS), "settings.seq_len", 1),
    Case(
        R,
        "match without a tolerance",
        record(lambda d: d["outputs"].update(match=True, same_label=True, max_abs_diff=0.1), *OUTPUTS),
        "outputs.tolerance",
        1,
    ),
    Case(R, "schema_version null", record(_set("schema_version", None), *OUTPUTS), "schema version none", 1),
    Case(R, "not UTF-8", not_utf8, "not valid json", 1),
    Case(R, "a broken record in a directory", broken_in_directory, "broken.json: not a valid profile record", 1),
    # outputs: refused before anything is written
    Case(
        R,
        "--out a directory",
        with_dir("d", record(None, "--out", "d", "--plot", "r.png")),
        "--out d is a directory",
        1,
    ),
    Case(
        R,
        "--plot a directory",
        with_dir("d", record(None, "--out", "r.md", "--plot", "d")),
        "--plot d is a directory",
        1,
    ),
    Case(
        R,
        "--out under a file",
        with_file("f", record(None, "--out", "f/r.md", "--plot", "r.png")),
        "not a directory",
        1,
    ),
    Case(
        R,
        "--plot into a missing dir under a file",
        with_file("f", record(None, "--out", "r.md", "--plot", "f/new/r.png")),
        "not a directory",
        1,
    ),
    Case(
        R,
        "--plot with no samples to plot",
        record(_incomplete_without_samples, *OUTPUTS),
        "no record has latency samples",
        1,
    ),
    # the headline benchmark result
    Case(
        R,
        "headline p50_ms null",
        headline(lambda d: d["runs"][0].update(p50_ms=None), *OUTPUTS),
        "run 0 (pytorch eager fp32): p50_ms is null",
        1,
    ),
    Case(
        R,
        "headline p50_ms 0",
        headline(lambda d: d["runs"][3].update(p50_ms=0), *OUTPUTS),
        "p50_ms must be a positive number",
        1,
    ),
    Case(
        R,
        "headline accuracy NaN",
        headline(lambda d: d["runs"][1].update(dev_accuracy=float("nan")), *OUTPUTS),
        "dev_accuracy must be a number from 0 to 1, not nan",
        1,
    ),
    Case(R, "headline without machine", headline(_drop("machine"), *OUTPUTS), "machine is missing", 1),
    Case(
        R,
        "headline run a list",
        headline(lambda d: d["runs"].__setitem__(0, [1]), *OUTPUTS),
        "run 0 is not an object",
        1,
    ),
    Case(
        R,
        "headline goal met 'yes'",
        headline(lambda d: d["goals"]["fixed-128"]["met"].update({"4x_faster_than_eager": "yes"}), *OUTPUTS),
        "goals.fixed-128.met.4x_faster_than_eager",
        1,
    ),
    Case(
        R,
        "headline emulated runs an object",
        headline(lambda d: d["emulated"].update(runs={"a": 1}), *OUTPUTS),
        "emulated.runs must be a list",
        1,
    ),
    Case(
        R,
        "headline build seconds a word",
        headline(lambda d: d["seconds"]["build"].update(x="slow"), *OUTPUTS),
        "seconds.build.x",
        1,
    ),
    Case(
        R,
        "headline --readme a directory",
        with_dir("R", headline(lambda d: None, "--readme", "R")),
        "is a directory",
        2,
    ),
]

ROOT_BYPASSES = [
    Case(
        R,
        "--out in a read-only directory",
        read_only_dir("ro", record(None, "--out", "ro/r.md", "--plot", "r.png")),
        "permission denied",
        1,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_report_fault(case: Case, workspace: Path) -> None:
    check(case, workspace)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only (0555) directory anyway")
@pytest.mark.parametrize("case", ROOT_BYPASSES, ids=[c.id for c in ROOT_BYPASSES])
def test_report_fault_without_root(case: Case, workspace: Path) -> None:
    try:
        check(case, workspace)
    finally:
        (workspace / "ro").chmod(0o755)
