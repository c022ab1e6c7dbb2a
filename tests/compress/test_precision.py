"""Mixed precision from significance: 4-bit rounding, the ranking, the size budget, export honouring it, bad widths."""

import json

import pytest
import torch
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.compress import compress_
from ondevice.compress.precision import MixedPrecisionConfig, encoder_linears, fake_quantize, precision_significance
from ondevice.errors import ConfigError
from ondevice.model.checkpoint import save_checkpoint
from ondevice.model.config import EncoderConfig


def test_fake_quantize_has_sixteen_levels_per_group_and_bounded_error():
    w = torch.randn(8, 64)
    q = fake_quantize(w, 4, 32)
    for start in (0, 32):
        for row, orig in zip(q[:, start : start + 32], w[:, start : start + 32], strict=True):
            assert len(torch.unique(row)) <= 16
            assert (row - orig).abs().max() <= orig.abs().max() / 7 / 2 + 1e-6


def test_a_linear_already_on_the_4bit_grid_is_least_significant(tiny, calibration):
    linears = encoder_linears(tiny.model)
    exact = "blocks.1.attention.value"
    with torch.no_grad():  # every group's weights already integers times one scale in [-7, 7]
        w = linears[exact].weight
        w.copy_(torch.randint(-7, 8, w.shape).float() * 0.01)
        w[:, ::32] = 0.07  # the group maximum fixes the scale at exactly 0.01
    scores = precision_significance(tiny.model, calibration, 4, 32)
    assert set(scores) == set(linears)
    assert abs(scores[exact]) < 1e-6
    assert min(scores, key=lambda n: abs(scores[n])) == exact


def test_budget_is_met_with_the_fewest_layers(tiny, calibration, tmp_path):
    report = compress_(tiny.model, MixedPrecisionConfig(size_budget=0.8), calibration=calibration)
    config = tiny.model.config
    linears = encoder_linears(tiny.model)
    total = sum(m.weight.numel() for m in linears.values())
    low = sum(linears[n].weight.numel() for n in config.weight_bits)
    share = (total - low / 2) / total
    assert report["linear_bytes_share"] == pytest.approx(share, abs=1e-4)
    biggest = max(m.weight.numel() for m in linears.values()) / 2
    assert 0.8 - biggest / total < share <= 0.8  # within the budget, overshooting by less than one layer
    assert set(config.weight_bits.values()) == {4} and set(report["low_precision"]) == set(config.weight_bits)
    out = save_checkpoint(tiny, tmp_path / "ck")
    saved = json.loads((out / "config.json").read_text())
    assert saved["weight_bits"] == config.weight_bits and saved["weight_group_size"] == 32


@pytest.mark.parametrize("bits", [3, 8, 2])
def test_a_width_the_runtimes_cannot_run_is_refused(bits):
    with pytest.raises(ConfigError, match=f"bits must be one of 4 .*got {bits}"):
        MixedPrecisionConfig(bits=bits)
    with pytest.raises(ConfigError, match="embedding_bits must be one of 4, 8"):
        MixedPrecisionConfig(embedding_bits=bits if bits != 8 else 16)


def test_a_4bit_word_table_exports_at_half_the_int8_size_and_verifies(tiny, tiny_data, calibration, tmp_path):
    plain = save_checkpoint(tiny, tmp_path / "plain")
    report = compress_(tiny.model, MixedPrecisionConfig(size_budget=1.0, embedding_bits=4), calibration=calibration)
    assert tiny.model.config.weight_bits == {"embeddings.word": 4}  # a budget of 1: every linear stays at 8
    assert report["embedding_loss_rise"] != 0
    table = save_checkpoint(tiny, tmp_path / "table")
    sizes, notes = {}, {}
    for name, ck in (("plain", plain), ("table", table)):
        r = CliRunner().invoke(
            cli,
            ["export", str(ck), "--target", "host", "--format", "executorch,tflite,onnx", "--quantize"]
            + ["int8-dynamic", "--seq-len", "32", "--data", str(tiny_data), "--out", str(tmp_path / f"b-{name}")]
            + ["--json", "--min-agreement", "0.9", "--max-accuracy-drop", "0.1"],
        )
        assert r.exit_code == 0, r.output
        for a in json.loads(r.stdout)["artifacts"]:
            sizes[(name, a["format"])] = a["size_bytes"]
            notes[(name, a["format"])] = a.get("export", {}).get("mixed_precision")
            assert a["verification"]["label_agreement"] >= 0.9
    vocab, hidden = tiny.model.embeddings.word.weight.shape
    for fmt in ("executorch", "tflite"):  # half a byte saved per weight, less at most a 4-byte scale per 32
        saved = sizes[("plain", fmt)] - sizes[("table", fmt)]
        assert saved > vocab * hidden * (0.5 - 4 / 32), (fmt, sizes)
    assert sizes[("plain", "onnx")] == pytest.approx(sizes[("table", "onnx")], rel=1e-3)
    assert "not applied" in notes[("table", "onnx")]


def test_a_factorized_word_table_is_the_one_put_at_4_bits(tiny, calibration):
    from ondevice.compress.lowrank import LowRankConfig

    compress_(tiny.model, LowRankConfig(embedding_rank=16), calibration=calibration)
    compress_(tiny.model, MixedPrecisionConfig(size_budget=1.0, embedding_bits=4), calibration=calibration)
    assert tiny.model.config.weight_bits == {"embeddings.word.table": 4}


def test_config_with_unsupported_weight_bits_is_refused():
    with pytest.raises(ConfigError, match="4 and 8-bit weights only"):
        EncoderConfig(weight_bits={"blocks.0.ffn.up": 3})


def test_mixed_precision_exports_smaller_and_verifies(tiny, tiny_data, calibration, tmp_path):
    plain = save_checkpoint(tiny, tmp_path / "plain")
    compress_(tiny.model, MixedPrecisionConfig(size_budget=0.6), calibration=calibration)
    mixed = save_checkpoint(tiny, tmp_path / "mixed")
    sizes = {}
    for name, ck in (("plain", plain), ("mixed", mixed)):
        r = CliRunner().invoke(
            cli,
            ["export", str(ck), "--target", "host", "--format", "executorch,tflite", "--quantize", "int8-dynamic"]
            + ["--seq-len", "32", "--data", str(tiny_data), "--out", str(tmp_path / f"b-{name}"), "--json"]
            + ["--min-agreement", "0.9", "--max-accuracy-drop", "0.1"],
        )
        assert r.exit_code == 0, r.output
        for a in json.loads(r.stdout)["artifacts"]:
            sizes[(name, a["format"])] = a["size_bytes"]
            assert a["verification"]["label_agreement"] >= 0.9
    linears = encoder_linears(tiny.model)
    saved = sum(linears[n].weight.numel() for n in tiny.model.config.weight_bits) / 2  # bytes, less the scales
    for fmt in ("executorch", "tflite"):
        assert sizes[("plain", fmt)] - sizes[("mixed", fmt)] > 0.5 * saved, (fmt, sizes, saved)


def test_static_int8_with_4bit_weights_is_refused(tiny, tiny_data, calibration, tmp_path):
    compress_(tiny.model, MixedPrecisionConfig(size_budget=0.8), calibration=calibration)
    ck = save_checkpoint(tiny, tmp_path / "ck")
    r = CliRunner().invoke(
        cli,
        ["export", str(ck), "--target", "host", "--format", "executorch", "--quantize", "int8-static"]
        + ["--seq-len", "32", "--data", str(tiny_data), "--out", str(tmp_path / "b")],
    )
    assert r.exit_code != 0 and "int8-dynamic only" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "b").exists()
