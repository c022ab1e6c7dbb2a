"""Token skimming: static budgets equal a per-sentence reference, skimmed tokens keep their states,
budgets that fit the sentence change nothing, Gumbel training through a recipe, export parity, bad budgets."""

import json
import math

import pytest
import torch
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.compress import compress_
from ondevice.compress.linformer import LinformerConfig
from ondevice.compress.skim import SkimConfig
from ondevice.compress.stats import flops
from ondevice.errors import ConfigError
from ondevice.model import load_model
from ondevice.model.checkpoint import save_checkpoint
from ondevice.model.encoder import MASK_VALUE


def _spread_predictors(model, seed=0):
    """Untrained predictors score every token about alike; random weights rank them clearly apart."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            if block.skim is not None:
                for p in block.skim.parameters():
                    p.copy_(torch.randn(p.shape, generator=g))


def _reference_encode(model, ids, mask):
    """Skimming one sentence at a time with Python indexing: sort by score, run the block on the chosen tokens."""
    out = []
    for b in range(ids.shape[0]):
        n = int(mask[b].sum())
        x = model.embeddings(ids[b : b + 1, :n])  # (1, n, C): padding dropped outright
        live = list(range(n))
        received = None
        for block, layer in zip(model.blocks, model.config.layers, strict=True):
            L = ids.shape[1]
            if not layer.skim_keep:
                x, received = block(x, torch.zeros(1, 1, 1, n), received=True)
                continue
            k = min(L, max(1, math.ceil(layer.skim_keep * L)))
            score = block.skim(x)[0] if block.skim is not None else received[0]
            rest = sorted((i for i in live if i != 0), key=lambda i: -float(score[i]))
            chosen = [0, *rest[: k - 1]]
            y, got = block(x[:, chosen], torch.zeros(1, 1, 1, len(chosen)), received=True)
            x = x.clone()
            x[:, chosen] = y
            if got is not None:
                received = torch.zeros(1, n)
                received[:, chosen] = got
            live = chosen
        out.append(model.head(model.pool(x, torch.ones(1, n))))
    return torch.cat(out)


@pytest.mark.parametrize(
    "keep, predictor",
    [(0.5, "learned"), ([0.75, 0.25], "learned"), ([0, 0.25], "attention"), ([0, 1.0 / 24], "attention")],
)
def test_static_budget_matches_per_sentence_reference(tiny, tiny_inputs, keep, predictor):
    compress_(tiny.model, SkimConfig(keep=keep, predictor=predictor, train=False))
    _spread_predictors(tiny.model)
    ids, mask = tiny_inputs
    with torch.no_grad():
        got = tiny.model(ids, mask)
        want = _reference_encode(tiny.model, ids, mask)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_budget_of_every_token_changes_nothing(tiny, tiny_inputs):
    ids, mask = tiny_inputs
    with torch.no_grad():
        dense = tiny.model(ids, mask)
    compress_(tiny.model, SkimConfig(keep=1.0, train=False))
    with torch.no_grad():
        assert torch.allclose(tiny.model(ids, mask), dense, atol=1e-5)


def test_budget_longer_than_the_sentence_only_drops_padding(tiny):
    """At L = 32 a budget of 16 holds the whole of a 7-token sentence: the logits are the dense model's."""
    ids, mask = (torch.as_tensor(a) for a in tiny.tokenizer(["a gripping , funny film"], max_length=32))
    assert int(mask.sum()) <= 16
    with torch.no_grad():
        dense = tiny.model(ids, mask)
        compress_(tiny.model, SkimConfig(tokens=16, seq_len=32, train=False))
        _spread_predictors(tiny.model)
        assert torch.allclose(tiny.model(ids, mask), dense, atol=1e-5)


def test_skimmed_token_keeps_its_hidden_state(tiny, tiny_inputs):
    """With one token kept in the last layer only [CLS] changes there; every other token leaves layer 0 as it is."""
    ids, mask = tiny_inputs
    compress_(tiny.model, SkimConfig(keep=[0, 1.0 / 24], predictor="attention"))
    model = tiny.model
    with torch.no_grad():
        after_first = model.blocks[0](model.embeddings(ids), (1.0 - mask[:, None, None, :].float()) * MASK_VALUE)
        hidden = model.encode(ids, mask)
    assert torch.equal(hidden[:, 1:], after_first[:, 1:])
    assert not torch.allclose(hidden[:, 0], after_first[:, 0])


