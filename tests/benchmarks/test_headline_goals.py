"""The headline benchmark's verdicts: which ondevice artifact counts as the best, and against which goals."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import headline  # noqa: E402


def _run(name, tool, quant, size, p50, acc, regime="fixed-128"):
    return {"name": name, "tool": tool, "quantization": quant, "regime": regime, "size_bytes": size,
            "p50_ms": p50, "p90_ms": p50 * 1.1, "dev_accuracy": acc}  # fmt: skip


def _with_ratios(runs):
    eager = runs[0]
    for r in runs:
        r["vs_eager"] = {"accuracy_points": 100 * (r["dev_accuracy"] - eager["dev_accuracy"])}
    return runs


def test_best_is_fastest_within_one_point_and_goals_are_judged_against_eager_and_ort_int8():
    runs = _with_ratios([
        _run("eager", "pytorch-eager", "fp32", 90e6, 40.0, 0.900),
        _run("ort int8", "onnxruntime", "int8-dynamic", 23e6, 16.0, 0.898),
        _run("fast but inaccurate", "ondevice", "int8-dynamic", 5e6, 5.0, 0.880),  # 2 points lost: not eligible
        _run("mobile", "ondevice", "int8-dynamic", 8e6, 9.0, 0.895),
        _run("base", "ondevice", "int8-dynamic", 23e6, 12.0, 0.899),
    ])  # fmt: skip
    g = headline.goals(runs)["fixed-128"]
    assert g["best"] == "mobile"
    assert g["speedup_vs_eager"] == 40.0 / 9.0
    assert g["speedup_vs_onnxruntime_int8"] == 16.0 / 9.0
    assert g["smaller_than_fp32"] == 90e6 / 8e6
    assert g["fastest_peer"] == "ort int8"
    assert g["met"] == {
        "4x_faster_than_eager": True,
        "1.5x_faster_than_onnxruntime_int8": True,
        "10x_smaller_than_fp32": True,
        "at_most_1_point_lost": True,
        "6x_faster_than_eager": False,  # 4.4x
        "16x_smaller_than_fp32": False,  # 11.25x
    }


def test_goals_not_met_are_reported_as_such():
    runs = _with_ratios([
        _run("eager", "pytorch-eager", "fp32", 90e6, 40.0, 0.900),
        _run("ort int8", "onnxruntime", "int8-dynamic", 23e6, 12.0, 0.898),
        _run("base", "ondevice", "int8-dynamic", 23e6, 15.0, 0.899),
    ])  # fmt: skip
    met = headline.goals(runs)["fixed-128"]["met"]
    assert met == {
        "4x_faster_than_eager": False,
        "1.5x_faster_than_onnxruntime_int8": False,
        "10x_smaller_than_fp32": False,
        "at_most_1_point_lost": True,
        "6x_faster_than_eager": False,
        "16x_smaller_than_fp32": False,
    }


def test_the_searchs_stricter_goals_are_judged_on_the_same_best():
    runs = _with_ratios([
        _run("eager", "pytorch-eager", "fp32", 90e6, 40.0, 0.900),
        _run("searched", "ondevice", "int8-dynamic", 5.5e6, 6.5, 0.892),
        _run("faster but 2 points lost", "ondevice", "int8-dynamic", 4e6, 5.0, 0.880),
    ])  # fmt: skip
    g = headline.goals(runs)["fixed-128"]
    assert g["best"] == "searched"
    assert g["met"]["6x_faster_than_eager"] and g["met"]["16x_smaller_than_fp32"]  # 6.15x and 16.4x


def test_no_ondevice_artifact_within_a_point():
    runs = _with_ratios([
        _run("eager", "pytorch-eager", "fp32", 90e6, 40.0, 0.900),
        _run("tiny", "ondevice", "int8-dynamic", 2e6, 2.0, 0.80),
    ])  # fmt: skip
    assert headline.goals(runs)["fixed-128"] == {"best": None}


def test_padding_follows_each_tools_mode():
    dynamic = headline.Entry("eager", "pytorch-eager", "pytorch", "fp32", Path("m"))
    buckets = headline.Entry("b", "ondevice", "executorch", "fp32", Path("m"), dynamic=False, seq_lens=[32, 64, 128])
    assert [dynamic.pad_to(n) for n in (3, 40, 128)] == [3, 40, 128]
    assert [buckets.pad_to(n) for n in (3, 32, 33, 65, 128)] == [32, 32, 64, 128, 128]
