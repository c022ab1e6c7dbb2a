"""Fault table: model directories that must not be trusted.

Each case copies the tiny random BERT (Hugging Face layout) or its ondevice checkpoint into the
workspace, damages the copy (config.json of the wrong shape or with absurd sizes, weights that do not
match it, a tokenizer larger than the embedding table, a pickle that would run code, ...) and runs
`eval`, `export`, `finetune` or `compress` on it, or asks for a sequence length beyond the position
table: one `Error:` line that names the file and the field, nothing written, and for the absurd sizes
a bounded peak memory (nothing is allocated before the config is checked against the weights).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Callable

import pytest
from harness import SST2_SAMPLE, Case, check

SAMPLE = str(SST2_SAMPLE)
MODEL = "model"  # the damaged copy, relative to the workspace
BOUND_MB = 1500  # peak memory of a case that must be refused before anything large is allocated


def _eval(model: str, *extra: str) -> list[str]:
    return ["eval", model, "--data", SAMPLE, *extra]


def _export(model: str, *extra: str) -> list[str]:
    fmt = ["--target", "host", "--format", "onnx", "--quantize", "fp32"]
    return ["export", model, *fmt, "--data", SAMPLE, "--out", "out", *extra]


def _finetune(model: str, *extra: str) -> list[str]:
    return ["finetune", model, "--train", SAMPLE, "--dev", SAMPLE, "--epochs", "1", "--out", "out", *extra]


def _compress(model: str, *extra: str) -> list[str]:
    return ["compress", model, "--recipe", "conservative", "--data", SAMPLE, "--out", "out", *extra]


def hostile(layout: str, damage: Callable[[Path], None], command: Callable[..., list[str]] = _eval, *extra: str):
    """An argv maker: the tiny model in ``layout`` ("hf" or "ondevice") copied into the workspace,
    ``damage`` done to the copy, then ``command`` on it."""

    def make(models: dict[str, Path], ws: Path) -> list[str]:
        damage(Path(shutil.copytree(models[layout], ws / MODEL)))
        return command(MODEL, *extra)

    return make


def unchanged(model: Path) -> None:
    """No damage: the fault is in the command line."""


def config(**changes) -> Callable[[Path], None]:
    """Set config.json fields (None removes one)."""

    def damage(model: Path) -> None:
        cfg = json.loads((model / "config.json").read_text())
        for key, value in changes.items():
            if value is None:
                cfg.pop(key, None)
            else:
                cfg[key] = value
        (model / "config.json").write_text(json.dumps(cfg))

    return damage


def config_text(old: str, new: str) -> Callable[[Path], None]:
    """Replace text in config.json (for what json.dumps will not write as such)."""

    def damage(model: Path) -> None:
        text = (model / "config.json").read_text()
        assert old in text
        (model / "config.json").write_text(text.replace(old, new))

    return damage


def write(name: str, content: bytes) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        (model / name).write_bytes(content)

    return damage


def tensors(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """Change model.safetensors' tensors (a consistent, valid file that holds other tensors)."""

    def damage(model: Path) -> None:
        from safetensors.torch import load_file, save_file

        state = load_file(str(model / "model.safetensors"))
        change(state)
        save_file(state, str(model / "model.safetensors"), metadata={"format": "pt"})

    return damage


def smaller_vocab(rows: int) -> Callable[[Path], None]:
    """Cut the word-embedding table to ``rows`` and say so in config.json: a consistent model whose
    tokenizer (30522 ids) is larger than its embedding table."""

    def damage(model: Path) -> None:
        def cut(state: dict) -> None:
            key = next(k for k in state if k.endswith(("word_embeddings.weight", "embeddings.word.weight")))
            state[key] = state[key][:rows].clone()

        tensors(cut)(model)
        config(vocab_size=rows)(model)

    return damage


