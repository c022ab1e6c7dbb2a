"""What the architecture tests share: SST-2 text, a labelled dev sample, hard tokenizer cases, and the
checks every architecture goes through (logits and hidden states against transformers, tokenizer ids
against transformers, export in every format, a shipped recipe then a verified export).

The checks are fixtures that return functions, so that a test module reaches them without importing
this file.
"""

import copy
import io
import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.model import Tokenizer, load_model

TOL = 1e-4
VOCAB = 3000  # larger than 2,024: the converters trace with BERT's ids for "[CLS] this is [SEP]"
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
    "``quoted'' text",
    "",
    " leading and trailing ",
]


def _texts(path, n=None):
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return [r.split("\t", 1)[1] for r in rows[:n]]


@pytest.fixture(scope="session")
def sst2_texts():
    """``sst2_texts(path, n)``: the first ``n`` sentences (all by default) of an SST-2 TSV file."""
    return _texts


@pytest.fixture(scope="session")
def hard_texts():
    """Texts beyond SST-2's lower-cased English (accents, CJK, emoji, control characters, long words)."""
    return list(HARD)


@pytest.fixture(scope="session")
def sentences():
    """Four SST-2 sentences of different lengths, for the parity checks."""
    return list(SENTENCES)


@pytest.fixture(scope="session")
def sentencepiece_unigram(sst2_train, tmp_path_factory):
    """``sentencepiece_unigram(name, file, **options)``: a directory holding a SentencePiece Unigram
    model trained on SST-2 train text as ``file``, for transformers' slow-to-fast conversion."""

    def train(name: str, file: str, **options):
        import sentencepiece as spm

        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(_texts(sst2_train, 20000)),
            model_writer=model,
            vocab_size=VOCAB,
            model_type="unigram",
            minloglevel=2,
            **options,
        )
        src = tmp_path_factory.mktemp(name)
        (src / file).write_bytes(model.getvalue())
        return src

    return train


@pytest.fixture(scope="session")
def byte_level_bpe(sst2_train, tmp_path_factory):
    """``byte_level_bpe(name, tokenizer_class, specials, template=None, **tokens)``: a byte-level BPE
    trained on SST-2 train text with ``specials`` first in its vocabulary, saved by transformers'
    ``tokenizer_class`` with the special ``tokens``; ``template`` (cls, sep) sets a
    cls $A sep post-processor, where the class does not bring its own."""

    def train(name: str, tokenizer_class, specials: list[str], template: tuple[str, str] | None = None, **tokens):
        from tokenizers import ByteLevelBPETokenizer, processors

        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(_texts(sst2_train, 20000), vocab_size=VOCAB, min_frequency=2, special_tokens=specials)
        if template:
            cls, sep = template
            bpe._tokenizer.post_processor = processors.TemplateProcessing(
                single=f"{cls} $A {sep}", special_tokens=[(t, bpe.token_to_id(t)) for t in template]
            )
        out = tmp_path_factory.mktemp(name)
        tokenizer_class(tokenizer_object=bpe._tokenizer, **tokens).save_pretrained(out)
        return out

    return train


@pytest.fixture(scope="session")
def hf_checkpoints(tmp_path_factory):
    """``hf_checkpoints(tokenizer_dir, make_model)``: a function ``get(arch)`` that gives a checkpoint
    directory as transformers saves it, made once: ``make_model(arch, tokenizer)`` with the tokenizer
    files of ``tokenizer_dir(arch)``."""
    from transformers import AutoTokenizer

    def factory(tokenizer_dir, make_model):
        made = {}

        def get(arch: str):
            if arch not in made:
                tok_dir = tokenizer_dir(arch)
                out = tmp_path_factory.mktemp(arch)
                for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
                    if (tok_dir / name).is_file():
                        shutil.copyfile(tok_dir / name, out / name)
                make_model(arch, AutoTokenizer.from_pretrained(tok_dir)).eval().save_pretrained(out)
                made[arch] = out
            return made[arch]

        return get

    return factory


@pytest.fixture(scope="session")
def dev_sample(sst2_dev, tmp_path_factory):
    """64 labelled SST-2 dev sentences (labels 0/1, the tiny models' negative/positive)."""
    f = tmp_path_factory.mktemp("data") / "dev64.tsv"
    f.write_text("\n".join(sst2_dev.read_text().splitlines()[:65]) + "\n")
    return f


