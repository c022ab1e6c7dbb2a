"""The bundle manifest's schema (``ondevice.json``), checked once, when a bundle is read.

``validate`` takes the parsed JSON and either returns it (with the few defaults filled in that older
writers left out) or raises ``ArtifactError`` with one line that names the manifest and the field:
``.../ondevice.json: artifacts[1].file must be a string, not a list; export the bundle again``.

What it enforces, beyond the types of the fields that ``run``, ``inspect``, ``profile``, the benchmarks
and the Android app read:

- every file name (artifact files, the tokenizer's vocabulary and settings files, the keys of
  ``files``) is a plain name inside the bundle: no directories, no ``..``, nothing absolute;
- every file the bundle uses (each artifact, the vocabulary, the tokenizer settings, labels.json, and
  tokenizer.json where ``files`` lists it or the tokenizer's ``kind`` is BPE or Unigram, which are read
  from it alone) is covered by a checksum in ``files``, so a manifest cannot switch checking off by
  leaving ``files`` out;
- an artifact's own sha256 and size agree with its entry in ``files``;
- a multi-label bundle (``problem_type`` ``multi_label_classification``) has ``thresholds``, one number
  in (0, 1) per label (label i applies when sigmoid(logit i) exceeds it); any other has none. A
  manifest without ``problem_type`` (written before multi-label) is single-label.

The Android core (``android_demo/core/.../Manifest.java``) applies the same rules.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

from ondevice.converters.formats import FORMATS, PAIR_INPUT
from ondevice.errors import ArtifactError

SCHEMA_VERSION = 1
LABELS_FILE = "labels.json"
# ondevice.model.config's PROBLEM_TYPES, named again: reading a manifest must not import torch
SINGLE_LABEL, MULTI_LABEL = "single_label_classification", "multi_label_classification"
TOKENIZER_JSON = "tokenizer.json"  # used instead of the vocabulary when ``files`` lists it (as the app does)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_NAME_MAX = 255


def _kind(value: object) -> str:
    """A JSON value's kind, for messages: "a string", "a list", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# kind -> (test, how a message names it)
_KINDS = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "integer": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "number": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "object": (lambda v: isinstance(v, dict), "an object"),
    "list": (lambda v: isinstance(v, list), "a list"),
}


