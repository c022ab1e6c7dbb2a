"""`ondevice report`: markdown and a PNG from records only."""

import json

from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.profile import record, report


def _rec(target, file, fmt, quant, size, samples, acc, emulated=False, reference=None):
    return record.build(
        artifact={
            "path": f"/b/{file}",
            "file": file,
            "format": fmt,
            "sha256": "0" * 64,
            "size_bytes": size,
            "quantization": quant,
            "verification": {"accuracy": acc},
        },
        target={"name": target, "kind": "qemu" if emulated else "host"},
        device={"soc": "some CPU", "cores": 2},
        runtime={"name": fmt, "version": "1", "runner": "python", "runner_version": 1},
        settings={"threads": 2, "warmup": 1, "runs": len(samples)},
        run={"samples_ms": samples, "load_ms": 1.0, "first_inference_ms": 2.0, "seq_len": 32, "logits": [0.1, 0.2]},
        emulated=emulated,
        reference_logits=reference,
    )


def test_pareto():
    # (size, latency, accuracy): the second is dominated by the first; the third trades size for accuracy.
    assert report.pareto([(20, 10, 0.90), (90, 12, 0.90), (10, 30, 0.85), (30, 5, None)]) == [True, False, True, True]


def test_report_table_and_plot(tmp_path):
    results = tmp_path / "results"
    recs = [
        _rec("host", "model.fp32.pte", "executorch", "fp32", 90e6, [20.0, 21.0, 25.0], 0.91),
        _rec("host", "model.int8-dynamic.pte", "executorch", "int8-dynamic", 23e6, [15.0, 16.0, 30.0], 0.905),
        _rec("host", "model.int8-dynamic.onnx", "onnx", "int8-dynamic", 23e6, [28.0, 29.0, 27.0], 0.90),
        _rec("qemu", "model.fp32.pte", "executorch", "fp32", 90e6, [3800.0, 3900.0], 0.91, True, [0.1, 0.2]),
    ]
    for r in recs:
        record.write(r, results)
    (results / "other.json").write_text(json.dumps({"not": "a record"}))
    md, png = tmp_path / "report.md", tmp_path / "plot.png"
    r = CliRunner().invoke(cli, ["report", str(results), "--out", str(md), "--plot", str(png)])
    assert r.exit_code == 0, r.output
    text = md.read_text()
    assert "### host" in text and "### qemu (emulated: not a device's speed)" in text
    assert "| model.int8-dynamic.pte L32 | executorch 1 | python | 2 | 23.0 | 16.00 |" in text
    assert "max |Δ| 0.00e+00 (within 0.001), same label: yes" in text
    assert "skipped 1 JSON file" in r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_report_refuses_bad_input(tmp_path):
    r = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert r.exit_code != 0 and "no result records" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "ondevice.profile", "schema_version": 1}))
    r = CliRunner().invoke(cli, ["report", str(bad)])
    assert r.exit_code != 0 and "not a valid profile record" in r.stderr and "Traceback" not in r.output


def test_report_writes_nothing_when_an_output_or_the_plot_is_refused(tmp_path):
    ok = record.write(_rec("host", "model.fp32.pte", "executorch", "fp32", 9e6, [2.0, 3.0], 0.9), tmp_path / "ok")
    partial = _rec("host", "model.fp32.onnx", "onnx", "fp32", 9e6, [1.0], 0.9)
    partial.update(complete=False, incomplete_reason="runner crashed before its first timed run")
    partial["timing"].update(samples_ms=[], p50_ms=None)
    partial = record.write(partial, tmp_path / "partial")
    (tmp_path / "d").mkdir()
    md, png = tmp_path / "r.md", tmp_path / "r.png"
    for argv, message in [
        ([str(ok), "--out", str(tmp_path / "d"), "--plot", str(png)], "--out"),
        ([str(ok), "--out", str(md), "--plot", str(tmp_path / "d")], "--plot"),
        ([str(partial), "--out", str(md), "--plot", str(png)], "no record has latency samples to plot"),
    ]:
        r = CliRunner().invoke(cli, ["report", *argv])
        assert r.exit_code == 1 and message in r.stderr and "Traceback" not in r.output
        assert not md.exists() and not png.exists()  # neither output, not even the one that could be written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "ok", "partial"]
