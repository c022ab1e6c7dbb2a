"""RoBERTa (and DistilRoBERTa), XLM-RoBERTa, CamemBERT and ELECTRA in the one encoder; byte-level BPE
and Unigram tokenizers; export in every format; the shipped recipes; the Android app's core on their bundles.

Small random-weight models that `transformers` builds offline, with tokenizers trained here on SST-2
text: byte-level BPE with `tokenizers` (wrapped as transformers' RoBERTa tokenizer and saved by it), and
a SentencePiece Unigram model that transformers converts as it converts XLM-RoBERTa's and CamemBERT's,
keeping SentencePiece's Precompiled normalizer. ELECTRA keeps a WordPiece vocabulary (MiniLM's), as
ELECTRA checkpoints do. Run with ``-s`` to see the parity figures.
"""

import copy
import json
from collections import Counter

import pytest
import torch
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.compress import compress_
from ondevice.compress.vocab import VocabConfig
from ondevice.data import Dataset, Example
from ondevice.errors import CheckpointError
from ondevice.model import Tokenizer, load_model, save_checkpoint
from ondevice.model.checkpoint import load_checkpoint
from ondevice.model.config import ARCHITECTURES, EncoderConfig
from ondevice.model.hf import IMPORTERS

LABELS = {0: "negative", 1: "positive"}
ARCHS = ("roberta", "distilroberta", "xlm-roberta", "camembert", "electra")
KIND = {"roberta": "BPE", "distilroberta": "BPE", "xlm-roberta": "Unigram", "camembert": "Unigram"}