class _Checker:
    """Field checks that raise one ArtifactError line naming the manifest and the field's path."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, field: str, problem: str) -> None:
        raise ArtifactError(f"{self.where}: {field} {problem}; export the bundle again")

    def get(self, obj: dict, key: str, field: str, kind: str, optional: bool = False, nullable: bool = False):
        """``obj[key]`` checked to be of ``kind``; None when optional and absent (or null and nullable)."""
        if key not in obj:
            if optional:
                return None
            self.fail(field, "is missing")
        value = obj[key]
        if value is None and nullable:
            return None
        test, name = _KINDS[kind]
        if not test(value):
            self.fail(field, f"must be {name}" + (" or null" if nullable else "") + f", not {_kind(value)}")
        return value

    def positive_ints(self, value: list, field: str) -> list[int]:
        if not value:
            self.fail(field, "must list at least one length")
        for i, n in enumerate(value):
            if not _KINDS["integer"][0](n) or n < 1:
                self.fail(f"{field}[{i}]", f"must be a positive integer, not {json.dumps(n)[:40]}")
        return value

    def file_name(self, value: object, field: str) -> str:
        """A plain file name inside the bundle: no directory part, no '..', nothing absolute."""
        if not isinstance(value, str):
            self.fail(field, f"must be a string, not {_kind(value)}")
        if not is_plain_name(value):
            self.fail(
                field,
                f"{value[:100]!r} is not a plain file name inside the bundle (no directories, '..' or absolute paths)",
            )
        return value

    def sha256(self, value: object, field: str) -> str:
        if not isinstance(value, str) or not _SHA256.fullmatch(value):
            self.fail(field, f"must be a sha256 of 64 hexadecimal digits, not {_kind(value)}")
        return value.lower()


def is_plain_name(name: str) -> bool:
    """True for a bare file name: not empty, '.' or '..', no '/' or '\\', no control characters."""
    if not name or name in (".", "..") or len(name.encode("utf-8", "surrogatepass")) > _NAME_MAX:
        return False
    if any(c in name for c in "/\\") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return False
    return PurePosixPath(name).name == name


def validate(manifest: object, where: str) -> dict:
    """Check a parsed manifest against the schema; returns it, with artifacts' seq_lens filled in.

    Args:
        manifest: what ``json.loads`` gave for ondevice.json.
        where: the manifest's path, for messages.

    Raises:
        ArtifactError: one line naming the field that is missing, of the wrong type or unsafe.
    """
    c = _Checker(where)
    if not isinstance(manifest, dict):
        raise ArtifactError(
            f"{where}: the manifest must be a JSON object, not {_kind(manifest)}; export the bundle again"
        )
    version = manifest.get("schema_version")
    if not _KINDS["integer"][0](version) or version != SCHEMA_VERSION:
        raise ArtifactError(
            f"{where}: manifest schema version {version!r} is not supported (this ondevice reads {SCHEMA_VERSION}); "
            "export the bundle again with this version"[:300]
        )
    c.get(manifest, "target", "target", "string")
    labels = c.get(manifest, "labels", "labels", "list")
    if not labels:
        c.fail("labels", "must list at least one label")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            c.fail(f"labels[{i}]", f"must be a non-empty string, not {_kind(label)}")
    if len(set(labels)) != len(labels):
        c.fail("labels", "lists a label twice")
    _problem(c, manifest, len(labels))
    c.get(manifest, "seq_len", "seq_len", "integer")
    c.positive_ints(c.get(manifest, "seq_lens", "seq_lens", "list"), "seq_lens")
    _model(c, c.get(manifest, "model", "model", "object"))
    tokenizer = c.get(manifest, "tokenizer", "tokenizer", "object")
    _tokenizer(c, tokenizer)
    if "files" not in manifest:
        raise ArtifactError(
            f"{where}: files is missing: without the checksums of its files the bundle cannot be checked; "
            "export the bundle again"
        )
    files = _files(c, c.get(manifest, "files", "files", "object"))
    artifacts = c.get(manifest, "artifacts", "artifacts", "list")
    if not artifacts:
        c.fail("artifacts", "must list at least one artifact")
    # A pair model with token types feeds them as a third input: every artifact must take what is fed.
    types = bool(tokenizer.get("token_type_ids", False))
    for i, a in enumerate(artifacts):
        _artifact(c, a, f"artifacts[{i}]", files, len(labels))
        if types != (PAIR_INPUT in [x["name"] for x in a["inputs"]]):
            c.fail(
                f"artifacts[{i}].inputs",
                f"{'lack' if types else 'hold'} {PAIR_INPUT}, but tokenizer.token_type_ids is {str(types).lower()}",
            )
    # Every file the bundle uses must be covered by a checksum; nothing unchecked is ever read.
    used = {f"artifacts[{i}].file": a["file"] for i, a in enumerate(artifacts)}
    used["tokenizer.vocab_file"] = tokenizer["vocab_file"]
    used["tokenizer.settings_file"] = tokenizer["settings_file"]
    used["the labels file"] = LABELS_FILE
    if tokenizer.get("kind", "WordPiece") != "WordPiece":  # BPE and Unigram are read from tokenizer.json only
        used[f"the {tokenizer['kind']} tokenizer"] = TOKENIZER_JSON
    for field, name in used.items():
        if name not in files:
            c.fail("files", f"has no checksum for {name} ({field}); every file the bundle uses must be listed")
    return manifest


def _problem(c: _Checker, manifest: dict, num_labels: int) -> None:
    """problem_type (single-label when absent, as older writers left it) and, for multi-label, thresholds."""
    problem = manifest.get("problem_type", SINGLE_LABEL)
    if problem not in (SINGLE_LABEL, MULTI_LABEL):
        c.fail("problem_type", f"must be {SINGLE_LABEL} or {MULTI_LABEL}, not {json.dumps(problem)[:60]}")
    thresholds = c.get(manifest, "thresholds", "thresholds", "list", optional=problem != MULTI_LABEL)
    if problem != MULTI_LABEL:
        if thresholds is not None:
            c.fail("thresholds", f"apply to {MULTI_LABEL} only, but problem_type is {problem}")
        return
    if len(thresholds) != num_labels:
        c.fail("thresholds", f"lists {len(thresholds)} thresholds for the {num_labels} labels")
    for i, t in enumerate(thresholds):
        if not _KINDS["number"][0](t) or not 0 < t < 1:
            c.fail(f"thresholds[{i}]", f"must be a number between 0 and 1 (exclusive), not {json.dumps(t)[:40]}")


def used_files(manifest: dict) -> list[str]:
    """The names of the files a validated manifest's bundle uses, each listed in its ``files``."""
    names = [a["file"] for a in manifest["artifacts"]]
    names += [manifest["tokenizer"]["vocab_file"], manifest["tokenizer"]["settings_file"], LABELS_FILE]
    if TOKENIZER_JSON in manifest["files"]:
        names.append(TOKENIZER_JSON)
    return list(dict.fromkeys(names))


