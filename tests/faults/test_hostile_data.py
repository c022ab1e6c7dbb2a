"""Fault table: hostile data files and texts (size limits, formats, Unicode, labels).

Every reader of text (``eval --data``, ``finetune --train/--dev``, ``export --data/--calibration``,
``significance --data``, ``run TEXT...``) must refuse each of these with one line that names the
file and line (or the text), without reading past the limits in ``ondevice.limits``.

An ``argv`` builder here takes the workspace and ``fx``, the small real models the cases need
(``fx.ckpt``: an ondevice checkpoint, ``fx.hf``: a Hugging Face directory with a fresh head,
``fx.bundle``: a verified bundle), built only when a case asks for one.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
from pathlib import Path

import pytest
from harness import Case, check, run_cli

from ondevice.limits import MAX_LINE_BYTES, MAX_ROWS, MAX_TEXT_CHARS

FINE = b"0\tfine\n1\tgood fun\n"  # a valid TSV body for the default model (labels 0/1)
# The tiny models' labels, four rows. The first label occurs twice: a first row whose label occurs
# nowhere else reads as a header row (names are not relied on, see ondevice.data._is_header).
TINY_ROWS = b"neg\tawful\nneu\tit is a film\npos\tgreat fun\nneg\tdull\n"
# Multi-label rows for the tiny models' labels: names between '|', none at all included.
MULTI_ROWS = b"neg|neu\tawful\n\tit is a film\npos\tgreat fun\nneg|pos\tdull\n"
PAIR_ROWS = (
    b"neg\tawful\tdull\nneu\tit is a film\tit is\npos\tgreat fun\tfun\nneg\tdull\tbad\n"  # label, text, text_pair
)


class Fixtures:
    """The session fixtures a case names, requested only when it uses them (the bundle takes a while)."""

    def __init__(self, request):
        self._request = request

    @property
    def ckpt(self) -> Path:
        return self._request.getfixturevalue("tiny_checkpoint")

    @property
    def hf(self) -> Path:
        return self._request.getfixturevalue("tiny_bert_dir")

    @property
    def bundle(self) -> Path:
        return self._request.getfixturevalue("tiny_bundle")


def put(ws: Path, name: str, content: bytes) -> str:
    (ws / name).write_bytes(content)
    return name


def jsonl(*rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def eval_on(name: str, content: bytes):
    """eval of the default model on one hostile file."""
    return lambda ws, fx: ["eval", "--data", put(ws, name, content)]


def over_line_limit(ws: Path, fx) -> list[str]:
    # One line a MiB past the hard limit, written in pieces: the reader must stop at the limit.
    with open(ws / "long.tsv", "wb") as f:
        f.write(b"0\t")
        chunk = b"word " * (1024**2 // 5)
        for _ in range(MAX_LINE_BYTES // len(chunk) + 2):
            f.write(chunk)
        f.write(b"\n")
    return ["eval", "--data", "long.tsv"]


def fifo(ws: Path, fx) -> list[str]:
    os.mkfifo(ws / "pipe.tsv")  # nothing ever writes to it: a reader that opens it blocks forever
    return ["eval", "--data", "pipe.tsv"]


def symlink_to(target: str, name: str = "data.tsv"):
    def build(ws: Path, fx) -> list[str]:
        (ws / name).symlink_to(target)
        return ["eval", "--data", name]

    return build


def directory(ws: Path, fx) -> list[str]:
    (ws / "data.tsv").mkdir()
    return ["eval", "--data", "data.tsv"]


def pte_as_tsv(ws: Path, fx) -> list[str]:
    pte = next(fx.bundle.glob("*.pte"))
    return ["eval", "--data", put(ws, "model.tsv", pte.read_bytes())]


def finetune(train: bytes, dev: bytes = TINY_ROWS, *extra: str | bytes, model: str = "hf", name: str = "train.tsv"):
    """finetune a tiny model (fresh head unless model="ckpt"); every case here fails before training."""

    def build(ws: Path, fx) -> list[str | bytes]:
        base = str(fx.hf if model == "hf" else fx.ckpt)
        return [
            "finetune",
            base,
            "--train",
            put(ws, name, train),
            "--dev",
            put(ws, "dev.tsv", dev),
            "--out",
            "out",
            "--epochs",
            "0.01",
            *extra,
        ]

    return build


def export_with(option: str, name: str, content: bytes, *extra: str):
    def build(ws: Path, fx) -> list[str]:
        return [
            "export",
            str(fx.ckpt),
            "--target",
            "host",
            "--format",
            "onnx",
            "--quantize",
            "fp32",
            "--seq-len",
            "16",
            "--out",
            "bundle",
            option,
            put(ws, name, content),
            *extra,
        ]

    return build


def compress(data: bytes, *extra: str):
    """compress the tiny checkpoint by the conservative recipe, ``data`` as both --data and --dev."""

    def build(ws: Path, fx) -> list[str]:
        return [
            "compress",
            str(fx.ckpt),
            "--recipe",
            "conservative",
            "--data",
            put(ws, "d.tsv", data),
            "--dev",
            put(ws, "dev.tsv", data),
            "--out",
            "out",
            *extra,
        ]

    return build


def run_texts(*texts: str | bytes):
    return lambda ws, fx: ["run", str(fx.bundle), *texts]


CASES = [
    # --- limits: size, rows, files that are no files ---
    Case("limits", "line over the hard limit", over_line_limit, "long.tsv:1: the line is longer than 64 MiB", 1, 1024),
    Case(
        "limits",
        "50 MB of tabs in one row",
        eval_on("tabs.tsv", b"0" + b"\t" * 50_000_000 + b"x\n"),
        "tabs.tsv:1: expected two columns (label, text), found 50000001",
        1,
        1024,
    ),
    Case(
        "limits",
        "more lines than the row limit",
        eval_on("blank.tsv", b"\n" * (MAX_ROWS + 1)),
        f"blank.tsv: more than {MAX_ROWS:,} lines",
        1,
        1024,
    ),
    Case(
        "limits",
        "two million empty lines",
        eval_on("blank.tsv", b"\r\n" * 2_000_000),
        "blank.tsv: the file is empty",
        1,
    ),
    Case("limits", "/dev/zero as --data", ["eval", "--data", "/dev/zero"], "not a regular file", 1, 1024),
    Case("limits", "a FIFO as --data", fifo, "pipe.tsv: not a regular file", 1),
    Case("limits", "symlink to /dev/urandom", symlink_to("/dev/urandom"), "data.tsv: not a regular file", 1, 1024),
    Case("limits", "a directory as --data", directory, "data.tsv: is a directory", 1),
    Case("limits", "no such file", ["eval", "--data", "nope.tsv"], "nope.tsv: no such file", 1),
    Case("limits", "an empty file", eval_on("empty.tsv", b""), "empty.tsv: the file is empty", 1),
    Case("limits", "a header and no rows", eval_on("head.tsv", b"label\tsentence\n"), "head.tsv: no labelled rows", 1),
    Case("limits", "unknown extension", eval_on("d.parquet", b"PAR1\0\0PAR1"), "unknown data format '.parquet'", 1),
    Case(
        "limits",
        "finetune --train is a FIFO",
        lambda ws, fx: (
            fifo(ws, fx) and ["finetune", str(fx.hf), "--train", "pipe.tsv", "--dev", "pipe.tsv", "--out", "o"]
        ),
        "pipe.tsv: not a regular file",
        1,
    ),
    Case(
        "limits",
        "export --calibration /dev/zero",
        lambda ws, fx: (
            export_with("--data", "verify.tsv", TINY_ROWS)(ws, fx)
            + ["--calibration", "/dev/zero", "--quantize", "int8-static"]
        ),
        "/dev/zero: not a regular file",
        1,
    ),
    # --- columns and rows ---
    Case(
        "data",
        "three columns (a tab in the sentence)",
        eval_on("d.tsv", FINE + b"1\tgood\tfun\n"),
        "d.tsv:3: expected two columns (label, text), found 3; glue tsv is label tab text",
        1,
    ),
    Case(
        "data",
        "a trailing tab",
        eval_on("d.tsv", b"0\tfine\t\n"),
        "d.tsv:1: expected two columns (label, text), found 3",
        1,
    ),
    Case(
        "data",
        "CSV with an unquoted comma",
        eval_on("d.csv", b"0,fine\n1,good, fun\n"),
        "d.csv:2: expected two columns",
        1,
    ),
    Case(
        "data", "CSV with an unclosed quote", eval_on("d.csv", b'0,fine\n1,"good\n0,bad\n'), "d.csv:2: not valid csv", 1
    ),
    Case(
        "data", "CSV with text after a closing quote", eval_on("d.csv", b'0,"good" fun\n'), "d.csv:1: not valid csv", 1
    ),
    Case(
        "data", "one column", eval_on("d.tsv", FINE + b"1\n"), "d.tsv:3: expected two columns (label, text), found 1", 1
    ),
    Case("data", "an empty label", eval_on("d.tsv", FINE + b"\tno label here\n"), "d.tsv:3: the label is empty", 1),
    Case("data", "an empty text", eval_on("d.tsv", FINE + b"1\t   \n"), "d.tsv:3: the text is empty", 1),
    Case(
        "data",
        "a mistyped label",
        eval_on("d.tsv", b"negative\tbad\npostive\tgood\n"),
        "d.tsv:2: unknown label 'postive'",
        1,
    ),
    Case(
        "data",
        "a superscript digit as label",
        eval_on("d.tsv", FINE + "\u00b2\tok\n".encode()),
        "unknown label '\u00b2'",
        1,
    ),
    Case("data", "a 30-digit label", eval_on("d.tsv", FINE + b"9" * 30 + b"\tok\n"), "d.tsv:3: unknown label", 1),
    Case("data", "a gzip file named .tsv", eval_on("d.tsv", gzip.compress(FINE * 100)), "d.tsv:1: a nul byte", 1),
    Case("data", "an executorch .pte named .tsv", pte_as_tsv, "model.tsv:1: a nul byte", 1),
    Case("data", "high bytes only", eval_on("d.tsv", bytes(range(0x80, 0x100)) * 40), "d.tsv:1: not utf-8", 1),
    Case(
        "data",
        "control characters and no text",
        eval_on("d.tsv", FINE + bytes(range(1, 9)) + b"\t\x1c\x1d\x1e\x1f\n"),
        "d.tsv:3: the text is empty",
        1,
    ),
    Case(
        "data",
        "JSONL text is a number",
        eval_on("d.jsonl", jsonl({"text": 3, "label": 0})),
        "'text' must be a string, not a number",
        1,
    ),
    Case("data", "JSONL text is a list", eval_on("d.jsonl", jsonl({"text": ["a"], "label": 0})), "not a list", 1),
    Case(
        "data",
        "JSONL text is null",
        eval_on("d.jsonl", jsonl({"text": None, "label": 0})),
        "d.jsonl:1: 'text' must be a string, not null",
        1,
    ),
    Case(
        "data",
        "JSONL label is null",
        eval_on("d.jsonl", jsonl({"text": "a", "label": None})),
        "'label' must be a string or an integer, not null",
        1,
    ),
    Case("data", "JSONL label is true", eval_on("d.jsonl", jsonl({"text": "a", "label": True})), "not a boolean", 1),
    Case("data", "JSONL label is 1.0", eval_on("d.jsonl", jsonl({"text": "a", "label": 1.0})), "not a number", 1),
    Case(
        "data",
        "JSONL empty text",
        eval_on("d.jsonl", jsonl({"text": "", "label": 0})),
        "d.jsonl:1: the text is empty",
        1,
    ),
    Case("data", "JSONL line is a string", eval_on("d.jsonl", jsonl("fine")), "d.jsonl:1: expected a json object", 1),
    Case(
        "data",
        "JSONL nested 200,000 deep",
        eval_on("d.jsonl", b"[" * 200_000 + b"\n"),
        "d.jsonl:1: not valid json (nested too deeply)",
        1,
    ),
    Case(
        "data",
        "JSONL 5000-digit label",
        eval_on("d.jsonl", b'{"text": "a", "label": ' + b"1" * 5000 + b"}\n"),
        "a number too long",
        1,
    ),
    Case("data", "a JSON array as .json", eval_on("d.json", b'[\n{"text": "a", "label": 0}\n]\n'), "not an array", 1),
    # --- Unicode ---
    Case(
        "unicode",
        "invalid UTF-8 mid-file",
        eval_on("d.tsv", FINE + b"1\tcaf\xe9 au lait\n" + FINE),
        "d.tsv:3: not utf-8 text (byte 0xe9",
        1,
    ),
    Case("unicode", "Latin-1 CSV", eval_on("d.csv", b"label,text\n0,na\xefve\n"), "d.csv:2: not utf-8", 1),
    Case(
        "unicode",
        "UTF-8-encoded surrogate (CESU-8)",
        eval_on("d.tsv", FINE + b"1\t\xed\xa0\x80\n"),
        "d.tsv:3: not utf-8",
        1,
    ),
    Case("unicode", "overlong UTF-8 slash", eval_on("d.tsv", b"0\t\xc0\xaf\n"), "d.tsv:1: not utf-8", 1),
    Case("unicode", "UTF-16 with BOM", eval_on("d.tsv", "0\tfine\n".encode("utf-16")), "d.tsv: utf-16", 1),
    Case("unicode", "UTF-16 without BOM", eval_on("d.tsv", "0\tfine\n".encode("utf-16-le")), "d.tsv:1: a nul byte", 1),
    Case(
        "unicode",
        "a NUL byte in a TSV line",
        eval_on("d.tsv", FINE + b"1\tgo\x00od\n"),
        "d.tsv:3: a nul byte at byte 5",
        1,
    ),
    Case(
        "unicode",
        "JSONL lone surrogate text",
        eval_on("d.jsonl", b'{"text": "\\ud800", "label": 0}\n'),
        "d.jsonl:1: not valid unicode",
        1,
    ),
    Case(
        "unicode",
        "JSONL half an emoji in the label",
        eval_on("d.jsonl", b'{"text": "a", "label": 0}\n{"text": "b", "label": "\\ud83d"}\n'),
        "d.jsonl:2: not valid unicode",
        1,
    ),
    Case("unicode", "run: invalid UTF-8 argument", run_texts(b"\xff\xfe"), "text 1: not valid unicode", 2),
    Case("unicode", "run: second text is Latin-1", run_texts("fine", b"caf\xe9"), "text 2: not valid unicode", 2),
    Case("unicode", "run: CESU-8 surrogate argument", run_texts(b"\xed\xa0\x80 x"), "text 1: not valid unicode", 2),
    Case(
        "unicode",
        "finetune --labels with invalid UTF-8",
        finetune(TINY_ROWS, TINY_ROWS, "--labels", b"neg,n\xffu,pos"),
        "label 2: not valid unicode",
        1,
    ),
    Case(
        "unicode",
        "export --data with a lone surrogate",
        export_with("--data", "v.jsonl", b'{"text": "ok", "label": "neg"}\n{"text": "\\udfff", "label": "pos"}\n'),
        "v.jsonl:2: not valid unicode",
        1,
    ),
    Case(
        "unicode",
        "export --calibration not UTF-8",
        lambda ws, fx: (
            export_with("--data", "v.tsv", TINY_ROWS)(ws, fx)
            + ["--calibration", put(ws, "c.tsv", TINY_ROWS + b"pos\tr\xe9sum\xe9\n"), "--quantize", "int8-static"]
        ),
        "c.tsv:5: not utf-8",
        1,
    ),
    # --- the split carved to select on: whole texts, none of them inside a text trained on ---
    Case(
        "split",
        "finetune: every text is a phrase of one sentence",
        finetune(b"neg\tawful film , dull\nneu\tawful film\npos\tdull\nneg\tfilm\n"),
        "train.tsv: every text is inside one other ('awful film , dull')",
        1,
    ),
    # --- labels: what fine-tuning learns must be what the user meant ---
    Case(
        "labels",
        "finetune: a typo creates a class",
        finetune(TINY_ROWS + b"postive\tfun\n"),
        "train.tsv:5: label 'postive' does not occur in the dev file",
        1,
    ),
    Case(
        "labels",
        "finetune --labels: a typo",
        finetune(TINY_ROWS + b"postive\tfun\n", TINY_ROWS, "--labels", "neg,neu,pos"),
        "train.tsv:5: unknown label 'postive'",
        1,
    ),
    Case(
        "labels",
        "finetune: a checkpoint's labels, a typo",
        finetune(TINY_ROWS + b"postive\tfun\n", model="ckpt"),
        "train.tsv:5: unknown label 'postive'",
        1,
    ),
    Case(
        "labels",
        "finetune: dev has a label train lacks",
        finetune(TINY_ROWS, TINY_ROWS + b"mixed\tso so\n"),
        "dev.tsv:5: unknown label 'mixed' (known: neg, neu, pos)",
        1,
    ),
    Case(
        "labels",
        "finetune: class indices with a gap",
        finetune(b"0\ta\n1\tb\n3\tc\n", b"0\ta\n1\tb\n3\tc\n"),
        "2 never occurs",
        1,
    ),
    Case("labels", "finetune: label 999999999", finetune(b"0\ta\n999999999\tb\n", b"0\ta\n"), "never occurs", 1, 1024),
    Case(
        "labels",
        "finetune: empty label in dev",
        finetune(TINY_ROWS, TINY_ROWS + b" \tx\n"),
        "dev.tsv:5: the label is empty",
        1,
    ),
    Case(
        "labels",
        "finetune: three columns in train",
        finetune(TINY_ROWS + b"pos\ta\tb\n"),
        "train.tsv:5: expected two columns",
        1,
    ),
    Case(
        "labels",
        "export --data: three columns",
        export_with("--data", "v.tsv", TINY_ROWS + b"neg\tx\ty\n"),
        "v.tsv:5: expected two columns",
        1,
    ),
    # --- sentence pairs: their columns and fields ---
    Case(
        "pairs",
        "finetune pairs: a row without its second text",
        finetune(PAIR_ROWS + b"pos\tonly one text\n", PAIR_ROWS, "--text-columns", "2,3"),
        "train.tsv:5: expected three columns (label, text, text_pair), found 2",
        1,
    ),
    Case(
        "pairs",
        "finetune pairs: an empty second text",
        finetune(PAIR_ROWS, PAIR_ROWS + b"neu\tthe first\t  \n", "--text-columns", "2,3"),
        "dev.tsv:5: the second text (text_pair) is empty",
        1,
    ),
    Case(
        "pairs",
        "finetune pairs: named columns, a row shorter than the first",
        finetune(b"x\tneg\ta\tb\nx\tpos\tc\n", PAIR_ROWS, "--label-column", "2", "--text-columns", "3,4"),
        "train.tsv:2: expected at least 4 columns (…, label, text, text_pair), found 3",
        1,
    ),
    Case(
        "pairs",
        "finetune pairs: a JSONL row without text_pair",
        finetune(
            jsonl(
                {"text": "a", "text_pair": "b", "label": "neg"},
                {"text": "c", "text_pair": "d", "label": "pos"},
                {"text": "e", "label": "neu"},
            ),
            jsonl({"text": "a", "text_pair": "b", "label": "neg"}, {"text": "c", "text_pair": "d", "label": "pos"}),
            name="train.jsonl",
        ),
        "train.jsonl:3: missing field 'text_pair'",
        1,
    ),
    Case(
        "pairs",
        "--text-columns on a JSONL file",
        finetune(jsonl({"text": "a", "label": "neg"}), TINY_ROWS, "--text-columns", "2,3", name="train.jsonl"),
        "--text-columns and --label-column are for tsv and csv",
        1,
    ),
    Case(
        "pairs",
        "--text-columns that is not a column",
        finetune(PAIR_ROWS, PAIR_ROWS, "--text-columns", "2,x"),
        "--text-columns '2,x': give one or two column numbers counted from 1",
        2,
    ),
    Case(
        "pairs",
        "--text-columns with three texts",
        finetune(PAIR_ROWS, PAIR_ROWS, "--text-columns", "2,3,4"),
        "give one or two column numbers",
        2,
    ),
    Case(
        "pairs",
        "--label-column that is a text column",
        finetune(PAIR_ROWS, PAIR_ROWS, "--text-columns", "1,2"),
        "columns overlap: the label is column 1, the texts 1, 2",
        2,
    ),
    Case(
        "pairs",
        "50 MB of tabs in a pair row",
        finetune(b"neg\ta" + b"\t" * 50_000_000 + b"x\n", PAIR_ROWS, "--text-columns", "2,3"),
        "train.tsv:1: expected three columns (label, text, text_pair), found 50000002",
        1,
        1024,
    ),
    Case(
        "pairs",
        "significance --text-columns 0",
        lambda ws, fx: ["significance", str(fx.ckpt), "--data", put(ws, "d.tsv", TINY_ROWS), "--text-columns", "0"],
        "--text-columns '0': give one or two column numbers counted from 1",
        2,
    ),
    Case(
        "pairs",
        "compress: pair data for a model of single texts",
        compress(PAIR_ROWS),
        "d.tsv:1: expected two columns (label, text), found 3",
        1,
    ),
    Case(
        "pairs",
        "run --pair on a model of single texts",
        run_texts("a fine film .", "--pair", "a dull one ."),
        "--pair: this model classifies single texts",
        2,
    ),
    Case(
        "pairs",
        "run: more --pair texts than texts",
        run_texts("a fine film .", "--pair", "x", "--pair", "y"),
        "1 texts and 2 --pair texts",
        2,
    ),
    # --- multi-label data: label lists and '|'-separated names ---
    Case(
        "multi-label",
        "finetune: '|' labels without --multi-label",
        finetune(MULTI_ROWS, MULTI_ROWS),
        "train.tsv:1: the label 'neg|neu' holds '|': multi-label data; give --multi-label",
        1,
    ),
    Case(
        "multi-label",
        "finetune: a JSONL label list without --multi-label",
        finetune(jsonl({"text": "a", "label": ["neg", "pos"]}), TINY_ROWS, name="train.jsonl"),
        "train.jsonl:1: 'label' is a list: multi-label data; give --multi-label",
        1,
    ),
    Case(
        "multi-label",
        "finetune --multi-label: an unknown label in a list",
        finetune(MULTI_ROWS, MULTI_ROWS + b"neu|postive\tx\n", "--multi-label"),
        "dev.tsv:5: unknown label 'postive'",
        1,
    ),
    Case(
        "multi-label",
        "finetune --multi-label: a label twice",
        finetune(MULTI_ROWS + b"pos|neg|pos\tx\n", MULTI_ROWS, "--multi-label"),
        "train.tsv:5: the label 'pos' is given twice",
        1,
    ),
    Case(
        "multi-label",
        "finetune --multi-label: an empty name between separators",
        finetune(MULTI_ROWS + b"pos||neg\tx\n", MULTI_ROWS, "--multi-label"),
        "train.tsv:5: an empty label name in 'pos||neg'",
        1,
    ),
    Case(
        "multi-label",
        "finetune --multi-label: a JSONL label list holding an object",
        finetune(
            jsonl({"text": "a", "label": ["neg"]}, {"text": "b", "label": ["pos", {"x": 1}]}),
            MULTI_ROWS,
            "--multi-label",
            name="train.jsonl",
        ),
        "train.jsonl:2: 'label'[1] must be a string or an integer, not an object",
        1,
    ),
    Case(
        "multi-label",
        "finetune --multi-label from a single-label ondevice checkpoint",
        finetune(MULTI_ROWS, MULTI_ROWS, "--multi-label", model="ckpt"),
        "is a single-label classifier; --multi-label needs a model without a head",
        2,
    ),
    Case(
        "multi-label",
        "finetune: an empty label in single-label data",
        finetune(TINY_ROWS + b"\tno label\n"),
        "train.tsv:5: the label is empty",
        1,
    ),
    # --- model selection: the split carved from the training data, and how the kept weights are chosen ---
    Case(
        "selection",
        "finetune: one training example, nothing to carve a split from",
        finetune(b"neg\tawful\n", model="ckpt"),
        "train.tsv: 1 training example(s); at least 2 are needed to carve out a split to select on (or --select last)",
        1,
    ),
    Case(
        "selection",
        "finetune --multi-label --select last: one example, no split for the thresholds",
        finetune(b"neg|pos\tawful\n", MULTI_ROWS, "--multi-label", "--select", "last", "--labels", "neg,neu,pos"),
        "at least 2 are needed to carve out a split to choose the decision thresholds on",
        1,
    ),
    Case(
        "selection",
        "finetune --select best",
        finetune(TINY_ROWS, TINY_ROWS, "--select", "best"),
        "select (--select) must be one of split, last, not 'best'",
        2,
    ),
    Case(
        "selection",
        "finetune --select-share 1",
        finetune(TINY_ROWS, TINY_ROWS, "--select-share", "1"),
        "select_share (--select-share) must be between 0 and 1",
        2,
    ),
    Case(
        "selection",
        "compress --select best",
        compress(TINY_ROWS, "--select", "best"),
        "--select must be one of split, last, not 'best'",
        2,
    ),
    Case(
        "labels",
        "significance --data: a mistyped label",
        lambda ws, fx: ["significance", str(fx.ckpt), "--data", put(ws, "d.tsv", TINY_ROWS + b"postive\tx\n")],
        "d.tsv:5: unknown label 'postive'",
        1,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_data(case: Case, workspace: Path, request) -> None:
    fx = Fixtures(request)
    build = case.argv
    resolved = build if isinstance(build, list) else (lambda ws: build(ws, fx))
    check(dataclasses.replace(case, argv=resolved), workspace)


def test_table_is_large_and_unique():
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)


# --- What must work: cut, not refused; CRLF, BOM and quoted line breaks read as text. ---


def _ok(result) -> None:
    out = result.stdout + result.stderr
    assert result.exit == 0 and "Traceback" not in out and not result.error_lines, out[-3000:]


def test_eval_on_a_50_mb_line_cuts_it_and_stays_under_1_gb(workspace: Path) -> None:
    """The issue's benchmark: one 50 MB line took 6.8 GB and 55 s; it is cut before tokenization."""
    words = b"a gorgeous witty seductive movie that never quite works "
    with open(workspace / "big.tsv", "wb") as f:
        f.write(b"0\t" + words * (50_000_000 // len(words)) + b"\n1\tgood fun\n")
    r = run_cli(["eval", "--data", "big.tsv", "--json"], workspace)
    _ok(r)
    assert json.loads(r.stdout)["n"] == 2
    notes = [line for line in r.stderr.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1 and f"longer than {MAX_TEXT_CHARS:,} characters" in notes[0] and "big.tsv:1" in notes[0]
    assert r.peak_rss_mb < 1024, f"peak memory {r.peak_rss_mb:.0f} MB"


def test_crlf_bom_header_and_quoted_line_breaks_read(workspace: Path) -> None:
    (workspace / "d.tsv").write_bytes(b"\xef\xbb\xbflabel\tsentence\r\n0\tbad\r\n\r\n1\tgood\r\n")
    (workspace / "d.csv").write_bytes(b'label,text\r\n0,"bad,\r\nreally bad"\r\n1,"a ""good"" one"\r\n')
    (workspace / "d.jsonl").write_bytes(
        b'{"text": "tab\\tand \\u0000 nul", "label": 0}\r\n{"text": "ok", "label": 1}\r\n'
    )
    for name in ("d.tsv", "d.csv", "d.jsonl"):
        r = run_cli(["eval", "--data", name, "--json"], workspace)
        _ok(r)
        assert json.loads(r.stdout)["n"] == 2, name


def test_run_cuts_a_long_text_with_a_note(workspace: Path, tiny_bundle: Path) -> None:
    text = "good fun " * 13_000  # 117,000 characters: past the cut, under Linux's 128 KiB per argument
    r = run_cli(["run", str(tiny_bundle), "fine", text, "--json"], workspace)
    _ok(r)
    assert "text 2" in r.stderr and f"{MAX_TEXT_CHARS:,}" in r.stderr
    results = json.loads(r.stdout)["results"]
    assert len(results[1]["text"]) == MAX_TEXT_CHARS and results[1]["truncated"]


def test_finetune_allow_new_labels_accepts_a_class_dev_lacks(workspace: Path, tiny_bert_dir: Path) -> None:
    (workspace / "train.tsv").write_bytes(TINY_ROWS * 4)
    (workspace / "dev.tsv").write_bytes(b"neg\tawful\npos\tgreat fun\n")
    argv = ["finetune", str(tiny_bert_dir), "--train", "train.tsv", "--dev", "dev.tsv", "--out", "out"]
    refused = run_cli(argv, workspace)
    assert refused.exit == 1 and "--allow-new-labels" in refused.error_lines[0] and not (workspace / "out").exists()
    r = run_cli([*argv, "--allow-new-labels", "--epochs", "1", "--batch-size", "4", "--max-length", "16"], workspace)
    _ok(r)
    assert json.loads((workspace / "out" / "labels.json").read_text()) == ["neg", "neu", "pos"]
