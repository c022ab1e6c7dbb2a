"""The app's byte-level BPE and SentencePiece Unigram tokenizers (android_demo/core) against `tokenizers`.

Python trains the tokenizers on SST-2 train text in this run: byte-level BPE with `tokenizers` and loaded the way
`transformers` loads RoBERTa's vocab.json + merges.txt (RobertaProcessing), Unigram with `sentencepiece` and
converted the way `transformers` converts XLM-RoBERTa's model (the real Precompiled normalizer), plus variants in the
shapes other checkpoints ship (a prefix space, list-form merges, the older XLM-R pipeline with Replace, ALBERT-like
normalizers). android_demo/core/tokenize.sh must give exactly the Python ids, untruncated and at fixed lengths
(truncation keeps the separator last, padding, mask, token types), on every SST-2 dev sentence, generated hard cases,
sentences in many scripts, and every code point of the assigned planes. `tokenize.sh --pair` must give the pair
encoding of `tokenizers` (each post-processor's special tokens and token types, longest-first truncation, the length
chosen for the untruncated pair) for those kinds and WordPiece, on pairs of SST-2 dev sentences and hard cases.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ondevice.system import TOOLS

ROOT = Path(__file__).resolve().parents[2]
TOKENIZE = ROOT / "android_demo" / "core" / "tokenize.sh"
LENGTHS = [16, 128]


def _missing_java_tools() -> list[str]:
    java = {"default-jdk-headless"}
    return [f"{t.name} (Debian package {t.package})" for t in TOOLS if t.package in java and t.location() is None]


pytestmark = pytest.mark.skipif(
    bool(_missing_java_tools()), reason=f"Java tests need {', '.join(_missing_java_tools())}: run `ondevice setup`"
)

# One sentence per script (and a few mixed), carried by the test so that no download is needed.
SCRIPTS = {
    "latin": "Le cinéma français reste étonnamment vivant, même après cent ans.",
    "greek": "Η ταινία ήταν υπέροχη και οι ηθοποιοί εξαιρετικοί.",
    "cyrillic": "Фильм оказался скучным, но музыка была прекрасной.",
    "armenian": "Ֆիլմը շատ հետաքրքիր էր և հուզիչ։",
    "georgian": "ფილმი ძალიან საინტერესო იყო.",
    "hebrew": "הסרט היה מרגש מאוד, והמשחק היה נפלא.",
    "arabic": "كان الفيلم رائعاً والتمثيل ممتازاً جداً.",
    "persian": "این فیلم واقعاً دیدنی بود و بازیگران عالی بودند.",
    "devanagari": "यह फ़िल्म बहुत अच्छी थी और संगीत मधुर था।",
    "bengali": "ছবিটি অসাধারণ ছিল এবং গানগুলো সুন্দর।",
    "tamil": "இந்தப் படம் மிகவும் நன்றாக இருந்தது.",
    "thai": "ภาพยนตร์เรื่องนี้สนุกมากและนักแสดงเก่ง",
    "lao": "ຮູບເງົາເລື່ອງນີ້ດີຫຼາຍ",
    "khmer": "ខ្សែភាពយន្តនេះល្អណាស់",
    "myanmar": "ဒီရုပ်ရှင်က အရမ်းကောင်းတယ်။",
    "ethiopic": "ፊልሙ በጣም ጥሩ ነበር።",
    "chinese": "这部电影非常精彩，演员的表演也很出色。",
    "japanese": "この映画はとても面白かったです。カタカナもひらがなも漢字も。",
    "korean": "이 영화는 정말 재미있었고 배우들의 연기도 훌륭했다.",
    "hangul_jamo": "\u1112\u1161\u11ab\u1100\u1173\u11af \u1100\u1161",
    "tibetan": "གློག་བརྙན་འདི་ཧ་ཅང་ཡག་པོ་འདུག",
    "mongolian": "ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ",
    "cherokee": "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ",
    "emoji": "great movie 😀👍🏽 👨‍👩‍👧 🇫🇷🇩🇪 ❤️ 1️⃣",
    "math": "𝐀𝐁𝐂 ∑ ∫ √2 ≈ 1.414 ℝ ℵ₀ x² ½ ⅔",
}


def hard_cases() -> list[str]:
    """Texts that exercise every step: normalization, the split pattern, merges, Viterbi, unknowns, truncation."""
    cases = [
        "",
        " ",
        "  ",
        "   \t\n\r  ",
        "\u3000\u00a0\u2003 \u2009x\u202f",
        "Café naïve résumé coöperate façade Ångström ÉCOLE",
        "İstanbul ΣΊΣΥΦΟΣ straße ǅemal ﬁne ﬂ Ⅻ ℌ ㎏ ｶﾀｶﾅ",
        "ａｂｃ full-width ＡＢＣ １２３ ！？",
        "中文字符测试，你好！日本語のテキスト。한국어 텍스트",
        "𠀀𠀁 rare ideographs 𪜀 and 丽",
        "emoji 😀😂👍🏽 👨‍👩‍👧 🥰 🇫🇷 ❤️ #️⃣",
        "control\x00chars\x01in\x07the\x1btext\x7f and \u200bzero\u200dwidth\ufeff\ufffd",
        "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeeds\x85next\u2028line",
        "punctuation!!!??? ... --- (brackets) [square] {curly} <angle> @#$%^&*_+=|\\/~`'\"",
        "unicode punctuation «quotes» „low“ ‘single’ — dash – en … ellipsis ¿¡ § ¶ · ‽ ⁂",
        "numbers 3.14159 1,000,000 2nd 42% $5 €10 ½ ١٢٣ ४२",
        "it's they're we've I'm you'll he'd don't 'S 'T ''quoted'' ``latex''",
        "a" * 99,
        "a" * 500,
        "supercalifragilisticexpialidocious " * 3,
        "x" * 500 + " short words after a very long one",
        "unaffable unbelievable antidisestablishmentarianism pseudopseudohypoparathyroidism",
        "the <s> and </s> tokens <mask> <pad> <unk> written in text",
        "<S> upper-cased </S > are not special",
        "special<mask>inside</s>words <s><s></s>",
        "   <mask>   spaces around   <s>",
        "combining: e\u0301 a\u0308 n\u0303 o\u0302\u0323 and alone \u0301\u0302 ﬁ\u0301 Ａ\u0301 \u0301x",
        "marks: a\u0301\u0302\u0303\u0304 e\u20dd क\u094d\u0937 \u0915\u093f \u0600\u0661 \ufe0f\u20e3",
        "Ελληνικά Русский текст עברית العربية हिन्दी ไทย",
        "right-to-left: \u202bשלום\u202c \u200fمرحبا\u200e mixed עברית and English",
        "mixed: 東京Tower's 3rd-floor café (ñandú) — 'quoted'!",
        "only punctuation: .,;:!?",
        "\U0010ffff\U000e0001 plane 14 and 16 \U000e0100",
        "a gorgeous , witty , seductive movie .",
        " ".join(["long"] * 200),
        "it 's a charming and often affecting journey . " * 40,
        "trailing spaces   ",
        "   leading spaces",
        "many     inner      spaces",
        "\u2581already\u2581has\u2581metaspace ▁ ▁▁",
    ]
    cases += list(SCRIPTS.values())
    cases.append(" ".join(SCRIPTS.values()))
    rng = np.random.default_rng(19)
    alphabet = (
        "abcdeéèàüßçñøåæœ ABC 中文日本語。，！？.,!?'\"-()[]😀👍\t\n\u0301\u0308\u00a0\u200b\u3000#@&0123456789"
        "ﬁＡ\u094d\u0915ก\u0e31\u05d0\u0627\u064b\u1100\u1161\u11a8\U0001f1eb\U0001f1f7\u200d\ufe0f<>/smask"
    )
    for _ in range(400):  # random mixtures of the hard parts
        n = int(rng.integers(0, 120))
        cases.append("".join(alphabet[i] for i in rng.integers(0, len(alphabet), n)))
    return cases


# NFKD in the app is java.text.Normalizer, whose Unicode tables are newer than those of `tokenizers`: this character
# (Unicode 12) decomposes on the JVM but not in `tokenizers` 0.23. Only the NFKD variant leaves it out.
NEWER_NFKD = {0x1F16C}


def code_point_texts(leave_out: frozenset[int] = frozenset()) -> list[str]:
    """Every code point of the planes with assigned characters (0-3, 14), a sample of the others, as words."""
    points = [c for p in (0, 1, 2, 3, 14) for c in range(p << 16, (p + 1) << 16) if not 0xD800 <= c <= 0xDFFF]
    points = [c for c in points if c not in leave_out]
    points += list(range(0x40000, 0xE0000, 97)) + list(range(0xF0000, 0x110000, 31))
    texts = []
    for i in range(0, len(points), 256):
        # Each character alone, after a letter and between letters, where it can join, split or vanish.
        texts.append(" ".join(f"{chr(c)} x{chr(c)}y a{chr(c)}" for c in points[i : i + 256]))
    return texts


# ---- the tokenizers, trained here ----


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sst2_train) -> dict[str, Path]:
    """tokenizer.json files: byte-level BPE as RoBERTa ships it, Unigram as XLM-R's conversion makes it, variants."""
    import sentencepiece as spm
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast, XLMRobertaTokenizerFast

    out = tmp_path_factory.mktemp("java-tokenizers")
    lines = [line.split("\t", 1)[1] for line in sst2_train.read_text(encoding="utf-8").splitlines()[1:] if "\t" in line]
    corpus = out / "train.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")

    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train([str(corpus)], vocab_size=3000, min_frequency=2, special_tokens=specials, show_progress=False)
    (out / "bpe-src").mkdir()
    bpe.save_model(str(out / "bpe-src"))
    RobertaTokenizerFast.from_pretrained(str(out / "bpe-src")).save_pretrained(str(out / "roberta"))

    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(out / "spm"),
        vocab_size=3000,
        model_type="unigram",
        character_coverage=0.9995,
        minloglevel=2,
    )
    (out / "xlmr-src").mkdir()
    shutil.copyfile(out / "spm.model", out / "xlmr-src" / "sentencepiece.bpe.model")
    XLMRobertaTokenizerFast.from_pretrained(str(out / "xlmr-src")).save_pretrained(str(out / "xlmr"))

    files = {"roberta": out / "roberta" / "tokenizer.json", "xlmr": out / "xlmr" / "tokenizer.json"}
    files.update(_variants(out, files))
    return files