def _model(c: _Checker, model: dict) -> None:
    c.get(model, "source", "model.source", "string", optional=True, nullable=True)
    params = c.get(model, "parameters", "model.parameters", "object")
    for k, v in params.items():
        if not _KINDS["integer"][0](v) or v < 0:
            c.fail(f"model.parameters.{k}"[:120], f"must be a non-negative integer, not {_kind(v)}")
    if sum(params.values()) <= 0:
        c.fail("model.parameters", "must count at least one parameter")


def _tokenizer(c: _Checker, tok: dict) -> None:
    from ondevice.model.tokenizer import TokenizerSettings

    c.file_name(c.get(tok, "vocab_file", "tokenizer.vocab_file", "string"), "tokenizer.vocab_file")
    c.file_name(c.get(tok, "settings_file", "tokenizer.settings_file", "string"), "tokenizer.settings_file")
    # The rest is the tokenizer's settings (the app reads them from here): the settings file's schema.
    settings = {k: v for k, v in tok.items() if k not in ("vocab_file", "settings_file")}
    TokenizerSettings.from_dict(
        settings, c.where, ArtifactError, prefix="tokenizer.", advice="; export the bundle again"
    )
    for key in ("cls_id", "sep_id", "pad_id", "unk_id"):  # what the app needs to reproduce the ids
        c.get(tok, key, f"tokenizer.{key}", "integer")


def _files(c: _Checker, files: dict) -> dict:
    for name, facts in files.items():
        c.file_name(name, "files key")
        if not isinstance(facts, dict):
            c.fail(f"files[{name!r}]", f"must be an object with sha256 and size_bytes, not {_kind(facts)}")
        c.sha256(c.get(facts, "sha256", f"files[{name!r}].sha256", "string"), f"files[{name!r}].sha256")
        size = c.get(facts, "size_bytes", f"files[{name!r}].size_bytes", "integer")
        if size < 0:
            c.fail(f"files[{name!r}].size_bytes", "must not be negative")
    return files


