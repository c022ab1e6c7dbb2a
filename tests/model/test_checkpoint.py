import json

import pytest
import torch
from safetensors.torch import load_file

from ondevice.errors import CheckpointError, ConfigError
from ondevice.model import EncoderConfig, LayerConfig, load_checkpoint, load_model, save_checkpoint
from ondevice.model.checkpoint import Checkpoint
from ondevice.model.encoder import Classifier


def test_save_load_is_exact(tiny_bert_dir, tmp_path):
    ckpt = load_model(str(tiny_bert_dir))
    out = save_checkpoint(ckpt, tmp_path / "ckpt")
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "info.json",
        "labels.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_settings.json",
        "vocab.txt",
    ]
    back = load_checkpoint(out)
    assert back.config == ckpt.config
    assert back.labels == ckpt.labels
    a, b = ckpt.model.state_dict(), back.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ids, mask = ckpt.tokenizer(["an exact round trip ."])
    assert (back.tokenizer(["an exact round trip ."])[0] == ids).all()
    with torch.no_grad():  # weights are bit-exact; kernels may round differently with other alignment
        torch.testing.assert_close(
            ckpt.model(torch.tensor(ids), torch.tensor(mask)),
            back.model(torch.tensor(ids), torch.tensor(mask)),
            rtol=0,
            atol=1e-6,
        )


def test_config_records_schema_version_and_round_trips():
    cfg = EncoderConfig(
        hidden_size=64,
        num_heads=4,
        num_layers=3,
        intermediate_size=128,
        layers=[LayerConfig(4, 128), LayerConfig(2, 40), LayerConfig(0, 0)],
    )
    d = cfg.to_dict()
    assert d["schema_version"] == 6
    assert EncoderConfig.from_dict(json.loads(json.dumps(d))) == cfg
    # a version-5 config (before multi-label problem_type and thresholds) reads unchanged: single-label
    v5 = {k: v for k, v in d.items() if k not in ("problem_type", "thresholds")}
    assert EncoderConfig.from_dict({**v5, "schema_version": 5}) == cfg
    # a version-4 config (before RoBERTa positions and ELECTRA embeddings) reads unchanged
    v4 = {k: v for k, v in v5.items() if k not in ("position_offset", "embedding_size")}
    assert EncoderConfig.from_dict({**v4, "schema_version": 4}) == cfg
    # a version-3 config (before token skimming) reads unchanged
    v3 = {k: v for k, v in v4.items() if k != "skim_predictor"}
    v3["layers"] = [{k: v for k, v in layer.items() if k != "skim_keep"} for layer in d["layers"]]
    assert EncoderConfig.from_dict({**v3, "schema_version": 3}) == cfg
    with pytest.raises(CheckpointError, match="schema version"):
        EncoderConfig.from_dict({**d, "schema_version": 99})


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"thresholds": [0.5, 0.5]}, "apply to multi_label_classification only"),
        ({"problem_type": "multi_label_classification", "thresholds": [0.5]}, "1 numbers for the 2 labels"),
        ({"problem_type": "multi_label_classification", "thresholds": [0.5, 1.0]}, r"thresholds\[1\] must be below 1"),
        ({"problem_type": "multi_label_classification", "thresholds": [0.0, 0.5]}, r"thresholds\[0\] must be in"),
        ({"problem_type": "regression"}, "problem_type .regression. is not supported"),
    ],
)
def test_multi_label_config_checks_its_thresholds(fields, message):
    cfg = EncoderConfig(problem_type="multi_label_classification", num_labels=3, thresholds=[0.25, 0.5, 0.9])
    assert EncoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg and cfg.multi_label
    assert EncoderConfig(num_labels=3).decision_thresholds() == [0.5] * 3
    with pytest.raises(ConfigError, match=message):
        EncoderConfig(**fields)


def test_per_layer_shapes_save_load_and_run(tmp_path, default_ckpt):
    """Layers of different widths (as pruning leaves them), a removed attention and FFN included."""
    cfg = EncoderConfig(
        hidden_size=64,
        num_heads=4,
        num_layers=3,
        intermediate_size=128,
        max_position_embeddings=64,
        layers=[LayerConfig(4, 128), LayerConfig(1, 17), LayerConfig(0, 0)],
    )
    torch.manual_seed(0)
    model = Classifier(cfg).eval()
    assert model.blocks[1].attention.query.out_features == 16
    assert model.blocks[1].ffn.up.out_features == 17
    assert model.blocks[2].attention is None and model.blocks[2].ffn is None
    ckpt = Checkpoint(model, default_ckpt.tokenizer, ["a", "b"])
    back = load_checkpoint(save_checkpoint(ckpt, tmp_path / "pruned"))
    ids, mask = (torch.tensor(x) for x in ckpt.tokenizer(["short", "a longer sentence here"], max_length=16))
    with torch.no_grad():
        torch.testing.assert_close(model(ids, mask), back.model(ids, mask), rtol=0, atol=1e-6)