def _variants(out: Path, files: dict[str, Path]) -> dict[str, Path]:
    """The other shapes real checkpoints' tokenizer.json files take, made from the two trained ones."""
    variants = {}

    def write(name: str, tj: dict) -> None:
        path = out / f"{name}.json"
        path.write_text(json.dumps(tj), encoding="utf-8")
        variants[name] = path

    roberta = json.loads(files["roberta"].read_text(encoding="utf-8"))
    # A prefix space, merges as [a, b] pairs, a <mask> that takes the spaces before it (roberta-base's).
    tj = json.loads(json.dumps(roberta))
    tj["pre_tokenizer"]["add_prefix_space"] = True
    tj["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m for m in tj["model"]["merges"]]
    for t in tj["added_tokens"]:
        if t["content"] == "<mask>":
            t["lstrip"] = True
    write("roberta_prefix_space", tj)
    # ModernBERT's shape: a [CLS] text [SEP] template, merges ignored for words in the vocabulary, NFC.
    tj = json.loads(json.dumps(roberta))
    tj["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": "<s>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": "</s>", "type_id": 0}},
        ],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {
            "<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
            "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]},
        },
    }
    tj["model"]["ignore_merges"] = True
    tj["normalizer"] = {"type": "NFC"}
    write("bpe_template_nfc", tj)

    xlmr = json.loads(files["xlmr"].read_text(encoding="utf-8"))
    # The older conversion of XLM-R: Precompiled then Replace(" {2,}", " "), Metaspace alone.
    tj = json.loads(json.dumps(xlmr))
    tj["normalizer"] = {
        "type": "Sequence",
        "normalizers": [
            tj["normalizer"],
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        ],
    }
    tj["pre_tokenizer"] = tj["pre_tokenizer"]["pretokenizers"][1]
    write("xlmr_replace", tj)
    # ALBERT's shape: `` and '' replaced, NFKD, accents stripped, lower-cased, Precompiled, spaces squeezed, stripped.
    tj = json.loads(json.dumps(xlmr))
    precompiled = tj["normalizer"]
    tj["normalizer"] = {
        "type": "Sequence",
        "normalizers": [
            {"type": "Replace", "pattern": {"String": "``"}, "content": '"'},
            {"type": "Replace", "pattern": {"String": "''"}, "content": '"'},
            {"type": "NFKD"},
            {"type": "StripAccents"},
            {"type": "Lowercase"},
            precompiled,
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "Strip", "strip_left": True, "strip_right": True},
        ],
    }
    write("albert_like", tj)
    return variants


