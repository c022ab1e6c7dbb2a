"""Low-rank factorization: the pure SVD pieces, the rank allocator, and the module swap on a model."""

import pytest
import torch

from ondevice.compress import compress_, config_from_dict, config_to_dict
from ondevice.compress.lowrank import (
    LowRankConfig,
    allocate_ranks,
    break_even_rank,
    factorize_linear,
    rank_for_energy,
    svd_factors,
)
from ondevice.errors import ConfigError
from ondevice.model import load_model, save_checkpoint
from ondevice.model.encoder import FactorizedEmbedding, LowRankLinear


@pytest.mark.parametrize("rank", [1, 7, 20])
def test_truncation_error_is_the_dropped_singular_value_energy(rank):
    torch.manual_seed(0)
    W = torch.randn(48, 32, dtype=torch.float64)
    B, A, S = svd_factors(W, rank)
    assert B.shape == (48, rank) and A.shape == (rank, 32)
    err = (W - B @ A).square().sum()
    assert err.item() == pytest.approx(S[rank:].double().square().sum().item(), rel=1e-4)


def test_factorized_linear_computes_its_factors():
    torch.manual_seed(0)
    dense = torch.nn.Linear(32, 24)
    lr = factorize_linear(dense, 24)  # full rank: the same function
    x = torch.randn(5, 32)
    torch.testing.assert_close(lr(x), dense(x), atol=1e-5, rtol=1e-5)
    assert lr.reduce.bias is None and lr.expand.bias is not None


def test_rank_for_energy():
    s = torch.tensor([3.0, 2.0, 1.0, 1.0])  # energies 9, 4, 1, 1 of 15
    assert rank_for_energy(s, 0.6) == 1
    assert rank_for_energy(s, 9 / 15) == 1
    assert rank_for_energy(s, 0.61) == 2
    assert rank_for_energy(s, 1.0) == 4


def test_allocator_hits_its_budget_and_follows_energy():
    torch.manual_seed(0)
    shapes = {"a": (64, 64), "b": (64, 256), "c": (256, 64)}
    spectra = {
        "a": torch.linspace(1, 0.9, 64),  # flat: needs many ranks
        "b": torch.cat([torch.tensor([10.0, 5.0]), torch.full((62,), 0.01)]),  # two directions hold it all
        "c": torch.sort(torch.rand(64), descending=True).values,
    }
    total = sum(i * o for i, o in shapes.values())
    for share in (0.1, 0.3, 0.6):
        budget = int(share * total)
        ranks = allocate_ranks(spectra, shapes, budget)
        used = sum(min(r * (i + o), i * o) for r, (i, o) in zip(ranks.values(), shapes.values(), strict=True))
        assert used <= budget
        assert used > budget - max(i + o for i, o in shapes.values())  # nothing left that would fit
        assert ranks["b"] >= 2  # its energy comes first
    assert (
        allocate_ranks(spectra, shapes, int(0.1 * total))["b"] < allocate_ranks(spectra, shapes, int(0.1 * total))["a"]
    )


def test_lowrank_on_a_model_saves_loads_and_reports_dense_layers(tiny, tiny_inputs, tmp_path):
    ids, mask = tiny_inputs
    before = tiny.model(ids, mask)
    # Break-even of a 64x64 projection is 32: rank 40 saves nothing there, but does for 64x128 (42.7).
    report = compress_(tiny.model, LowRankConfig(rank=40, projections=["query", "up"]))
    assert set(report["left_dense"]) == {"0.query", "1.query"}
    assert set(report["factorized"]) == {"0.up", "1.up"}
    assert isinstance(tiny.model.blocks[0].ffn.up, LowRankLinear)
    assert tiny.model.config.layers[0].ranks == {"up": 40}
    after = tiny.model(ids, mask)
    assert not torch.equal(before, after)
    save_checkpoint(tiny, tmp_path / "ck")
    again = load_model(str(tmp_path / "ck"))
    assert again.config.layers[1].ranks == {"up": 40}
    torch.testing.assert_close(again.model(ids, mask), after, atol=1e-6, rtol=0)


def _linear_params(model) -> int:
    return sum(m.weight.numel() for b in model.blocks for m in b.modules() if isinstance(m, torch.nn.Linear))


def test_param_budget_is_met_on_the_model(tiny):
    before = _linear_params(tiny.model)
    report = compress_(tiny.model, LowRankConfig(param_budget=0.4, multiple_of=1))
    assert report["factorized"]
    assert _linear_params(tiny.model) <= 0.4 * before


def test_energy_choice_keeps_that_energy(tiny):
    report = compress_(tiny.model, LowRankConfig(energy=0.8, projections=["up", "down"], multiple_of=1))
    assert len(report["factorized"]) + len(report["left_dense"]) == 4
    assert all(r["energy_kept"] >= 0.8 for r in report["factorized"].values())
    assert all(r["rank"] >= r["break_even"] for r in report["left_dense"].values())


def test_embedding_factorization(tiny, tiny_inputs, tmp_path):
    ids, mask = tiny_inputs
    report = compress_(tiny.model, LowRankConfig(embedding_rank=16))
    word = tiny.model.embeddings.word
    assert isinstance(word, FactorizedEmbedding)
    assert word.table.weight.shape == (30522, 16) and word.project.weight.shape == (64, 16)
    assert 0 < report["embedding"]["energy_kept"] < 1
    save_checkpoint(tiny, tmp_path / "ck")
    again = load_model(str(tmp_path / "ck"))
    assert again.config.embedding_rank == 16
    torch.testing.assert_close(again.model(ids, mask), tiny.model(ids, mask), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "give rank"),
        ({"rank": 8, "energy": 0.9}, "give one of"),
        ({"energy": 1.5}, r"energy must be in \(0, 1\]"),
        ({"rank": 0}, "at least 1"),
        ({"rank": 4, "projections": ["pooler"]}, "unknown projections"),  # "gate" is a gated FFN's
    ],
)
def test_bad_lowrank_configs_say_how_to_fix(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LowRankConfig(**kwargs)


def test_break_even():
    assert break_even_rank(384, 1536) == pytest.approx(307.2)


@pytest.mark.parametrize(
    "d",
    [
        {"kind": "lowrank", "energy": 0.9, "embedding_rank": 128},
        {"kind": "prune", "heads": 0.25, "neurons": 0.5, "method": "ablation"},
        {"kind": "distill", "epochs": 0.5, "temperature": 3.0, "hidden_weight": 1.0},
    ],
)
def test_every_step_config_round_trips(d):
    cfg = config_from_dict(d)
    back = config_to_dict(cfg)
    assert {k: back[k] for k in d} == d
    assert config_from_dict(back) == cfg