def test_save_replaces_existing_directory_whole(tiny_bert_dir, tmp_path):
    ckpt = load_model(str(tiny_bert_dir))
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    save_checkpoint(ckpt, out)
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary directories left


def test_config_validation_says_how_to_fix():
    with pytest.raises(ConfigError, match="multiple of num_heads"):
        EncoderConfig(hidden_size=100, num_heads=12)
    with pytest.raises(ConfigError, match="pooling"):
        EncoderConfig(pooling="max")


def test_default_model_is_package_minilm_plus_committed_head(default_ckpt):
    from ondevice.model.checkpoint import ASSETS

    assert default_ckpt.labels == ["negative", "positive"]
    assert default_ckpt.config.pooling == "mean"
    head_file = ASSETS / "default_head.safetensors"
    assert head_file.stat().st_size < 1024 * 1024
    head = load_file(str(head_file))
    assert torch.equal(default_ckpt.model.classifier.weight, head["classifier.weight"])
    ids, mask = (
        torch.tensor(x)
        for x in default_ckpt.tokenizer(
            ["a masterpiece , moving and beautifully made .", "a dull , lifeless and tedious mess ."]
        )
    )
    with torch.no_grad():
        pred = default_ckpt.model(ids, mask).argmax(-1).tolist()
    assert pred == [1, 0]


def test_hub_id_from_local_cache(tiny_bert_dir, tmp_path, monkeypatch):
    """A model already in the Hugging Face cache loads by its hub id, offline."""
    cache = tmp_path / "hub"
    snap = cache / "models--acme--tiny-bert" / "snapshots" / "0123456789abcdef"
    snap.mkdir(parents=True)
    for f in tiny_bert_dir.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (cache / "models--acme--tiny-bert" / "refs").mkdir()
    (cache / "models--acme--tiny-bert" / "refs" / "main").write_text("0123456789abcdef")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    ckpt = load_model("acme/tiny-bert")
    assert ckpt.config.hidden_size == 64
    with pytest.raises(CheckpointError, match="not a model in the local Hugging Face cache"):
        load_model("acme/not-downloaded")


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "no-weights",
        "corrupt-safetensors",
        "gpt2",
        "bad-json",
        "bad-shape",
        "unpicklable-bin",
        "ondevice-corrupt",
    ],
)
def test_bad_checkpoints_raise_one_line_errors(case, tiny_bert_dir, tmp_path):
    d = tmp_path / "m"
    if case != "missing":
        d.mkdir()
        for f in tiny_bert_dir.iterdir():
            (d / f.name).write_bytes(f.read_bytes())
    if case == "no-weights":
        (d / "model.safetensors").unlink()
    elif case == "corrupt-safetensors":
        data = (d / "model.safetensors").read_bytes()
        (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif case == "gpt2":
        (d / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 64}))
    elif case == "bad-json":
        (d / "config.json").write_text("{not json")
    elif case == "bad-shape":
        cfg = json.loads((d / "config.json").read_text())
        cfg["intermediate_size"] = 96
        (d / "config.json").write_text(json.dumps(cfg))
    elif case == "unpicklable-bin":
        import os

        (d / "model.safetensors").unlink()

        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned",))

        import pickle

        (d / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Evil()}))
    elif case == "ondevice-corrupt":
        ckpt = load_model(str(tiny_bert_dir))
        save_checkpoint(ckpt, d)
        (d / "model.safetensors").write_bytes(b"\x00" * 100)
    expected = {
        "missing": "no such directory",
        "no-weights": "has no weights",
        "corrupt-safetensors": "corrupt",
        "gpt2": "unsupported architecture 'gpt2'",
        "bad-json": "not valid JSON",
        "bad-shape": "has shape",
        "unpicklable-bin": "cannot be loaded safely",
        "ondevice-corrupt": "corrupt",
    }[case]
    with pytest.raises(CheckpointError, match=expected) as e:
        load_model(str(d))
    assert "\n" not in str(e.value)
