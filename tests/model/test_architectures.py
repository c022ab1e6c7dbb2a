"""RoBERTa (and DistilRoBERTa), XLM-RoBERTa, CamemBERT and ELECTRA in the one encoder; byte-level BPE
and Unigram tokenizers; export in every format; the shipped recipes; the Android app's core on their bundles.

Small random-weight models that `transformers` builds offline, with tokenizers trained here on SST-2
text: byte-level BPE with `tokenizers` (wrapped as transformers' RoBERTa tokenizer and saved by it), and
a SentencePiece Unigram model that transformers converts as it converts XLM-RoBERTa's and CamemBERT's,
keeping SentencePiece's Precompiled normalizer. ELECTRA keeps a WordPiece vocabulary (MiniLM's), as
ELECTRA checkpoints do. Run with ``-s`` to see the parity figures.
"""

import io
import json
import shutil
from collections import Counter

import pytest
import torch
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.errors import CheckpointError
from ondevice.model import Tokenizer, load_model, save_checkpoint
from ondevice.model.checkpoint import load_checkpoint
from ondevice.model.config import EncoderConfig
from ondevice.model.hf import IMPORTERS

TOL = 1e-4
# Larger than 2,024: the converters trace with BERT's ids for "[CLS] this is [SEP]" (101, 2023, 2003, 102).
VOCAB = 3000
LABELS = {0: "negative", 1: "positive"}
ARCHS = ("roberta", "distilroberta", "xlm-roberta", "camembert", "electra")
KIND = {"roberta": "BPE", "distilroberta": "BPE", "xlm-roberta": "Unigram", "camembert": "Unigram"}
SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "the plot is nothing but boilerplate clichés",
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
]
# Beyond SST-2's lower-cased English: what normalizers and byte-level BPE must agree on.
HARD = [
    "Crème brûlée, naïve café — déjà vu",
    "東京は今日も雨です。北京欢迎你",
    "great movie 👍🏽🎬 ... not 😡",
    "e\u0301 a\u0308 n\u0303 (combining marks)",
    "שלום עולם مرحبا بالعالم",
    "tabs\tand\u000bcontrol\u0007chars\u200b here",
    "many     spaces \n\n and   newlines   ",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 4,
    "ＦＵＬＬ ｗｉｄｔｈ ﬁne ligatures ①②",
    "",
    " leading and trailing ",
]


def _sst2_texts(path, n=None):
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return [r.split("\t", 1)[1] for r in rows[:n]]


