"""Linformer attention: pooling init, padding that cannot leak, sharing modes, bad configs, export parity."""

import json

import pytest
import torch
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.compress import compress_
from ondevice.compress.linformer import LinformerConfig
from ondevice.compress.stats import flops
from ondevice.errors import ConfigError
from ondevice.model import load_model
from ondevice.model.checkpoint import save_checkpoint
from ondevice.model.encoder import pooling_matrix


def test_pooling_matrix_averages_contiguous_windows():
    E = pooling_matrix(4, 10)
    assert torch.allclose(E.sum(dim=1), torch.ones(4))
    assert ((E > 0).sum(dim=0) == 1).all()  # every position in exactly one window
    assert (E[0, :2] == 0.5).all() and E[0, 2:].abs().sum() == 0 and (E[1, 2:5] > 0).all()


@pytest.mark.parametrize("sharing", ["none", "headwise", "kv", "layerwise"])
def test_output_does_not_depend_on_padding(tiny, sharing):
    """The same sentence padded to 16, 24 or 32 tokens, with garbage ids in the padding, gives the same logits."""
    compress_(tiny.model, LinformerConfig(k=8, n=32, sharing=sharing))
    with torch.no_grad():  # trained projections are dense, not windows: make every position count
        for p in tiny.model.parameters():
            if p.dim() >= 2 and p.shape[-1] == 32:
                p.copy_(torch.randn_like(p) * 0.1)
    texts = ["a gripping , funny film", "it is dull"]
    outs = []
    for length in (16, 24, 32):
        ids, mask = (torch.as_tensor(a) for a in tiny.tokenizer(texts, max_length=length))
        ids = torch.where(mask.bool(), ids, torch.randint(5, 100, ids.shape))
        with torch.no_grad():
            outs.append(tiny.model(ids, mask))
    assert torch.allclose(outs[0], outs[1], atol=1e-5) and torch.allclose(outs[0], outs[2], atol=1e-5)


def test_sharing_modes_have_the_papers_parameter_shapes(tiny_bert_dir):
    shapes = {}
    for sharing in ("none", "headwise", "kv", "layerwise"):
        model = load_model(str(tiny_bert_dir)).model
        report = compress_(model, LinformerConfig(k=8, n=32, sharing=sharing))
        names = {n: tuple(p.shape) for n, p in model.named_parameters() if "linformer" in n}
        shapes[sharing] = (names, report["parameters_added"])
    assert shapes["none"][0]["blocks.0.attention.linformer.key"] == (4, 8, 32)  # one E per head
    assert shapes["none"][1] == 2 * 2 * 4 * 8 * 32
    assert shapes["headwise"][1] == 2 * 2 * 8 * 32  # E and F per layer
    assert shapes["kv"][1] == 2 * 8 * 32  # E = F per layer
    assert shapes["layerwise"][0] == {"linformer.key": (8, 32)} and shapes["layerwise"][1] == 8 * 32


def test_flops_fall_with_k_and_config_round_trips(tiny, tmp_path):
    before = flops(tiny.model.config, 128)["encoder"]
    compress_(tiny.model, LinformerConfig(ks=[16, 0], n=128))
    after = flops(tiny.model.config, 128)["encoder"]
    assert after < before
    assert [layer.linformer_k for layer in tiny.model.config.layers] == [16, 0]
    assert tiny.model.blocks[1].attention.linformer is None
    out = save_checkpoint(tiny, tmp_path / "ck")
    again = load_model(str(out))
    ids, mask = (torch.as_tensor(a) for a in tiny.tokenizer(["a fine film"], max_length=20))
    with torch.no_grad():
        assert torch.allclose(tiny.model(ids, mask), again.model.eval()(ids, mask), atol=1e-6)
    assert json.loads((out / "config.json").read_text())["linformer_n"] == 128


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 64, "n": 32}, r"k \(64\) is larger than the sequence length n \(32\)"),
        ({"k": 0}, "k must be a positive integer"),
        ({}, "exactly one of k"),
        ({"k": 8, "sharing": "sometimes"}, "sharing 'sometimes'"),
        ({"ks": [8, 16], "sharing": "layerwise"}, "same k in every layer"),
        ({"ks": [8]}, "lists 1 values for 2 layers"),
        ({"k": 8, "n": 4096}, "longer than the position table"),
    ],
)
def test_bad_linformer_config_is_refused(tiny, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        compress_(tiny.model, LinformerConfig(**kwargs))


def test_linformer_model_exports_and_verifies(tiny, tmp_path, export_verified):
    compress_(tiny.model, LinformerConfig(k=8, n=32, sharing="headwise"))
    ck = save_checkpoint(tiny, tmp_path / "ck")
    manifest = export_verified(ck)
    pte = next(a for a in manifest["artifacts"] if a["format"] == "executorch")
    # the sequence projections run inside XNNPACK, not in the portable kernels
    assert pte["export"]["delegation"]["delegated_flop_share"] > 0.99  # what is left: the padding coverage
    assert "aten.mm" not in pte["export"]["delegation"]["not_delegated"]


def test_export_longer_than_linformer_n_is_refused(tiny, tiny_data, tmp_path):
    compress_(tiny.model, LinformerConfig(k=8, n=32))
    ck = save_checkpoint(tiny, tmp_path / "ck")
    r = CliRunner().invoke(
        cli, ["export", str(ck), "--target", "host", "--seq-len", "64", "--out", str(tmp_path / "b")]
    )
    assert r.exit_code != 0 and "Linformer" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "b").exists()


def test_linformer_recipe_step_through_ondevice_compress(tiny_bert_dir, tiny_data, tmp_path):
    recipe = tmp_path / "lin.toml"
    recipe.write_text(
        'name = "tiny-linformer"\nseq_len = 32\n\n[[step]]\nkind = "linformer"\nk = 8\nn = 32\nsharing = "kv"\n\n'
        '[[step]]\nkind = "distill"\nepochs = 0.5\nbatch_size = 16\nevals_per_epoch = 1\n'
    )
    out = tmp_path / "ck"
    args = ["compress", str(tiny_bert_dir), "--recipe", str(recipe), "--data", str(tiny_data)]
    r = CliRunner().invoke(cli, [*args, "--dev", str(tiny_data), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    steps = json.loads(r.stdout)["steps"]
    assert [s["kind"] for s in steps] == ["input", "linformer", "distill"]
    assert steps[1]["flops"]["total"] < steps[0]["flops"]["total"]
    assert steps[1]["report"]["sharing"] == "kv"
    config = json.loads((out / "config.json").read_text())
    assert config["linformer_sharing"] == "kv" and all(layer["linformer_k"] == 8 for layer in config["layers"])