@pytest.fixture(scope="session")
def logits_parity():
    """``logits_parity(model_dir, texts, padded, label)``: the model imported by ondevice against
    transformers' own on ``texts``, right-padded to 32 tokens or all of the first text's length: max
    |Δlogit| and max |Δ| of the encoder's last hidden states over real tokens, each at most 1e-4.
    Returns the ondevice checkpoint."""

    def check(model_dir, texts, padded: bool, label: str):
        from transformers import AutoModelForSequenceClassification

        ours = load_model(str(model_dir))
        hf = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        assert ours.info["fresh_head"] == [] and ours.labels == ["negative", "positive"]
        if padded:  # right padding to a fixed length well past the longest sentence, as the artifacts take
            ids, mask = ours.tokenizer(texts, max_length=32, pad_to="max_length")
            assert not mask.all()
        else:
            ids, mask = ours.tokenizer(texts[:1] * len(texts), pad_to="longest")
            assert mask.all()
        ids, mask = torch.tensor(ids), torch.tensor(mask)
        with torch.no_grad():
            want = hf(input_ids=ids, attention_mask=mask).logits
            hidden = hf.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
            logits = ours.model(ids, mask)
            states = ours.model.encode(ids, mask)
        d_logits = (logits - want).abs().max().item()
        d_hidden = (states - hidden)[mask.bool()].abs().max().item()
        scale = want.abs().max().item()
        print(f"parity {label}: max|Δlogit| {d_logits:.2e} (max|logit| {scale:.2f}), hidden {d_hidden:.2e}")
        assert d_logits <= TOL and d_hidden <= TOL
        return ours

    return check


@pytest.fixture(scope="session")
def tokenizer_parity(sst2_dev):
    """``tokenizer_parity(model_dir, kind)``: ondevice's ids for every SST-2 dev sentence and the hard
    cases exactly transformers', untruncated, truncated to a short length (the final separator kept),
    and padded to a fixed length with its mask; returns the settings."""

    def check(model_dir, kind: str):
        from transformers import AutoTokenizer

        ours = Tokenizer.load(model_dir)
        hf = AutoTokenizer.from_pretrained(model_dir)
        s = ours.settings
        assert s.kind == kind
        assert (s.cls_id, s.sep_id, s.pad_id, s.unk_id) == (
            hf.cls_token_id,
            hf.sep_token_id,
            hf.pad_token_id,
            hf.unk_token_id,
        )
        texts = _texts(sst2_dev) + HARD
        want = hf(texts)["input_ids"]
        assert max(len(x) for x in want) < 1000
        assert ours.token_ids(texts, max_length=1000) == want
        assert ours.token_ids(texts, max_length=8) == hf(texts, truncation=True, max_length=8)["input_ids"]
        ids, mask = ours(texts, max_length=16)
        enc = hf(texts, truncation=True, max_length=16, padding="max_length")
        assert ids.tolist() == enc["input_ids"] and mask.tolist() == enc["attention_mask"]
        print(f"tokenizer {model_dir.name} ({s.kind}): {len(texts)} texts, {sum(map(len, want))} ids, all equal")
        return s

    return check


@pytest.fixture(scope="session")
def export_every_format(dev_sample):
    """``export_every_format(model_dir, out, kind, sentence)``: .pte, .tflite and .onnx, fp32 and
    int8-dynamic, each run in its runtime and compared with PyTorch on 64 sentences (fp32 within 1e-4);
    then the bundle runs ``sentence`` through `ondevice run`. Returns the manifest."""

    def check(model_dir, out, kind: str, sentence: str) -> dict:
        args = ["export", str(model_dir), "--target", "host", "--quantize", "fp32,int8-dynamic", "--seq-len", "16"]
        r = CliRunner().invoke(cli, [*args, "--data", str(dev_sample), "--out", str(out), "--json"])
        assert r.exit_code == 0, r.output
        m = json.loads(r.stdout)
        assert m["tokenizer"]["kind"] == kind and "tokenizer.json" in m["files"]
        assert {(a["format"], a["quantization"]) for a in m["artifacts"]} == {
            (f, q) for f in ("executorch", "tflite", "onnx") for q in ("fp32", "int8-dynamic")
        }
        for a in m["artifacts"]:
            v = a["verification"]
            print(
                f"export {model_dir.name} {a['file']}: {a['size_bytes']} bytes, "
                f"max|Δlogit| {v['max_abs_logit_diff']:.2e}, agreement {v['label_agreement']}"
            )
            assert v["passed"] and v["sentences"] == 64
            if a["quantization"] == "fp32":
                assert v["max_abs_logit_diff"] <= TOL
        r = CliRunner().invoke(cli, ["run", str(out), sentence, "--json"])
        assert r.exit_code == 0, r.output
        return m

    return check