def test_flops_follow_the_budget_and_config_round_trips(tiny, tiny_inputs, tmp_path):
    dense = flops(tiny.model.config, 128)["encoder"]
    compress_(tiny.model, SkimConfig(keep=[0.5, 0.25], train=False))
    _spread_predictors(tiny.model)
    skimmed = flops(tiny.model.config, 128)["encoder"]
    # the blocks cost (0.5 + 0.25) / 2 of theirs; gathering by one-hot matmuls adds 2·k·L·C per layer,
    # which is large next to a 64-wide block
    assert 0.375 * dense < skimmed < 0.55 * dense
    out = save_checkpoint(tiny, tmp_path / "ck")
    config = json.loads((out / "config.json").read_text())
    assert [layer["skim_keep"] for layer in config["layers"]] == [0.5, 0.25] and config["skim_predictor"] == "learned"
    again = load_model(str(out)).model.eval()
    ids, mask = tiny_inputs
    with torch.no_grad():
        assert torch.allclose(again(ids, mask), tiny.model(ids, mask), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tokens": 0}, "between 1 and the sequence length 128, got 0"),
        ({"tokens": 200}, "between 1 and the sequence length 128, got 200"),
        ({"keep": 1.5}, r"share of the tokens in \(0, 1\]"),
        ({"keep": 0.0}, r"share of the tokens in \(0, 1\]"),
        ({"keep": 0.5, "tokens": 64}, "exactly one of keep"),
        ({"keep": [0.25, 0.5], "train": False}, "must not grow"),
        ({"keep": [0.5, 0], "train": False}, "every layer from the first skimming one"),
        ({"keep": [0.5, 0.5, 0.5]}, "3 budgets given for 2 layers"),
        ({"keep": 0.5, "predictor": "attention"}, "needs an attention layer before"),
        ({"keep": 0.5, "predictor": "oracle"}, "predictor must be one of"),
    ],
)
def test_bad_budgets_are_refused(tiny, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        compress_(tiny.model, SkimConfig(**kwargs))
    assert not any(layer.skim_keep for layer in tiny.model.config.layers)  # a refused step changes nothing


def test_skimming_with_linformer_is_refused(tiny):
    compress_(tiny.model, LinformerConfig(k=8, n=32))
    with pytest.raises(ConfigError, match="cannot be combined with Linformer"):
        compress_(tiny.model, SkimConfig(keep=0.5, train=False))


def test_skim_recipe_trains_predictors_with_gumbel_softmax(tiny_bert_dir, tiny_data, tmp_path):
    recipe = tmp_path / "skim.toml"
    recipe.write_text(
        'name = "tiny-skim"\nseq_len = 32\n\n[[step]]\nkind = "skim"\ntokens = [16, 8]\nseq_len = 32\n'
        "epochs = 1.0\nbatch_size = 16\nevals_per_epoch = 1\nskim_weight = 1.0\n"
    )
    out = tmp_path / "ck"
    args = ["compress", str(tiny_bert_dir), "--recipe", str(recipe), "--data", str(tiny_data)]
    r = CliRunner().invoke(cli, [*args, "--dev", str(tiny_data), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    steps = json.loads(r.stdout)["steps"]
    assert [s["kind"] for s in steps] == ["input", "skim"]
    report = steps[1]["report"]
    assert report["keep"] == [0.5, 0.25] and report["steps"] == 6
    assert len(report["adaptive_kept"]) == 2 and all(0 < k <= 1 for k in report["adaptive_kept"])
    assert steps[1]["flops"]["encoder"] < 0.6 * steps[0]["flops"]["encoder"]
    before = load_model(str(tiny_bert_dir)).model.state_dict()
    after = load_model(str(out)).model.state_dict()
    assert not torch.equal(before["blocks.1.ffn.up.weight"], after["blocks.1.ffn.up.weight"])  # it trained
    assert "blocks.1.skim.score.weight" in after


@pytest.mark.parametrize("predictor, keep", [("learned", "[0.5, 0.25]"), ("attention", "[0, 0.25]")])
def test_skimming_model_exports_and_verifies(tiny, tmp_path, export_verified, predictor, keep):
    compress_(tiny.model, SkimConfig(keep=json.loads(keep), predictor=predictor, train=False))
    _spread_predictors(tiny.model)
    ck = save_checkpoint(tiny, tmp_path / "ck")
    manifest = export_verified(ck)
    pte = next(a for a in manifest["artifacts"] if a["format"] == "executorch")
    assert pte["export"]["delegation"]["delegated_flop_share"] > 0.99  # gathers and scatters are matmuls


def test_bucketed_evaluation_pads_each_sentence_to_its_bucket(tiny):
    """A skimming model's output depends on the padding; ``pad_to`` evaluates it as a bundle runs it."""
    from ondevice.evaluate import predict_logits

    compress_(tiny.model, SkimConfig(keep=[0.5, 0.25], train=False))
    _spread_predictors(tiny.model)
    texts = ["a gripping , funny film", "it is dull", "the plot goes nowhere and the jokes land flat every time"]
    got = predict_logits(tiny, texts, pad_to=(8, 16, 32))
    for text, row in zip(texts, got, strict=True):
        n = len(tiny.tokenizer.token_ids([text], 32)[0])
        length = 8 if n <= 8 else 16 if n <= 16 else 32
        ids, mask = (torch.as_tensor(a) for a in tiny.tokenizer([text], max_length=length))
        assert ids.shape[1] == length
        with torch.no_grad():
            assert torch.allclose(torch.from_numpy(row), tiny.model(ids, mask)[0], atol=1e-5)