# ---- running both sides ----


def _java(tokenizer: Path, texts: list[str], *args: str) -> list[dict]:
    stdin = "".join(json.dumps(t) + "\n" for t in texts)
    done = subprocess.run(
        ["sh", str(TOKENIZE), "--json", *args, str(tokenizer)],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == len(texts)
    return rows


def _python(tokenizer: Path, texts: list[str]) -> list[list[int]]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    tok.no_truncation()
    tok.no_padding()
    return [enc.ids for enc in tok.encode_batch(texts)]


def _fit(ids: list[int], n: int, pad: int, sep: int) -> tuple[list[int], list[int]]:
    """As ondevice.model.Tokenizer: ids[:n-1] + [sep] when too long, then padded."""
    if len(ids) > n:
        ids = ids[: n - 1] + [sep]
    return ids + [pad] * (n - len(ids)), [1] * len(ids) + [0] * (n - len(ids))


def _compare(tokenizer: Path, texts: list[str]) -> dict[str, int]:
    """Every text's untruncated ids, and ids, mask, token types at each of LENGTHS; returns counts."""
    expected = _python(tokenizer, texts)
    full = _java(tokenizer, texts, "--full")
    bad = [(t, e, r["ids"]) for t, e, r in zip(texts, expected, full, strict=True) if r["ids"] != e]
    shown = "\n".join(f"{t[:80]!r}\n  python {e[:40]}\n  java   {j[:40]}" for t, e, j in bad[:8])
    assert not bad, f"{tokenizer.name}: {len(bad)} of {len(texts)} texts differ:\n{shown}"
    tj = json.loads(tokenizer.read_text(encoding="utf-8"))
    pad = next(t["id"] for t in tj["added_tokens"] if t["content"] == "<pad>")
    truncated = 0
    for n in LENGTHS:
        rows = _java(tokenizer, texts, "--max-length", str(n))
        for text, ids, row in zip(texts, expected, rows, strict=True):
            want_ids, want_mask = _fit(ids, n, pad, ids[-1])
            got = (row["input_ids"], row["attention_mask"], row["token_type_ids"], row["seq_len"], row["tokens"])
            assert got == (want_ids, want_mask, [0] * n, n, len(ids)), f"{tokenizer.name} at {n}: {text[:80]!r}"
            truncated += len(ids) > n
    return {"texts": len(texts), "truncated": truncated, "tokens": sum(len(e) for e in expected)}


@pytest.fixture(scope="module")
def texts(sst2_dev) -> dict[str, list[str]]:
    dev = [line.split("\t", 1)[1] for line in sst2_dev.read_text(encoding="utf-8").splitlines()[1:] if "\t" in line]
    assert len(dev) == 872
    return {"sst2_dev": dev, "hard": hard_cases(), "code_points": code_point_texts()}


KINDS = ["roberta", "roberta_prefix_space", "bpe_template_nfc", "xlmr", "xlmr_replace", "albert_like"]


@pytest.mark.parametrize("kind", KINDS)
def test_java_ids_equal_python(trained, texts, kind):
    """Exact ids, untruncated and at 16 and 128 tokens, on SST-2 dev, hard cases, scripts and every code point."""
    groups = dict(texts)
    if kind == "albert_like":
        groups["code_points"] = code_point_texts(frozenset(NEWER_NFKD))
    counts = {name: _compare(trained[kind], group) for name, group in groups.items()}
    print(f"\n{kind}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    assert counts["sst2_dev"]["texts"] == 872
    assert counts["hard"]["truncated"] > 0


# ---- sentence pairs ----

PAIR_LENGTHS = [16, 128]
PAIR_KINDS = [*KINDS, "wordpiece"]


def pairs(texts: dict[str, list[str]]) -> dict[str, list[tuple[str, str]]]:
    """Consecutive SST-2 dev sentences; hard cases with each other; and each with a text far longer than the
    lengths, on either side, so that longest-first cuts only the longer text or both. No empty second text."""
    dev, hard = texts["sst2_dev"], hard_cases()
    long_text = "it 's a charming and often affecting journey . " * 40
    out = {"sst2_dev": list(zip(dev, dev[1:], strict=False))}
    out["hard"] = [(a, b) for a, b in zip(hard, hard[1:] + hard[:1], strict=True) if b]
    out["long"] = [(long_text, t) for t in hard if t] + [(t, long_text) for t in hard]
    return out


def _python_pairs(tokenizer: Path, items: list[tuple[str, str]], lengths: list[int]) -> list[dict]:
    """As the Python side defines pair encoding: the untruncated pair's tokens choose the length, then
    tokenizers' longest-first truncation to it and padding with the pad id."""
    from tokenizers import Tokenizer

    from ondevice.converters.inputs import pick_length

    tok = Tokenizer.from_file(str(tokenizer))
    tok.no_truncation()
    tok.no_padding()
    tokens = [len(e.ids) for e in tok.encode_batch(items)]
    pad = _pad_id(tokenizer)
    out = []
    for (a, b), n in zip(items, tokens, strict=True):
        length = pick_length(lengths, n)
        tok.enable_truncation(max_length=length, strategy="longest_first")
        tok.enable_padding(length=length, pad_id=pad)
        e = tok.encode(a, b)
        row = {"input_ids": e.ids, "attention_mask": e.attention_mask, "token_type_ids": e.type_ids}
        out.append({**row, "seq_len": length, "tokens": n})
    return out


def _pad_id(tokenizer: Path) -> int:
    tj = json.loads(tokenizer.read_text(encoding="utf-8"))
    return next(t["id"] for t in tj["added_tokens"] if t["content"] in ("<pad>", "[PAD]"))


def _java_pairs(tokenizer: Path, items: list[tuple[str, str]], lengths: list[int]) -> list[dict]:
    stdin = "".join(json.dumps([a, b]) + "\n" for a, b in items)
    args = ["sh", str(TOKENIZE), "--json", "--pair", "--max-length", ",".join(map(str, lengths)), str(tokenizer)]
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def _cuts(tokenizer: Path, items: list[tuple[str, str]], length: int) -> dict[str, int]:
    """How many pairs longest-first leaves alone, cuts in the longer text only, or cuts in both."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    tok.no_truncation()
    tok.no_padding()
    budget = length - tok.post_processor.num_special_tokens_to_add(True)
    counts = {"none": 0, "longer": 0, "both": 0}
    for a, b in items:
        n1, n2 = (len(tok.encode(t, add_special_tokens=False).ids) for t in (a, b))
        # The shorter text is left whole when it takes at most half of what the special tokens leave.
        counts["none" if n1 + n2 <= budget else "longer" if 2 * min(n1, n2) <= budget else "both"] += 1
    return counts


@pytest.fixture(scope="module")
def pair_tokenizers(trained, minilm_dir) -> dict[str, Path]:
    """The trained kinds and WordPiece: MiniLM's tokenizer.json, BERT's pair template with types 0 and 1."""
    return {**trained, "wordpiece": minilm_dir / "tokenizer.json"}


@pytest.mark.parametrize("kind", PAIR_KINDS)
def test_java_pairs_equal_python(pair_tokenizers, texts, kind):
    """Ids, mask, token types, chosen length and token count of every pair, at the lengths 16 and 128 to choose
    from and at 16 alone, where longest-first cuts the longer text only or both."""
    tokenizer = pair_tokenizers[kind]
    counts = {}
    for name, items in pairs(texts).items():
        for lengths in (PAIR_LENGTHS, PAIR_LENGTHS[:1]):
            want = _python_pairs(tokenizer, items, lengths)
            got = _java_pairs(tokenizer, items, lengths)
            assert len(got) == len(items)
            bad = [(p, w, g) for p, w, g in zip(items, want, got, strict=True) if w != g]
            shown = "\n".join(f"{p[0][:40]!r} | {p[1][:40]!r}\n  python {w}\n  java   {g}" for p, w, g in bad[:3])
            assert not bad, f"{kind} {name} at {lengths}: {len(bad)} of {len(items)} pairs differ:\n{shown}"
        counts[name] = _cuts(tokenizer, items, PAIR_LENGTHS[0])
    print(f"\n{kind} pairs cut at 16: {counts}")
    assert len(pairs(texts)["sst2_dev"]) == 871
    assert counts["long"]["longer"] > 0 and counts["long"]["both"] > 0 and counts["hard"]["none"] > 0


def test_pair_lines_the_app_cannot_read_are_refused(trained):
    """A line without a tab, with two tabs or with an empty second text: one `Error:` line naming the line."""
    tok = str(trained["roberta"])
    for stdin, problem in [
        ("a\tb\nno tab here\n", "line 2 has no tab"),
        ("a\tb\tc\n", "line 1 has more than one tab"),
        ("a\tb\nc\td\nfirst\t\n", "line 3 has no second text"),
    ]:
        done = _run("--pair", "--max-length", "16", tok, stdin=stdin)
        assert done.returncode == 1 and done.stderr.startswith(f"Error: {problem}"), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    done = _run("--pair", "--json", "--max-length", "16", tok, stdin='["only one"]\n')
    assert done.returncode == 1 and "line 1 is" in done.stderr and "two strings" in done.stderr


def test_hard_cases_cover_what_the_issue_asks(trained):
    """Ten scripts and more, unknown pieces, truncation: the golden set exercises them on the Python side."""
    assert len(SCRIPTS) >= 10
    cases = hard_cases()
    xlmr = _python(trained["xlmr"], cases)
    assert any(3 in ids[1:-1] for ids in xlmr)  # <unk> from characters the Unigram vocabulary lacks
    assert max(len(ids) for ids in xlmr) > LENGTHS[-1]
    assert min(len(ids) for ids in xlmr) == 2  # empty and whitespace-only texts


def _run(*args: str, stdin: str = "x\n") -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(TOKENIZE), *args], input=stdin, capture_output=True, text=True, timeout=300)


def test_a_tokenizer_the_app_cannot_run_is_refused(trained, tmp_path):
    """One `Error:` line naming what the app does not implement; a bad command line exits 2."""
    tj = json.loads(trained["roberta"].read_text(encoding="utf-8"))
    tj["pre_tokenizer"] = {"type": "Whitespace"}
    bad = tmp_path / "tokenizer.json"
    bad.write_text(json.dumps(tj), encoding="utf-8")
    done = subprocess.run(
        ["sh", str(TOKENIZE), "--max-length", "8", str(bad)], input="x\n", capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: tokenizer.json cannot be used: its pre_tokenizer is Whitespace; with a BPE model this app implements"
        " ByteLevel only"
    ]
    tj["model"] = {"type": "WordLevel", "vocab": {}, "unk_token": "<unk>"}
    bad.write_text(json.dumps(tj), encoding="utf-8")
    done = subprocess.run(
        ["sh", str(TOKENIZE), "--max-length", "8", str(bad)], input="x\n", capture_output=True, text=True
    )
    assert done.returncode == 1 and "its model is WordLevel" in done.stderr
    done = _run(str(trained["xlmr"]))
    assert done.returncode == 2 and "needs --max-length" in done.stderr
