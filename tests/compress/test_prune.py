"""Structured pruning removes parts for real, and significance finds the parts that do nothing."""

import pytest
import torch

from ondevice.compress import compress_
from ondevice.compress.lowrank import LowRankConfig
from ondevice.compress.prune import PruneConfig, prune_heads_, prune_neurons_, remove_sublayer_
from ondevice.compress.significance import ablation_scores, gates, taylor_scores
from ondevice.errors import ConfigError
from ondevice.model import load_model, save_checkpoint


def _gated(ckpt, ids, mask, kind, layer, zero):
    with gates(ckpt.model) as g:
        g[kind][layer][zero] = 0.0
        with torch.no_grad():
            return ckpt.model(ids, mask)


@pytest.mark.parametrize("lowrank_first", [False, True])
def test_a_pruned_head_is_gone_from_every_weight(tiny, tiny_inputs, lowrank_first):
    if lowrank_first:
        compress_(tiny.model, LowRankConfig(rank=8, projections=["query", "value", "output"]))
    ids, mask = tiny_inputs
    expected = _gated(tiny, ids, mask, "heads", 0, [1])
    attn = tiny.model.blocks[0].attention
    kept_rows = torch.cat([torch.arange(0, 16), torch.arange(32, 64)])
    value_w = (attn.value.expand.weight if lowrank_first else attn.value.weight).detach().clone()
    prune_heads_(tiny.model, 0, [0, 2, 3])
    attn = tiny.model.blocks[0].attention
    assert attn.num_heads == 3 and tiny.model.config.layers[0].num_heads == 3
    for name in ("query", "key", "value"):
        m = getattr(attn, name)
        w = m.expand.weight if hasattr(m, "expand") else m.weight
        b = m.expand.bias if hasattr(m, "expand") else m.bias
        assert w.shape[0] == 48 and b.shape == (48,)
    out_w = attn.output.reduce.weight if lowrank_first else attn.output.weight
    assert out_w.shape[1] == 48
    new_value_w = attn.value.expand.weight if lowrank_first else attn.value.weight
    torch.testing.assert_close(new_value_w, value_w[kept_rows])
    with torch.no_grad():
        torch.testing.assert_close(tiny.model(ids, mask), expected, atol=1e-5, rtol=1e-5)


def test_pruned_neurons_and_removed_sublayers_compute_what_the_gates_do(tiny, tiny_inputs):
    ids, mask = tiny_inputs
    keep = list(range(0, 128, 2))
    expected = _gated(tiny, ids, mask, "neurons", 1, [i for i in range(128) if i not in keep])
    prune_neurons_(tiny.model, 1, keep)
    assert tiny.model.blocks[1].ffn.up.weight.shape == (64, 64)
    assert tiny.model.blocks[1].ffn.down.weight.shape == (64, 64)
    with torch.no_grad():
        torch.testing.assert_close(tiny.model(ids, mask), expected, atol=1e-5, rtol=1e-5)

    expected = _gated(tiny, ids, mask, "sublayers", 0, [0])
    remove_sublayer_(tiny.model, 0, "attention")
    assert tiny.model.blocks[0].attention is None and tiny.model.config.layers[0].num_heads == 0
    with torch.no_grad():
        torch.testing.assert_close(tiny.model(ids, mask), expected, atol=1e-5, rtol=1e-5)


def test_pruned_model_saves_and_loads(tiny, tiny_inputs, tmp_path, calibration):
    ids, mask = tiny_inputs
    report = compress_(
        tiny.model, PruneConfig(heads=0.25, neurons=0.5, sublayers=1, multiple_of=8), calibration=calibration
    )
    assert len(report["removed_sublayers"]) == 1
    heads = sum(layer.num_heads for layer in tiny.model.config.layers)
    assert heads <= 8 - 2  # 2 of 8 heads by share, maybe more with the removed sub-layer
    assert all(layer.intermediate_size % 8 == 0 for layer in tiny.model.config.layers)
    save_checkpoint(tiny, tmp_path / "ck")
    again = load_model(str(tmp_path / "ck"))
    assert [vars(x) for x in again.config.layers] == [vars(x) for x in tiny.model.config.layers]
    with torch.no_grad():
        torch.testing.assert_close(again.model(ids, mask), tiny.model(ids, mask), atol=1e-6, rtol=0)


def _kill_head(ckpt, layer, head):
    """Zero the value rows of one head: its context is 0, so nothing downstream depends on it."""
    attn = ckpt.model.blocks[layer].attention
    with torch.no_grad():
        attn.value.weight[head * 16 : (head + 1) * 16] = 0
        attn.value.bias[head * 16 : (head + 1) * 16] = 0


def test_taylor_and_ablation_rank_a_dead_head_last(tiny, calibration):
    _kill_head(tiny, 1, 2)
    # A random model has heads whose removal lowers the loss (negative ablation scores), so the
    # dead head is the one whose score is nearest zero: it changes nothing either way. Its context is
    # exactly 0, so its score is exactly 0 (no rounding touches it). The live heads' scores are small
    # in a random model (1e-6 to 4e-5 on the calibration sentences) and depend on those sentences, so
    # they are only required to be nonzero, not above a guessed floor.
    for scores in (taylor_scores(tiny.model, calibration), ablation_scores(tiny.model, calibration)):
        flat = sorted((abs(float(s)), i, h) for i, t in scores["heads"].items() for h, s in enumerate(t))
        assert flat[0] == (0.0, 1, 2)
        assert all(score > 0.0 for score, _, _ in flat[1:])  # the live heads do matter


def test_prune_removes_the_dead_head(tiny, calibration):
    _kill_head(tiny, 0, 3)
    report = compress_(tiny.model, PruneConfig(heads=0.125), calibration=calibration)  # 1 of 8
    assert report["heads"] == {0: {"kept": 3, "of": 4}}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"heads": 1.0}, r"shares in \[0, 1\)"),
        ({"neurons": -0.1}, r"shares in \[0, 1\)"),
        ({"method": "magnitude"}, "method must be one of"),
        ({"sublayers": -1}, "sublayers"),
    ],
)
def test_bad_prune_configs(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PruneConfig(**kwargs)


def test_prune_without_calibration_data_is_refused(tiny):
    with pytest.raises(ConfigError, match="calibration"):
        compress_(tiny.model, PruneConfig(heads=0.25))