@pytest.fixture(scope="session")
def compress_and_export(dev_sample):
    """``compress_and_export(model_dir, recipe, tmp_path)``: `ondevice compress --recipe` (fewer
    parameters and FLOPs after its first step), then a verified fp32 ONNX export of the result.
    Returns the compressed checkpoint's config.json."""

    def check(model_dir, recipe: str, tmp_path) -> dict:
        ck = tmp_path / "ck"
        args = ["compress", str(model_dir), "--recipe", recipe, "--data", str(dev_sample), "--dev", str(dev_sample)]
        r = CliRunner().invoke(cli, [*args, "--out", str(ck), "--json"])
        assert r.exit_code == 0, r.output
        steps = json.loads(r.stdout)["steps"]
        assert steps[1]["parameters"] < steps[0]["parameters"]
        assert steps[1]["flops"]["total"] < steps[0]["flops"]["total"]
        out = tmp_path / "bundle"
        args = ["export", str(ck), "--target", "host", "--format", "onnx", "--quantize", "fp32", "--seq-len", "16"]
        r = CliRunner().invoke(cli, [*args, "--data", str(dev_sample), "--out", str(out), "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["artifacts"][0]["verification"]["max_abs_logit_diff"] <= TOL
        return json.loads((ck / "config.json").read_text())

    return check


@pytest.fixture(scope="session")
def vocab_pruning(sst2_train, hard_texts):
    """``check(model_dir, kind)``: a vocab step pruned on 400 SST-2 training sentences and the hard texts.
    Every training text's new ids are remap[old] at full length, the logits are bit for bit the same, the
    word table loses exactly the dropped rows; a BPE keeps its byte alphabet (unseen text still decodes to
    itself), a Unigram its lowest score. Returns the step's report."""
    from ondevice.compress import compress_
    from ondevice.compress.vocab import VocabConfig
    from ondevice.data import Dataset, Example

    def pieces(c) -> dict[str, int]:
        return c.tokenizer.backend.get_vocab(with_added_tokens=True)

    def tj(c) -> dict:
        return json.loads(c.tokenizer.backend.to_str())["model"]

    def check(model_dir, kind: str) -> dict:
        ckpt = load_model(str(model_dir))
        texts = _texts(sst2_train, 400) + [t for t in hard_texts if t.strip()]
        data = Dataset([Example(t, i % 2) for i, t in enumerate(texts)], ckpt.labels)
        before = copy.deepcopy(ckpt)
        word = ckpt.model.embeddings.word
        width = (word.table if hasattr(word, "table") else word).weight.shape[1]
        report = compress_(ckpt.model, VocabConfig(), student=ckpt, train=data)
        old_pieces, new_pieces = pieces(before), pieces(ckpt)
        remap = {i: new_pieces[t] for t, i in old_pieces.items() if t in new_pieces}
        old, new = before.tokenizer.token_ids(texts, 10**9), ckpt.tokenizer.token_ids(texts, 10**9)
        assert all(n == [remap[i] for i in o] for o, n in zip(old, new, strict=True))
        assert sorted(remap) == sorted(remap, key=remap.get)  # the old order kept
        with torch.no_grad():
            for s in range(0, len(texts), 128):
                a, b = (c.tokenizer(texts[s : s + 128], max_length=128, pad_to="longest") for c in (before, ckpt))
                assert torch.equal(before.model(*map(torch.as_tensor, a)), ckpt.model(*map(torch.as_tensor, b)))
        n = ckpt.tokenizer.vocab_size
        assert n == report["vocab_after"] == ckpt.config.vocab_size == len(new_pieces) < 0.85 * len(old_pieces)
        dropped = sum(p.numel() for p in before.model.parameters()) - sum(p.numel() for p in ckpt.model.parameters())
        assert dropped == (len(old_pieces) - n) * width
        assert ckpt.tokenizer.settings.kind == kind
        if kind == "BPE":
            from tokenizers.pre_tokenizers import ByteLevel

            assert set(ByteLevel.alphabet()) <= set(new_pieces) and report["merge_ancestors"] > 0
            assert 0 < len(tj(ckpt)["merges"]) < len(tj(before)["merges"])
            unseen = _texts(sst2_train)[-2000:]  # text the sample never saw: spelled out, no character lost
            decode = [c.tokenizer.backend.decode_batch(c.tokenizer.token_ids(unseen, 10**9)) for c in (before, ckpt)]
            assert decode[0] == decode[1]
        else:
            scores = [[score for _, score in tj(c)["vocab"]] for c in (before, ckpt)]
            unk = new_pieces[ckpt.tokenizer.settings.unk_token]
            assert min(scores[0]) == min(scores[1]) and tj(ckpt)["unk_id"] == unk
        print(f"vocab {model_dir.name}: {len(old_pieces)} -> {n} pieces, {report}")
        return report

    return check
