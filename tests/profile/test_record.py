"""The result record: statistics, validation, atomic writing, partial runs."""

import json
import re

import numpy as np
import pytest

from ondevice.errors import ProfileError
from ondevice.profile import record


def _run(samples=(3.0, 1.0, 2.0, 10.0), **extra):
    return {
        "method": "forward",
        "seq_len": 32,
        "input_dtype": "int32",
        "load_ms": 12.5,
        "first_inference_ms": 4.0,
        "samples_ms": list(samples),
        "peak_rss_bytes": 50_000_000,
        "logits": [0.25, -0.5],
        **extra,
    }


def _record(run=None, **kwargs):
    return record.build(
        artifact={"path": "/x/model.pte", "file": "model.pte", "format": "executorch", "sha256": "ab", "size_bytes": 9},
        target={"name": "host", "kind": "host"},
        device={"model": None},
        runtime={"name": "executorch", "version": "1.5.1", "runner": "native", "runner_version": 1},
        settings={"threads": 2, "warmup": 1, "runs": 4},
        run=run or _run(),
        emulated=False,
        **kwargs,
    )


def test_summary_matches_numpy():
    rng = np.random.default_rng(0)
    samples = list(rng.gamma(4.0, 3.0, size=57))
    s = record.summarize(samples)
    for q in (50, 90, 99):
        assert s[f"p{q}_ms"] == pytest.approx(float(np.percentile(samples, q)))
    assert s["mean_ms"] == pytest.approx(float(np.mean(samples)))
    assert s["std_ms"] == pytest.approx(float(np.std(samples)))
    assert (s["min_ms"], s["max_ms"]) == (min(samples), max(samples))
    assert record.summarize([])["p50_ms"] is None


def test_build_write_load_round_trip(tmp_path):
    r = _record()
    assert r["schema_version"] == record.SCHEMA_VERSION and r["complete"] and not r["emulated"]
    assert r["timing"]["p50_ms"] == pytest.approx(2.5) and r["timing"]["samples_ms"] == [3.0, 1.0, 2.0, 10.0]
    path = record.write(r, tmp_path / "results")
    assert path.parent == tmp_path / "results" and path.name.startswith("host--model.pte--native--L32--")
    assert record.load(path) == json.loads(json.dumps(r))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert record.write(r, tmp_path / "one.json") == tmp_path / "one.json"


def test_logits_compared_with_the_reference():
    close = _record(reference_logits=[0.2504, -0.5])["outputs"]
    assert close["match"] and close["same_label"] and close["max_abs_diff"] == pytest.approx(4e-4)
    far = _record(reference_logits=[-0.75, 0.5])["outputs"]
    assert far["match"] is False and far["same_label"] is False and far["max_abs_diff"] == pytest.approx(1.0)
    assert _record()["outputs"]["match"] is None


def test_partial_run_is_kept_and_marked_incomplete(tmp_path):
    r = _record(run={"samples_ms": [4.0, 5.0], "load_ms": 3.0}, incomplete_reason="runner crashed (SIGSEGV)")
    assert r["complete"] is False and r["timing"]["p50_ms"] == 4.5 and r["outputs"]["logits"] is None
    assert record.load(record.write(r, tmp_path))["incomplete_reason"] == "runner crashed (SIGSEGV)"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.update(schema_version=99), "schema version 99 is not supported"),
        (lambda r: r.update(schema="other"), "schema is 'other'"),
        (lambda r: r.pop("timing"), "timing is missing"),
        (lambda r: r["timing"].update(samples_ms=[-1.0]), "samples_ms has bad values"),
        (lambda r: r["timing"].update(samples_ms=[]), "a complete record has no samples"),
        (lambda r: r.update(complete=False), "an incomplete record needs a reason"),
        (lambda r: r["artifact"].pop("sha256"), "artifact.sha256 is missing"),
        (lambda r: r["settings"].update(threads="2"), "settings.threads must be an integer"),
    ],
)
def test_invalid_records_are_refused(change, message, tmp_path):
    r = _record()
    change(r)
    with pytest.raises(ProfileError, match=message):
        record.validate(r)
    f = tmp_path / "r.json"
    f.write_text(json.dumps(r))
    with pytest.raises(ProfileError, match=f"{f}: not a valid profile record"):
        record.load(f)


def test_unreadable_files(tmp_path):
    with pytest.raises(ProfileError, match="no such result file"):
        record.load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        record.load(tmp_path / "bad.json")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.update(timing=None), "timing is missing"),
        (lambda r: r["timing"].update(p50_ms="2.5"), 'timing.p50_ms must be a non-negative number, not "2.5"'),
        (lambda r: r["timing"].update(p50_ms=float("nan")), "timing.p50_ms must be a non-negative number, not NaN"),
        (lambda r: r["timing"].update(p50_ms=None), "timing.p50_ms is missing though there are samples"),
        (lambda r: r["timing"].update(samples_ms=[1.0, float("inf")]), "timing.samples_ms has bad values"),
        (lambda r: r["timing"].update(samples_ms=[True]), "timing.samples_ms has bad values"),
        (lambda r: r["artifact"].update(size_bytes=None), "artifact.size_bytes is null"),
        (lambda r: r["artifact"].update(verification={"accuracy": 91}), "artifact.verification.accuracy must be"),
        (lambda r: r["target"].pop("name"), "target.name is missing"),
        (lambda r: r.update(created=20261123), "created must be a string, not 20261123"),
        (lambda r: r["settings"].update(warmup=True), "settings.warmup must be an integer, not true"),
        (lambda r: r["outputs"].update(match=True), "outputs.tolerance is missing though match is set"),
    ],
)
def test_every_field_report_reads_is_checked_by_kind(change, message, tmp_path):
    """The record reader is the one place a record is checked: what report reads is there and of its kind."""
    r = _record()
    change(r)
    with pytest.raises(ProfileError, match=f"not a valid profile record: {re.escape(message)}"):
        record.validate(r)


def test_check_fields_names_the_first_bad_field():
    spec = {"a": "str", "b": "amount?", "c": "positive"}
    assert record.check_fields({"a": "x", "c": 1}, spec) is None
    assert record.check_fields({"a": "x", "b": None, "c": 0}, spec, "s.") == "s.c must be a positive number, not 0"
    assert record.check_fields({"c": 1}, spec) == "a is missing"
    assert record.check_fields({"a": None, "c": 1}, spec) == "a is null"