def _artifact(c: _Checker, a: object, at: str, files: dict, num_labels: int) -> None:
    if not isinstance(a, dict):
        c.fail(at, f"must be an object, not {_kind(a)}")
    name = c.file_name(c.get(a, "file", f"{at}.file", "string"), f"{at}.file")
    fmt = c.get(a, "format", f"{at}.format", "string")
    if fmt not in FORMATS:
        c.fail(f"{at}.format", f"{fmt[:50]!r} is not a known format (known: {', '.join(FORMATS)})")
    if not name.endswith(FORMATS[fmt].extension):
        c.fail(f"{at}.file", f"{name!r} does not end in {FORMATS[fmt].extension}, as {fmt} artifacts must")
    c.get(a, "quantization", f"{at}.quantization", "string")
    seq_len = c.get(a, "seq_len", f"{at}.seq_len", "integer", optional="seq_lens" in a)
    if seq_len is not None and seq_len < 1:
        c.fail(f"{at}.seq_len", "must be a positive integer")
    lens = c.get(a, "seq_lens", f"{at}.seq_lens", "list", optional=True)
    if lens is None:
        a["seq_lens"] = [seq_len]  # older writers gave one length
    else:
        c.positive_ints(lens, f"{at}.seq_lens")
        a.setdefault("seq_len", max(lens))
    inputs = c.get(a, "inputs", f"{at}.inputs", "list")
    if not inputs:
        c.fail(f"{at}.inputs", "must list the artifact's inputs")
    for j, x in enumerate(inputs):
        if not isinstance(x, dict):
            c.fail(f"{at}.inputs[{j}]", f"must be an object, not {_kind(x)}")
        c.get(x, "name", f"{at}.inputs[{j}].name", "string")
        dtype = c.get(x, "dtype", f"{at}.inputs[{j}].dtype", "string")
        if dtype not in ("int32", "int64"):
            c.fail(f"{at}.inputs[{j}].dtype", f"{dtype[:20]!r} is not int32 or int64")
        c.get(x, "shape", f"{at}.inputs[{j}].shape", "list", optional=True)
    outputs = c.get(a, "outputs", f"{at}.outputs", "list", optional=True)
    if outputs:
        first = outputs[0]
        shape = first.get("shape") if isinstance(first, dict) else None
        if not isinstance(shape, list):
            c.fail(f"{at}.outputs[0].shape", "must be a list")
        if shape and _KINDS["integer"][0](shape[-1]) and shape[-1] != num_labels:
            c.fail(f"{at}.outputs[0].shape", f"gives {shape[-1]} logits for the {num_labels} labels")
    sha = c.sha256(c.get(a, "sha256", f"{at}.sha256", "string"), f"{at}.sha256")
    size = c.get(a, "size_bytes", f"{at}.size_bytes", "integer")
    listed = files.get(name)
    if listed is not None and (sha != listed["sha256"].lower() or size != listed["size_bytes"]):
        c.fail(f"{at}", f"({name}) has a sha256 or size that disagrees with files[{name!r}]")
    v = c.get(a, "verification", f"{at}.verification", "object")
    for key in ("max_abs_logit_diff", "label_agreement"):
        c.get(v, key, f"{at}.verification.{key}", "number")
    for key in ("accuracy", "reference_accuracy"):
        c.get(v, key, f"{at}.verification.{key}", "number", optional=True, nullable=True)
    _export(c, c.get(a, "export", f"{at}.export", "object"), f"{at}.export")


def _export(c: _Checker, export: dict, at: str) -> None:
    points = c.get(export, "entry_points", f"{at}.entry_points", "object", optional=True) or {}
    for k, v in points.items():
        if not isinstance(v, str):
            c.fail(f"{at}.entry_points[{k[:20]!r}]", f"must be a string, not {_kind(v)}")
    d = c.get(export, "delegation", f"{at}.delegation", "object", optional=True, nullable=True)
    if d:
        for key in ("delegated_ops", "delegate_calls"):
            c.get(d, key, f"{at}.delegation.{key}", "integer")
        for key in ("delegated_share", "delegated_flop_share"):
            c.get(d, key, f"{at}.delegation.{key}", "number")
        for key, optional in (("not_delegated", False), ("why_not_delegated", True)):
            counts = c.get(d, key, f"{at}.delegation.{key}", "object", optional=optional) or {}
            for op, n in counts.items():
                if not _KINDS["integer"][0](n):
                    c.fail(f"{at}.delegation.{key}[{op[:40]!r}]", f"must be an integer, not {_kind(n)}")
