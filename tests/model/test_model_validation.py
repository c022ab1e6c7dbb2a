"""Model configs and weights checked once, at load: field types and ranges, the size a config implies,
every tensor against the config before allocation, the tokenizer against the embedding table, and
sequence lengths against the position table."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from ondevice.errors import CheckpointError, ConfigError
from ondevice.model import EncoderConfig, LayerConfig, load_checkpoint, load_model, save_checkpoint
from ondevice.model.config import MAX_PARAMETERS, check_field
from ondevice.model.encoder import Classifier
from ondevice.model.weights import check_tensors, expected_shapes, meta_model

SMALL = {"hidden_size": 64, "num_heads": 4, "intermediate_size": 128, "vocab_size": 500, "max_position_embeddings": 64}


def _configs() -> list[EncoderConfig]:
    out = [
        EncoderConfig(**SMALL, num_layers=2),
        EncoderConfig(
            **SMALL,
            num_layers=3,
            embedding_rank=16,
            type_vocab_size=0,
            head_activation="none",
            layers=[
                LayerConfig(4, 128, ranks={"query": 8, "down": 4, "output": 2}),
                LayerConfig(1, 17),
                LayerConfig(0, 0),
            ],
        ),
    ]
    for sharing in ("none", "headwise", "kv", "layerwise"):
        layers = [LayerConfig(4, 128, linformer_k=8), LayerConfig(2, 64, linformer_k=8)]
        out.append(EncoderConfig(**SMALL, num_layers=2, linformer_n=32, linformer_sharing=sharing, layers=layers))
    for predictor in ("learned", "attention"):
        layers = [LayerConfig(4, 128), LayerConfig(4, 128, skim_keep=0.5), LayerConfig(4, 128, skim_keep=0.4)]
        out.append(EncoderConfig(**SMALL, num_layers=3, skim_predictor=predictor, layers=layers))
    return out


@pytest.mark.parametrize(
    "config", _configs(), ids=lambda c: f"{c.num_layers}L-{c.linformer_sharing}-{c.skim_predictor}"
)
def test_parameter_count_from_the_config_alone_is_exact(config):
    assert config.num_parameters() == Classifier(config).num_parameters()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("vocab_size", True, "vocab_size must be an integer, got true"),
        ("vocab_size", "30522", 'vocab_size must be an integer, got "30522"'),
        ("vocab_size", 30522.0, "vocab_size must be an integer"),
        ("vocab_size", 0, "vocab_size must be at least 1"),
        ("num_layers", 10**7, "num_layers must be at most 1024"),
        ("num_labels", 1, "num_labels must be at least 2"),
        ("layer_norm_eps", math.nan, "layer_norm_eps must be a finite number, got NaN"),
        ("layer_norm_eps", 0.0, "layer_norm_eps must be in (0, 1]"),
        ("dropout", math.inf, "dropout must be a finite number"),
        ("dropout", 1.5, "dropout must be in [0, 1]"),
        ("hidden_act", ["gelu"], 'hidden_act ["gelu"] is not supported'),
        ("architecture", "gpt2", 'architecture "gpt2" is not supported; use one of bert, distilbert'),
    ],
)
def test_config_fields_are_checked_by_type_and_range(field, value, message):
    with pytest.raises(ConfigError) as e:
        EncoderConfig(**{field: value})
    assert message in str(e.value)
    with pytest.raises(ConfigError, match="num_hidden_layers"):  # an imported checkpoint's own name for it
        check_field("num_layers", "6", "num_hidden_layers")


def test_absurd_sizes_are_refused_before_anything_is_built():
    with pytest.raises(ConfigError, match=r"describes a model of [0-9.e+]+ weights, more than ondevice handles"):
        EncoderConfig(vocab_size=10**12, hidden_size=30720, num_heads=12)
    cfg = EncoderConfig(vocab_size=MAX_PARAMETERS // 384 - 10**6)  # just under the bound: allowed
    assert cfg.num_parameters() <= MAX_PARAMETERS
    with pytest.raises(ConfigError, match="pad_token_id 600 is outside the vocabulary"):
        EncoderConfig(**SMALL, pad_token_id=600)
    with pytest.raises(ConfigError, match=r"layers\[1\] has unknown fields: heads"):
        EncoderConfig(**SMALL, num_layers=2, layers=[{"num_heads": 4, "intermediate_size": 8}, {"heads": 4}])
    with pytest.raises(ConfigError, match="config lists 3 layers but num_layers is 2"):
        EncoderConfig(**SMALL, num_layers=2, layers=[{"num_heads": 4, "intermediate_size": 8}] * 3)


def test_sequence_lengths_are_checked_against_the_position_table():
    cfg = EncoderConfig(**SMALL, num_layers=1)
    assert cfg.max_length == 64 and cfg.check_length(64) == 64
    with pytest.raises(ConfigError, match="--max-length 65 is outside what the model can take: 2 to 64 tokens"):
        cfg.check_length(65)
    with pytest.raises(ConfigError, match="--seq-len 4 is outside .* 8 to 64"):
        cfg.check_length(4, "--seq-len", lowest=8)
    lin = EncoderConfig(**SMALL, num_layers=1, linformer_n=32, layers=[LayerConfig(4, 128, linformer_k=8)])
    assert lin.max_length == 32
    with pytest.raises(ConfigError, match="its Linformer projections"):
        lin.check_length(48)


def test_weights_are_checked_against_the_config_before_allocation():
    cfg = EncoderConfig(**SMALL, num_layers=1)
    expected = expected_shapes(meta_model(cfg))
    found = {k: (shape, "F32") for k, shape in expected.items()}
    check_tensors(found, expected, "w")  # the model itself passes
    bad_shape = {**found, "embeddings.word.weight": ((30522, 64), "F32")}
    with pytest.raises(CheckpointError, match=r"has shape \(30522, 64\), but config.json describes \(500, 64\)"):
        check_tensors(bad_shape, expected, "w")
    with pytest.raises(CheckpointError, match="stored as I64"):
        check_tensors({**found, "classifier.bias": ((2,), "I64")}, expected, "w")
    with pytest.raises(CheckpointError, match="'extra' that its config.json has no place for"):
        check_tensors({**found, "extra": ((1,), "F32")}, expected, "w")
    check_tensors({**found, "extra": ((1,), "F32")}, expected, "w", strict=False)
    partial = {k: v for k, v in found.items() if k != "classifier.bias"}
    with pytest.raises(CheckpointError, match="lacks 1 tensor"):
        check_tensors(partial, expected, "w")
    check_tensors(partial, expected, "w", optional=("classifier.bias",))


def _copy(src, tmp_path, name="m"):
    return shutil.copytree(src, tmp_path / name)


def _edit_config(d, **changes):
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


def test_a_tokenizer_larger_than_the_embedding_table_is_refused_at_load(tiny_bert_dir, tmp_path):
    d = _copy(tiny_bert_dir, tmp_path)
    state = load_file(str(d / "model.safetensors"))
    key = "bert.embeddings.word_embeddings.weight"
    state[key] = state[key][:1000].clone()
    save_file(state, str(d / "model.safetensors"), metadata={"format": "pt"})
    _edit_config(d, vocab_size=1000)
    with pytest.raises(
        CheckpointError, match="tokenizer gives ids up to 30521, but the model's embedding table has 1000"
    ):
        load_model(str(d))


def test_the_default_truncation_fits_the_position_table(tiny_bert_dir, tmp_path):
    """A model with 64 positions gets a tokenizer that truncates to 64 by default, in every layout."""
    d = _copy(tiny_bert_dir, tmp_path)
    state = load_file(str(d / "model.safetensors"))
    key = "bert.embeddings.position_embeddings.weight"
    state[key] = state[key][:64].clone()
    save_file(state, str(d / "model.safetensors"), metadata={"format": "pt"})
    _edit_config(d, max_position_embeddings=64)
    ckpt = load_model(str(d))
    assert ckpt.tokenizer.max_length == 64
    ids, mask = ckpt.tokenizer([" ".join(["word"] * 200)])
    with torch.no_grad():
        assert ckpt.model(torch.tensor(ids), torch.tensor(mask)).shape == (1, 3)
    saved = save_checkpoint(ckpt, tmp_path / "ckpt")
    settings = json.loads((saved / "tokenizer_settings.json").read_text())
    (saved / "tokenizer_settings.json").write_text(json.dumps({**settings, "max_length": 512}))
    assert load_checkpoint(saved).tokenizer.max_length == 64


def test_an_absurd_hf_config_is_refused_without_allocating(tiny_bert_dir, tmp_path):
    d = _copy(tiny_bert_dir, tmp_path)
    _edit_config(d, vocab_size=10**7)  # 640M weights: under the bound, refused by the weights' header
    with pytest.raises(CheckpointError, match=r"config.json describes \(10000000, 64\)"):
        load_model(str(d))
    _edit_config(d, vocab_size=30522, num_hidden_layers="2")
    with pytest.raises(CheckpointError, match='config.json: num_hidden_layers must be an integer, got "2"'):
        load_model(str(d))


def test_an_ondevice_config_missing_a_size_is_refused(tiny_checkpoint_dir):
    cfg = json.loads((tiny_checkpoint_dir / "config.json").read_text())
    del cfg["hidden_size"]
    (tiny_checkpoint_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="config.json: the field 'hidden_size' is missing"):
        load_checkpoint(tiny_checkpoint_dir)


@pytest.fixture
def tiny_checkpoint_dir(tiny_bert_dir, tmp_path):
    return save_checkpoint(load_model(str(tiny_bert_dir)), tmp_path / "ckpt")


def test_the_pickle_refusal_never_advises_turning_the_safety_off(tiny_bert_dir, tmp_path):
    d = _copy(tiny_bert_dir, tmp_path)
    (d / "model.safetensors").unlink()
    torch.save({"weights": torch.nn.Linear(2, 2)}, d / "pytorch_model.bin")  # a module: an object, not tensors
    with pytest.raises(CheckpointError) as e:
        load_model(str(d))
    assert "not a plain weights file" in str(e.value) and "safetensors" in str(e.value)
    assert "weights_only" not in str(e.value)


def test_max_length_is_checked_before_eval_and_finetune(tiny_bert_dir):
    from ondevice.data import Dataset, Example
    from ondevice.evaluate import evaluate
    from ondevice.train import FinetuneConfig, finetune

    ckpt = load_model(str(tiny_bert_dir))
    data = Dataset([Example("fine", 0), Example("bad", 2)], ckpt.labels)
    with pytest.raises(ConfigError, match="--max-length 129 is outside"):
        evaluate(ckpt, data, max_length=129)
    with pytest.raises(ConfigError, match="--max-length 256 is outside"):
        finetune(ckpt, data, data, FinetuneConfig(max_length=256))