def header_claims_huge(model: Path) -> None:
    """A safetensors header whose word-embedding entry claims 40 TB of data the file does not have."""
    path = model / "model.safetensors"
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    key = next(k for k in header if "word" in k)
    start = header[key]["data_offsets"][0]
    header[key] |= {"shape": [10**7, 10**6], "data_offsets": [start, start + 4 * 10**13]}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def truncated(name: str) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        data = (model / name).read_bytes()
        (model / name).write_bytes(data[: len(data) // 2])

    return damage


class _RunsCode:
    """Unpickling this runs a shell command that leaves a file behind (the harness would see it)."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def malicious_pickle(model: Path) -> None:
    import torch

    (model / "model.safetensors").unlink()
    torch.save({"bert.embeddings.word_embeddings.weight": _RunsCode()}, model / "pytorch_model.bin")


def plain_pickle(model: Path) -> None:
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_bytes(pickle.dumps({"x": _RunsCode()}))


def garbage_bin(model: Path) -> None:
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_bytes(b"PK\x03\x04 this is not a zip archive" * 10)


def replaced_by_file(model: Path) -> None:
    shutil.rmtree(model)
    model.write_text("not a model directory\n")


def link_loop(model: Path) -> None:
    shutil.rmtree(model)
    model.symlink_to(model.name)  # model -> model


def config_loop(model: Path) -> None:
    (model / "config.json").unlink()
    (model / "config.json").symlink_to("config.json")


def sentence_transformers_pooling(content: bytes) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        (model / "modules.json").write_text("[]")
        (model / "1_Pooling").mkdir()
        (model / "1_Pooling" / "config.json").write_bytes(content)

    return damage


K = "model"
CASES = [
    # absurd sizes: refused before allocating, with bounded memory
    Case(K, "vocab_size 1e12 (HF)", hostile("hf", config(vocab_size=10**12)), "describes a model of", 1, BOUND_MB),
    Case(
        K,
        "vocab_size 1e12 (ondevice)",
        hostile("ondevice", config(vocab_size=10**12)),
        "describes a model",
        1,
        BOUND_MB,
    ),
    Case(
        K,
        "vocab_size 1e7 under the bound but not the weights'",
        hostile("ondevice", config(vocab_size=10**7)),
        "config.json describes (10000000, 64)",
        1,
        BOUND_MB,
    ),
    Case(
        K,
        "hidden_size 4e6 (export)",
        hostile("hf", config(hidden_size=4_000_000), _export),
        "hidden_size (4000000)",
        1,
        BOUND_MB,
    ),
    Case(
        K,
        "num_hidden_layers 1e7 (finetune)",
        hostile("hf", config(num_hidden_layers=10**7), _finetune),
        "num_hidden_layers must be at most 1024",
        1,
        BOUND_MB,
    ),
    Case(
        K,
        "max_position_embeddings 1e10 (compress)",
        hostile("hf", config(max_position_embeddings=10**10), _compress),
        "describes a model of",
        1,
        BOUND_MB,
    ),
    Case(K, "num_labels 1e9", hostile("hf", config(num_labels=10**9, id2label=None)), "describes a model", 1, BOUND_MB),
    Case(K, "safetensors header claims 40 TB", hostile("hf", header_claims_huge), "is corrupt", 1, BOUND_MB),
    # a tokenizer larger than the embedding table
    Case(K, "tokenizer larger than vocab (HF)", hostile("hf", smaller_vocab(1000)), "embedding table has 1000 rows", 1),
    Case(
        K,
        "tokenizer larger than vocab (ondevice, export)",
        hostile("ondevice", smaller_vocab(1000), _export),
        "embedding table has 1000 rows",
        1,
    ),
    # lengths beyond the position table (128)
    Case(K, "eval --max-length 4000", hostile("hf", unchanged, _eval, "--max-length", "4000"), "--max-length 4000", 2),
    Case(
        K,
        "finetune --max-length 300",
        hostile("ondevice", unchanged, _finetune, "--max-length", "300"),
        "2 to 128 tokens",
        2,
    ),
    Case(K, "export --seq-len 200", hostile("hf", unchanged, _export, "--seq-len", "200"), "--seq-len 200", 2),
    # config.json of the wrong shape or type
    Case(K, "config.json not JSON", hostile("hf", write("config.json", b"{not json")), "not valid json", 1),
    Case(
        K, "config.json a list (ondevice)", hostile("ondevice", write("config.json", b"[1, 2]")), "not a json object", 1
    ),
    Case(
        K,
        "config.json a directory",
        hostile("hf", lambda m: ((m / "config.json").unlink(), (m / "config.json").mkdir())),
        "has no config.json",
        1,
    ),
    Case(K, "config.json a link to itself", hostile("hf", config_loop), "has no config.json", 1),
    Case(K, "hidden_size missing (HF)", hostile("hf", config(hidden_size=None)), "lacks the field 'hidden_size'", 1),
    Case(K, "hidden_size missing (ondevice)", hostile("ondevice", config(hidden_size=None)), "'hidden_size'", 1),
    Case(
        K,
        "vocab_size a string",
        hostile("hf", config(vocab_size="30522")),
        'vocab_size must be an integer, got "30522"',
        1,
    ),
    Case(K, "vocab_size 30522.5", hostile("hf", config(vocab_size=30522.5)), "vocab_size must be an integer", 1),
    Case(K, "vocab_size -5", hostile("hf", config(vocab_size=-5)), "vocab_size must be at least 1", 1),
    Case(K, "num_hidden_layers true", hostile("hf", config(num_hidden_layers=True)), "must be an integer, got true", 1),
    Case(
        K,
        "num_attention_heads 0",
        hostile("hf", config(num_attention_heads=0)),
        "num_attention_heads must be at least 1",
        1,
    ),
    Case(
        K,
        "layer_norm_eps NaN",
        hostile("hf", config_text('"layer_norm_eps": 1e-12', '"layer_norm_eps": NaN')),
        "layer_norm_eps must be a finite number, got NaN",
        1,
    ),
    Case(
        K,
        "dropout NaN (ondevice)",
        hostile("ondevice", config_text('"dropout": 0.1', '"dropout": NaN')),
        "dropout must be a finite number",
        1,
    ),
    Case(
        K,
        "pad_token_id past the vocabulary",
        hostile("hf", config(pad_token_id=10**6)),
        "pad_token_id 1000000 is outside",
        1,
    ),
    Case(K, "id2label a list", hostile("hf", config(id2label=["a", "b"])), "id2label must be an object", 1),
    Case(K, "layers of numbers (ondevice)", hostile("ondevice", config(layers=[1, 2])), "every entry of layers", 1),
    Case(
        K,
        "ranks a list (ondevice)",
        hostile("ondevice", config(layers=[{"num_heads": 4, "intermediate_size": 128, "ranks": [1]}] * 2)),
        "ranks must be an object",
        1,
    ),
    Case(K, "model_type gpt2", hostile("hf", config(model_type="gpt2")), "unsupported architecture 'gpt2'", 1),
    Case(K, "model_type a list", hostile("hf", config(model_type=["bert"])), "ondevice imports bert, distilbert", 1),
    Case(
        K,
        "sentence-transformers pooling not JSON",
        hostile("hf", sentence_transformers_pooling(b"{")),
        "1_pooling/config.json is not valid json",
        1,
    ),
    # weights that do not match the config
    Case(K, "safetensors truncated (HF)", hostile("hf", truncated("model.safetensors")), "is corrupt", 1),
    Case(K, "safetensors truncated (ondevice)", hostile("ondevice", truncated("model.safetensors")), "is corrupt", 1),
    Case(
        K,
        "int32 weights (ondevice)",
        hostile("ondevice", tensors(lambda s: s.update({k: v.int() for k, v in s.items()}))),
        "weights must be floating point",
        1,
    ),
    Case(
        K,
        "int64 weights (HF)",
        hostile("hf", tensors(lambda s: s.update({k: v.long() for k, v in s.items()}))),
        "stored as i64",
        1,
    ),
    Case(
        K,
        "extra tensor (ondevice)",
        hostile("ondevice", tensors(lambda s: s.update(extra=s["classifier.bias"].clone()))),
        "'extra' that its config.json has no place for",
        1,
    ),
    Case(
        K,
        "missing tensor (ondevice)",
        hostile("ondevice", tensors(lambda s: s.pop("blocks.1.ffn.up.weight"))),
        "lacks 1 tensor(s)",
        1,
    ),
    Case(
        K,
        "unknown tensor (HF)",
        hostile("hf", tensors(lambda s: s.update({"foo.bar": s["classifier.bias"].clone()}))),
        "unexpected tensor 'foo.bar'",
        1,
    ),
    Case(
        K,
        "intermediate_size not the weights'",
        hostile("hf", config(intermediate_size=96)),
        "the config does not belong to these weights",
        1,
    ),
    # pickles: never unpickled beyond plain tensors, never advised to be
    Case(K, "pytorch_model.bin runs code (torch.save)", hostile("hf", malicious_pickle), "not a plain weights file", 1),
    Case(
        K,
        "pytorch_model.bin runs code (plain pickle)",
        hostile("hf", plain_pickle),
        "convert the checkpoint to safetensors",
        1,
    ),
    Case(K, "pytorch_model.bin garbage", hostile("hf", garbage_bin), "damaged or not a pytorch weights file", 1),
    # other files of the checkpoint
    Case(
        K,
        "labels.json an object",
        hostile("ondevice", write("labels.json", b'{"a": 1}')),
        "must be a list of 3 label names",
        1,
    ),
    Case(
        K,
        "labels.json a label twice",
        hostile("ondevice", write("labels.json", b'["a", "a", "b"]')),
        "names a label twice",
        1,
    ),
    Case(
        K, "labels.json not JSON", hostile("ondevice", write("labels.json", b"[")), "labels.json is not valid json", 1
    ),
    Case(K, "info.json a list", hostile("ondevice", write("info.json", b"[]")), "info.json is not a json object", 1),
    # the model directory itself
    Case(K, "model dir is a file", hostile("hf", replaced_by_file), "is a file", 1),
    Case(K, "model dir a link to itself", hostile("hf", link_loop), "symbolic link", 1),
]


@pytest.fixture(scope="module")
def models(tiny_bert_dir: Path, tiny_checkpoint: Path) -> dict[str, Path]:
    return {"hf": tiny_bert_dir, "ondevice": tiny_checkpoint}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_model_fault(case: Case, models: dict[str, Path], workspace: Path) -> None:
    result = check(replace(case, argv=partial(case.argv, models)), workspace)
    # PyTorch's own refusal of a pickle advises passing weights_only=False; never repeat that.
    assert "weights_only" not in result.stdout + result.stderr