@pytest.fixture(scope="session")
def bpe_dir(byte_level_bpe):
    """A byte-level BPE trained on SST-2 train text, saved by transformers' RoBERTa tokenizer."""
    from transformers import RobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    names = dict(bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>", pad_token="<pad>")
    return byte_level_bpe("bpe", RobertaTokenizerFast, specials, **names, unk_token="<unk>", mask_token="<mask>")


@pytest.fixture(scope="session")
def unigram_dirs(sentencepiece_unigram, tmp_path_factory):
    """A SentencePiece Unigram model trained on SST-2 train text, converted by transformers'
    XLM-RoBERTa and CamemBERT tokenizers (each adds its own special tokens)."""
    from transformers import CamembertTokenizer, XLMRobertaTokenizer

    src = sentencepiece_unigram("spm", "sentencepiece.bpe.model")
    out = {}
    for arch, cls in (("xlm-roberta", XLMRobertaTokenizer), ("camembert", CamembertTokenizer)):
        out[arch] = tmp_path_factory.mktemp(arch + "-tokenizer")
        cls.from_pretrained(src).save_pretrained(out[arch])
        norm = json.loads((out[arch] / "tokenizer.json").read_text())["normalizer"]
        assert norm["type"] == "Precompiled"  # SentencePiece's own normalization came through
    return out


def _hf_model(arch: str, tok):
    """A small random classifier of ``arch`` sized for tokenizer ``tok``."""
    import transformers as t

    torch.manual_seed(ARCHS.index(arch))
    common = dict(
        vocab_size=len(tok),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
        pad_token_id=tok.pad_token_id,
    )
    if arch == "electra":  # embeddings narrower than the encoder, projected up
        cfg = t.ElectraConfig(embedding_size=32, max_position_embeddings=128, **common)
        return t.ElectraForSequenceClassification(cfg)
    roberta = dict(
        max_position_embeddings=128 + tok.pad_token_id + 1,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    if arch == "distilroberta":  # DistilRoBERTa is a roberta of 6 layers
        common["num_hidden_layers"] = 6
        return t.RobertaForSequenceClassification(t.RobertaConfig(**common, **roberta))
    config_cls, model_cls = {
        "roberta": (t.RobertaConfig, t.RobertaForSequenceClassification),
        "xlm-roberta": (t.XLMRobertaConfig, t.XLMRobertaForSequenceClassification),
        "camembert": (t.CamembertConfig, t.CamembertForSequenceClassification),
    }[arch]
    return model_cls(config_cls(**common, **roberta))


@pytest.fixture(scope="session")
def hf_dir(hf_checkpoints, bpe_dir, unigram_dirs, minilm_dir):
    """``hf_dir(arch)``: a checkpoint directory as transformers saves it, with its tokenizer files."""
    tokenizers = {"roberta": bpe_dir, "distilroberta": bpe_dir, "electra": minilm_dir, **unigram_dirs}
    return hf_checkpoints(tokenizers.get, _hf_model)


# -- the encoder against transformers ------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("padded", [False, True])
def test_logits_match_transformers(sentences, hf_dir, logits_parity, arch, batch, padded):
    ours = logits_parity(hf_dir(arch), sentences[:batch], padded, f"{arch:<13} batch {batch} padded {padded!s:<5}")
    assert ours.config.architecture == ("roberta" if arch == "distilroberta" else arch)


def test_variant_fields_come_from_the_checkpoint(hf_dir):
    roberta = load_model(str(hf_dir("roberta"))).config
    assert (roberta.position_offset, roberta.type_vocab_size, roberta.embedding_size) == (2, 1, 0)
    assert roberta.max_length == 128 and roberta.head_activation == "tanh"  # 130 rows, the first two unused
    assert load_model(str(hf_dir("distilroberta"))).config.num_layers == 6
    electra = load_model(str(hf_dir("electra"))).config
    assert (electra.embedding_size, electra.embedding_dim, electra.hidden_size) == (32, 32, 64)
    assert electra.position_offset == 0 and electra.head_activation == "gelu"


@pytest.mark.parametrize("arch", ["camembert", "electra"])
def test_checkpoint_round_trip(sentences, hf_dir, tmp_path, arch):
    """Saved as an ondevice checkpoint and loaded back: the same config, tokenizer kind and logits."""
    ckpt = load_model(str(hf_dir(arch)))
    save_checkpoint(ckpt, tmp_path / "ck")
    back = load_checkpoint(tmp_path / "ck")
    assert back.config == ckpt.config
    settings = json.loads((tmp_path / "ck" / "tokenizer_settings.json").read_text())
    assert settings["kind"] == KIND.get(arch, "WordPiece") == back.tokenizer.settings.kind
    ids, mask = ckpt.tokenizer(sentences, max_length=24)
    ids, mask = torch.tensor(ids), torch.tensor(mask)
    with torch.no_grad():
        assert torch.equal(ckpt.model(ids, mask), back.model(ids, mask))


def test_config_fields_round_trip_and_old_configs_keep_their_meaning():
    cfg = EncoderConfig(
        vocab_size=500,
        hidden_size=64,
        num_heads=4,
        num_layers=2,
        intermediate_size=128,
        max_position_embeddings=66,
        pad_token_id=1,
        position_offset=2,
        embedding_size=32,
        head_activation="gelu",
        architecture="electra",
    )
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["schema_version"] == 6 and EncoderConfig.from_dict(d) == cfg
    assert cfg.max_length == 64 and cfg.embedding_dim == 32
    # a version-4 config.json, written before these fields: BERT's positions and full-width embeddings
    v4 = {k: v for k, v in EncoderConfig(vocab_size=500, hidden_size=64, num_heads=4).to_dict().items()}
    for k in ("position_offset", "embedding_size"):
        v4.pop(k)
    old = EncoderConfig.from_dict({**v4, "schema_version": 4})
    assert (old.position_offset, old.embedding_size, old.embedding_dim, old.max_length) == (0, 0, 64, 512)
    from ondevice.model.weights import meta_model

    assert meta_model(cfg).num_parameters() == cfg.num_parameters()  # the projection is counted


def test_unsupported_architecture_names_every_supported_one(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(CheckpointError, match="unsupported architecture 'gpt2'") as e:
        load_model(str(tmp_path))
    message = str(e.value)
    assert "\n" not in message
    named = message.split("ondevice imports ", 1)[1].split(" (", 1)[0].split(", ")
    assert set(named) == set(IMPORTERS) == set(ARCHITECTURES)
    assert {"roberta", "xlm-roberta", "camembert", "electra", "albert", "modernbert", "mobilebert"} < set(named)


# -- tokenizers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["roberta", "xlm-roberta", "camembert"])
def test_tokenizer_ids_match_transformers(hf_dir, tokenizer_parity, arch):
    """Every SST-2 dev sentence and the hard cases: exactly transformers' ids, untruncated, truncated
    to a short length (the final </s> kept), and padded to a fixed length with its mask."""
    tokenizer_parity(hf_dir(arch), KIND[arch])


def test_bundle_records_the_tokenizer_kind_and_needs_tokenizer_json(hf_dir, tmp_path):
    """The settings and the manifest say which algorithm reproduces the ids; a BPE or Unigram
    tokenizer without its tokenizer.json is refused rather than read as WordPiece."""
    from ondevice.errors import ArtifactError
    from ondevice.manifest import validate
    from ondevice.model.tokenizer import TokenizerSettings

    ckpt = load_model(str(hf_dir("xlm-roberta")))
    ckpt.tokenizer.save(tmp_path)
    settings = TokenizerSettings.from_dict(json.loads((tmp_path / "tokenizer_settings.json").read_text()), "x")
    assert settings.kind == "Unigram" and settings.sep_token == "</s>"
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="Unigram tokenizer is read from tokenizer.json, which is missing"):
        Tokenizer.load(tmp_path)
    with pytest.raises(ArtifactError, match="tokenizer.kind must be one of WordPiece, BPE, Unigram"):
        TokenizerSettings.from_dict({"kind": "SentencePiece"}, "x", ArtifactError, prefix="tokenizer.")
    manifest = {
        "schema_version": 1,
        "target": "host",
        "labels": ["a", "b"],
        "seq_len": 16,
        "seq_lens": [16],
        "model": {"parameters": {"encoder": 1}},
        "tokenizer": {"kind": "BPE", "vocab_file": "vocab.txt", "settings_file": "tokenizer_settings.json"},
        "files": {n: {"sha256": "0" * 64, "size_bytes": 1} for n in ("vocab.txt", "tokenizer_settings.json")},
        "artifacts": [],
    }
    manifest["tokenizer"].update(cls_id=0, sep_id=2, pad_id=1, unk_id=3)
    manifest["files"]["labels.json"] = manifest["files"]["m.onnx"] = {"sha256": "0" * 64, "size_bytes": 1}
    manifest["artifacts"] = [
        {
            "file": "m.onnx",
            "format": "onnx",
            "quantization": "fp32",
            "seq_len": 16,
            "inputs": [{"name": "input_ids", "dtype": "int64"}],
            "sha256": "0" * 64,
            "size_bytes": 1,
            "verification": {"max_abs_logit_diff": 0.0, "label_agreement": 1.0},
            "export": {},
        }
    ]
    with pytest.raises(ArtifactError, match="no checksum for tokenizer.json \\(the BPE tokenizer\\)"):
        validate(json.loads(json.dumps(manifest)), "ondevice.json")
    manifest["files"]["tokenizer.json"] = {"sha256": "0" * 64, "size_bytes": 1}
    validate(manifest, "ondevice.json")


# -- export, compression, the Android app --------------------------------------------------------------


@pytest.mark.parametrize("arch", ["roberta", "xlm-roberta", "camembert", "electra"])
def test_export_every_format_fp32_and_int8(sentences, hf_dir, export_every_format, tmp_path, arch):
    """.pte, .tflite and .onnx, fp32 and int8-dynamic, each run in its runtime and compared with PyTorch;
    then the bundle runs through `ondevice run` with its own tokenizer."""
    export_every_format(hf_dir(arch), tmp_path / "bundle", KIND.get(arch, "WordPiece"), sentences[0])


@pytest.mark.parametrize("arch", ["roberta", "xlm-roberta"])
def test_android_bundle_classifies_in_the_app_core_as_in_python(
    hf_dir, sst2_dev, sst2_texts, dev_sample, tmp_path, arch, junit, java_classification_golden
):
    """`--target android` builds the app bundle for a BPE and a Unigram model, and the app's Java core
    (Bundle.open, BundleClassifier's encode, Predictions) gives Python's ids, mask, length, label and
    scores on every SST-2 dev sentence. The JVM runs neither ExecuTorch nor LiteRT: the model's part is
    the logits of the bundle's ONNX artifact, recorded by ondevice.Classifier for Python's ids."""
    assets = tmp_path / "assets" / "ondevice"
    args = ["export", str(hf_dir(arch)), "--target", "android", "--format", "onnx", "--quantize", "fp32"]
    args += ["--seq-len", "16,32,64", "--data", str(dev_sample), "--out", str(tmp_path / "b"), "--copy-to", str(assets)]
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["target"] == "android" and m["tokenizer"]["kind"] == KIND[arch]
    texts = sst2_texts(sst2_dev)
    records = java_classification_golden(assets, texts, tmp_path)
    assert len(records) == 872 and {r["seq_len"] for r in records} == {16, 32, 64}
    # The records are what `ondevice run --json` says.
    r = CliRunner().invoke(cli, ["run", str(assets), *texts[:8], "--format", "onnx", "--json"])
    assert r.exit_code == 0, r.output
    for want, got in zip(records[:8], json.loads(r.stdout)["results"], strict=True):
        assert (got["label"], list(got["probabilities"].values()), got["seq_len"]) == (
            want["label"],
            want["scores"],
            want["seq_len"],
        )
    assert junit(tmp_path, tmp_path / "build", "ClassifierParityTest") == 1
    labels = [r["label"] for r in records]
    print(f"app core {arch}: {len(records)} sentences, labels {dict(Counter(labels))}, all equal to Python's")


# -- vocabulary pruning of byte-level BPE and Unigram ---------------------------------------------------

BIG = 10**9  # "no truncation" for Tokenizer.token_ids


def _pieces(tokenizer) -> dict[str, int]:
    return tokenizer.backend.get_vocab(with_added_tokens=True)


@pytest.mark.parametrize("arch", ["roberta", "xlm-roberta", "camembert"])
def test_vocab_pruning_keeps_the_training_ids_and_the_logits(hf_dir, vocab_pruning, arch):
    vocab_pruning(hf_dir(arch), KIND[arch])


@pytest.mark.parametrize("arch", ["roberta", "xlm-roberta"])
def test_vocab_extra_takes_bpe_merges_in_order_and_unigram_pieces_by_score(hf_dir, sst2_train, sst2_texts, arch):
    ckpt = load_model(str(hf_dir(arch)))
    texts = sst2_texts(sst2_train, 200)
    data = Dataset([Example(t, i % 2) for i, t in enumerate(texts)], ckpt.labels)
    base, before = copy.deepcopy(ckpt), copy.deepcopy(ckpt)
    compress_(base.model, VocabConfig(), student=base, train=data)
    report = compress_(ckpt.model, VocabConfig(extra=40), student=ckpt, train=data)
    assert report["extra"] == 40 and ckpt.tokenizer.vocab_size == base.tokenizer.vocab_size + 40
    added = set(_pieces(ckpt.tokenizer)) - set(_pieces(base.tokenizer))
    model = json.loads(before.tokenizer.backend.to_str())["model"]
    if KIND[arch] == "BPE":  # the results of the first merges the base kept none of
        made = [a + b for a, b in (m.split(" ") if isinstance(m, str) else m for m in model["merges"])]
        want = list(dict.fromkeys(t for t in made if t not in _pieces(base.tokenizer)))[:40]
    else:  # the unused pieces of highest score
        ranked = sorted((-score, p) for p, score in model["vocab"] if p not in _pieces(base.tokenizer))
        want = [p for _, p in ranked[:40]]
    assert added == set(want)
    old_pieces, new_pieces = _pieces(before.tokenizer), _pieces(ckpt.tokenizer)
    remap = {i: new_pieces[t] for t, i in old_pieces.items() if t in new_pieces}
    old, new = before.tokenizer.token_ids(texts, BIG), ckpt.tokenizer.token_ids(texts, BIG)
    assert all(n == [remap[i] for i in o] for o, n in zip(old, new, strict=True))


@pytest.mark.parametrize("arch", ["roberta", "xlm-roberta"])
def test_pruned_vocabulary_bundle_classifies_in_the_app_core_as_in_python(
    hf_dir, sst2_train, sst2_texts, sst2_dev, hard_texts, dev_sample, tmp_path, arch, junit, java_classification_golden
):
    """`compress` with a vocab step on 300 SST-2 training sentences, then `--target android`: the app's Java
    core reads the rewritten tokenizer.json (merges, or scores and the unknown token's penalty) and gives
    Python's ids, label and scores on every SST-2 dev sentence and the hard texts, words never seen in the
    training sample among them."""
    train = tmp_path / "train.tsv"
    train.write_text("\n".join(sst2_train.read_text(encoding="utf-8").splitlines()[:301]) + "\n", encoding="utf-8")
    (tmp_path / "r.toml").write_text('name = "vocab-only"\n[[step]]\nkind = "vocab"\n')
    ck = tmp_path / "ck"
    args = ["compress", str(hf_dir(arch)), "--recipe", str(tmp_path / "r.toml"), "--data", str(train)]
    r = CliRunner().invoke(cli, [*args, "--dev", str(dev_sample), "--out", str(ck), "--json"])
    assert r.exit_code == 0, r.output
    step = json.loads(r.stdout)["steps"][1]
    assert step["kind"] == "vocab" and step["report"]["vocab_after"] < 0.8 * step["report"]["vocab_before"]
    assets = tmp_path / "assets" / "ondevice"
    args = ["export", str(ck), "--target", "android", "--format", "onnx", "--quantize", "fp32", "--seq-len", "16,64"]
    r = CliRunner().invoke(
        cli, [*args, "--data", str(dev_sample), "--out", str(tmp_path / "b"), "--copy-to", str(assets)]
    )
    assert r.exit_code == 0, r.output
    assert Tokenizer.load(assets).vocab_size == step["report"]["vocab_after"]
    texts = sst2_texts(sst2_dev) + [t for t in hard_texts if t.strip()]
    records = java_classification_golden(assets, texts, tmp_path)
    assert len(records) == len(texts)
    assert junit(tmp_path, tmp_path / "build", "ClassifierParityTest") == 1


def test_android_takes_electra_whose_tokenizer_is_wordpiece(hf_dir, dev_sample, tmp_path):
    args = ["export", str(hf_dir("electra")), "--target", "android", "--format", "onnx", "--quantize", "fp32"]
    r = CliRunner().invoke(cli, [*args, "--seq-len", "16", "--data", str(dev_sample), "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("arch", ["roberta", "electra"])
@pytest.mark.parametrize("recipe", ["conservative", "lowrank"])
def test_shipped_recipes(hf_dir, compress_and_export, tmp_path, arch, recipe):
    """The conservative (pruning) and lowrank (SVD) recipes: their shapes, then a verified export.
    Accuracy means nothing on random weights."""
    config = compress_and_export(hf_dir(arch), recipe, tmp_path)
    assert config["architecture"] == arch and config["embedding_size"] == (32 if arch == "electra" else 0)
    layers = config["layers"]
    if recipe == "conservative":
        assert sum(x["num_heads"] for x in layers) == 7 and all(x["intermediate_size"] == 96 for x in layers)
    else:
        assert any(x["ranks"] for x in layers)


def test_electra_embedding_factorization(sentences, hf_dir):
    """Low-rank on ELECTRA's (vocab, 32) table, below its break-even rank; its projection stays a
    dense linear after it. A rank that saves nothing is refused with the table's shape."""
    from ondevice.compress import compress_
    from ondevice.compress.lowrank import LowRankConfig
    from ondevice.errors import ConfigError

    ckpt = load_model(str(hf_dir("electra")))
    ids, mask = (torch.tensor(x) for x in ckpt.tokenizer(sentences, max_length=24))
    with pytest.raises(ConfigError, match="saves nothing for a 30522x32 table"):
        compress_(ckpt.model, LowRankConfig(embedding_rank=32))
    report = compress_(ckpt.model, LowRankConfig(embedding_rank=16))
    assert report["embedding"]["rank"] == 16 and ckpt.config.embedding_rank == 16
    assert tuple(ckpt.model.embeddings.word.project.weight.shape) == (32, 16)
    assert tuple(ckpt.model.embeddings.project.weight.shape) == (64, 32)
    with torch.no_grad():
        assert ckpt.model(ids, mask).shape == (4, 2)