@pytest.fixture(scope="session")
def bpe_dir(sst2_train, tmp_path_factory):
    """A byte-level BPE trained on SST-2 train text, saved by transformers' RoBERTa tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(_sst2_texts(sst2_train, 20000), vocab_size=VOCAB, min_frequency=2, special_tokens=specials)
    tok = RobertaTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
    )
    out = tmp_path_factory.mktemp("bpe")
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def unigram_dirs(sst2_train, tmp_path_factory):
    """A SentencePiece Unigram model trained on SST-2 train text, converted by transformers'
    XLM-RoBERTa and CamemBERT tokenizers (each adds its own special tokens)."""
    import sentencepiece as spm
    from transformers import CamembertTokenizer, XLMRobertaTokenizer

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_sst2_texts(sst2_train, 20000)),
        model_writer=model,
        vocab_size=VOCAB,
        model_type="unigram",
        minloglevel=2,
    )
    src = tmp_path_factory.mktemp("spm")
    (src / "sentencepiece.bpe.model").write_bytes(model.getvalue())
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
def hf_dir(bpe_dir, unigram_dirs, minilm_dir, tmp_path_factory):
    """``hf_dir(arch)``: a checkpoint directory as transformers saves it, with its tokenizer files."""
    from transformers import AutoTokenizer

    made = {}

    def get(arch: str):
        if arch not in made:
            tok_dir = {"roberta": bpe_dir, "distilroberta": bpe_dir, "electra": minilm_dir, **unigram_dirs}[arch]
            out = tmp_path_factory.mktemp(arch)
            for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
                if (tok_dir / name).is_file():
                    shutil.copyfile(tok_dir / name, out / name)
            _hf_model(arch, AutoTokenizer.from_pretrained(tok_dir)).eval().save_pretrained(out)
            made[arch] = out
        return made[arch]

    return get


@pytest.fixture(scope="session")
def dev_sample(sst2_dev, tmp_path_factory):
    """64 labelled SST-2 dev sentences (labels 0/1, the tiny models' negative/positive)."""
    f = tmp_path_factory.mktemp("data") / "dev64.tsv"
    f.write_text("\n".join(sst2_dev.read_text().splitlines()[:65]) + "\n")
    return f


# -- the encoder against transformers ------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("padded", [False, True])
def test_logits_match_transformers(hf_dir, arch, batch, padded):
    from transformers import AutoModelForSequenceClassification

    d = hf_dir(arch)
    ours = load_model(str(d))
    hf = AutoModelForSequenceClassification.from_pretrained(d).eval()
    assert ours.info["fresh_head"] == [] and ours.labels == ["negative", "positive"]
    assert ours.config.architecture == ("roberta" if arch == "distilroberta" else arch)
    texts = SENTENCES[:batch]
    if padded:  # right padding to a fixed length well past the longest sentence, as the artifacts take
        ids, mask = ours.tokenizer(texts, max_length=32, pad_to="max_length")
        assert not mask.all()
    else:
        ids, mask = ours.tokenizer(texts[:1] * batch, pad_to="longest")
        assert mask.all()
    ids, mask = torch.tensor(ids), torch.tensor(mask)
    with torch.no_grad():
        out = hf(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        logits = ours.model(ids, mask)
        hidden = ours.model.encode(ids, mask)
    d_logits = (logits - out.logits).abs().max().item()
    d_hidden = (hidden - out.hidden_states[-1])[mask.bool()].abs().max().item()  # real tokens only
    print(f"parity {arch:<13} batch {batch} padded {padded!s:<5}: max|Δlogit| {d_logits:.2e}, hidden {d_hidden:.2e}")
    assert d_logits <= TOL and d_hidden <= TOL


def test_variant_fields_come_from_the_checkpoint(hf_dir):
    roberta = load_model(str(hf_dir("roberta"))).config
    assert (roberta.position_offset, roberta.type_vocab_size, roberta.embedding_size) == (2, 1, 0)
    assert roberta.max_length == 128 and roberta.head_activation == "tanh"  # 130 rows, the first two unused
    assert load_model(str(hf_dir("distilroberta"))).config.num_layers == 6
    electra = load_model(str(hf_dir("electra"))).config
    assert (electra.embedding_size, electra.embedding_dim, electra.hidden_size) == (32, 32, 64)
    assert electra.position_offset == 0 and electra.head_activation == "gelu"


@pytest.mark.parametrize("arch", ["camembert", "electra"])
def test_checkpoint_round_trip(hf_dir, tmp_path, arch):
    """Saved as an ondevice checkpoint and loaded back: the same config, tokenizer kind and logits."""
    ckpt = load_model(str(hf_dir(arch)))
    save_checkpoint(ckpt, tmp_path / "ck")
    back = load_checkpoint(tmp_path / "ck")
    assert back.config == ckpt.config
    settings = json.loads((tmp_path / "ck" / "tokenizer_settings.json").read_text())
    assert settings["kind"] == KIND.get(arch, "WordPiece") == back.tokenizer.settings.kind
    ids, mask = ckpt.tokenizer(SENTENCES, max_length=24)
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
    assert set(named) == set(IMPORTERS) == {"bert", "distilbert", "roberta", "xlm-roberta", "camembert", "electra"}


# -- tokenizers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["roberta", "xlm-roberta", "camembert"])
def test_tokenizer_ids_match_transformers(hf_dir, sst2_dev, arch):
    """Every SST-2 dev sentence and the hard cases: exactly transformers' ids, untruncated, truncated
    to a short length (the final </s> kept), and padded to a fixed length with its mask."""
    from transformers import AutoTokenizer

    d = hf_dir(arch)
    ours = Tokenizer.load(d)
    hf = AutoTokenizer.from_pretrained(d)
    s = ours.settings
    assert s.kind == KIND[arch]
    assert (s.cls_id, s.sep_id, s.pad_id, s.unk_id) == (
        hf.cls_token_id,
        hf.sep_token_id,
        hf.pad_token_id,
        hf.unk_token_id,
    )
    texts = _sst2_texts(sst2_dev) + HARD
    want = hf(texts)["input_ids"]
    assert max(len(x) for x in want) < 1000
    assert ours.token_ids(texts, max_length=1000) == want
    assert ours.token_ids(texts, max_length=8) == hf(texts, truncation=True, max_length=8)["input_ids"]
    ids, mask = ours(texts, max_length=16)
    enc = hf(texts, truncation=True, max_length=16, padding="max_length")
    assert ids.tolist() == enc["input_ids"] and mask.tolist() == enc["attention_mask"]
    print(f"tokenizer {arch} ({s.kind}): {len(texts)} texts, {sum(map(len, want))} ids, all equal")


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
def test_export_every_format_fp32_and_int8(hf_dir, dev_sample, tmp_path, arch):
    """.pte, .tflite and .onnx, fp32 and int8-dynamic, each run in its runtime and compared with PyTorch;
    then the bundle runs through `ondevice run` with its own tokenizer."""
    out = tmp_path / "bundle"
    args = ["export", str(hf_dir(arch)), "--target", "host", "--quantize", "fp32,int8-dynamic", "--seq-len", "16"]
    r = CliRunner().invoke(cli, [*args, "--data", str(dev_sample), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["tokenizer"]["kind"] == KIND.get(arch, "WordPiece") and "tokenizer.json" in m["files"]
    assert {(a["format"], a["quantization"]) for a in m["artifacts"]} == {
        (f, q) for f in ("executorch", "tflite", "onnx") for q in ("fp32", "int8-dynamic")
    }
    for a in m["artifacts"]:
        v = a["verification"]
        print(f"export {arch} {a['file']}: max|Δlogit| {v['max_abs_logit_diff']:.2e}, agreement {v['label_agreement']}")
        assert v["passed"] and v["sentences"] == 64
        if a["quantization"] == "fp32":
            assert v["max_abs_logit_diff"] <= 1e-4
    r = CliRunner().invoke(cli, ["run", str(out), SENTENCES[0], "--json"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("arch", ["roberta", "xlm-roberta"])
def test_android_bundle_classifies_in_the_app_core_as_in_python(
    hf_dir, sst2_dev, dev_sample, tmp_path, arch, junit, java_classification_golden
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
    texts = _sst2_texts(sst2_dev)
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


def test_android_takes_electra_whose_tokenizer_is_wordpiece(hf_dir, dev_sample, tmp_path):
    args = ["export", str(hf_dir("electra")), "--target", "android", "--format", "onnx", "--quantize", "fp32"]
    r = CliRunner().invoke(cli, [*args, "--seq-len", "16", "--data", str(dev_sample), "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("arch", ["roberta", "electra"])
@pytest.mark.parametrize("recipe", ["conservative", "lowrank"])
def test_shipped_recipes(hf_dir, dev_sample, tmp_path, arch, recipe):
    """The conservative (pruning) and lowrank (SVD) recipes: their shapes, then a verified export.
    Accuracy means nothing on random weights."""
    ck = tmp_path / "ck"
    args = ["compress", str(hf_dir(arch)), "--recipe", recipe, "--data", str(dev_sample), "--dev", str(dev_sample)]
    r = CliRunner().invoke(cli, [*args, "--out", str(ck), "--json"])
    assert r.exit_code == 0, r.output
    steps = json.loads(r.stdout)["steps"]
    assert steps[1]["parameters"] < steps[0]["parameters"] and steps[1]["flops"]["total"] < steps[0]["flops"]["total"]
    config = json.loads((ck / "config.json").read_text())
    assert config["architecture"] == arch and config["embedding_size"] == (32 if arch == "electra" else 0)
    layers = config["layers"]
    if recipe == "conservative":
        assert sum(x["num_heads"] for x in layers) == 7 and all(x["intermediate_size"] == 96 for x in layers)
    else:
        assert any(x["ranks"] for x in layers)
    out = tmp_path / "bundle"
    args = ["export", str(ck), "--target", "host", "--format", "onnx", "--quantize", "fp32", "--seq-len", "16"]
    r = CliRunner().invoke(cli, [*args, "--data", str(dev_sample), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["artifacts"][0]["verification"]["max_abs_logit_diff"] <= 1e-4


def test_electra_embedding_factorization(hf_dir):
    """Low-rank on ELECTRA's (vocab, 32) table, below its break-even rank; its projection stays a
    dense linear after it. A rank that saves nothing is refused with the table's shape."""
    from ondevice.compress import compress_
    from ondevice.compress.lowrank import LowRankConfig
    from ondevice.errors import ConfigError

    ckpt = load_model(str(hf_dir("electra")))
    ids, mask = (torch.tensor(x) for x in ckpt.tokenizer(SENTENCES, max_length=24))
    with pytest.raises(ConfigError, match="saves nothing for a 30522x32 table"):
        compress_(ckpt.model, LowRankConfig(embedding_rank=32))
    report = compress_(ckpt.model, LowRankConfig(embedding_rank=16))
    assert report["embedding"]["rank"] == 16 and ckpt.config.embedding_rank == 16
    assert tuple(ckpt.model.embeddings.word.project.weight.shape) == (32, 16)
    assert tuple(ckpt.model.embeddings.project.weight.shape) == (64, 32)
    with torch.no_grad():
        assert ckpt.model(ids, mask).shape == (4, 2)
