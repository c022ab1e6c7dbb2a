"""Fault table: bundles and manifests that must not be trusted, and damaged artifacts.

Each case copies the tiny verified bundle into its workspace, damages the copy (the manifest's shape,
a path that leads outside the bundle, a file without a checksum, a changed or truncated file, a
tokenizer or labels file of the wrong shape) and runs `run`, `inspect` or `profile` on it: one
`Error:` line that names the file and the field, exit 1, nothing written.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Callable

import pytest
from harness import Case, check, copy_bundle

from ondevice.bundle import MANIFEST, sha256

TEXT = "a gorgeous , witty , seductive movie ."


def _run(where: str) -> list[str]:
    return ["run", where, TEXT]


def _run_tflite(where: str) -> list[str]:
    return ["run", where, TEXT, "--format", "tflite"]


def _inspect(where: str) -> list[str]:
    return ["inspect", where]


def _profile(where: str, runner: str = "python") -> list[str]:
    return ["profile", where, "--target", "host", "--runner", runner, "--runs", "2", "--warmup", "0", "--out", "res"]


def damaged(damage: Callable[[Path], None], command: Callable[[str], list[str]] = _run, target: str = ""):
    """An argv maker: the tiny bundle copied into the workspace, ``damage`` done to the copy, then the
    command on the bundle (or on ``target``, a file of it)."""

    def make(source: Path, ws: Path) -> list[str]:
        bundle = copy_bundle(source, ws)
        damage(bundle)
        return command(f"bundle/{target}" if target else "bundle")

    return make


def edit(change: Callable[[dict], object]) -> Callable[[Path], None]:
    """Change the parsed manifest in place; a change that returns something replaces it."""

    def damage(bundle: Path) -> None:
        m = json.loads((bundle / MANIFEST).read_text())
        new = change(m)
        (bundle / MANIFEST).write_text(json.dumps(m if new is None else new))

    return damage


def rehash(bundle: Path, name: str) -> None:
    """List a file's current sha256 and size in the manifest: the bundle is consistent, the file is wrong."""
    m = json.loads((bundle / MANIFEST).read_text())
    m["files"][name] = {"sha256": sha256(bundle / name), "size_bytes": (bundle / name).stat().st_size}
    for a in m["artifacts"]:
        if a["file"] == name:
            a["sha256"], a["size_bytes"] = m["files"][name]["sha256"], m["files"][name]["size_bytes"]
    (bundle / MANIFEST).write_text(json.dumps(m))


def rewrite(name: str, content: bytes) -> Callable[[Path], None]:
    """Replace a file of the bundle and record its new checksum, so that its content is what is refused."""

    def damage(bundle: Path) -> None:
        (bundle / name).write_bytes(content)
        rehash(bundle, name)

    return damage


def flip(name: str, at: float = 0.5, length: int = 64) -> Callable[[Path], None]:
    """Invert ``length`` bytes of a file at a fraction of its size: same size, other content."""

    def damage(bundle: Path) -> None:
        data = bytearray((bundle / name).read_bytes())
        start = int(len(data) * at)
        for i in range(start, min(len(data), start + length)):
            data[i] ^= 0xFF
        (bundle / name).write_bytes(bytes(data))

    return damage


def truncate(name: str) -> Callable[[Path], None]:
    def damage(bundle: Path) -> None:
        f = bundle / name
        os.truncate(f, f.stat().st_size // 2)

    return damage


def both(*damages: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(bundle: Path) -> None:
        for d in damages:
            d(bundle)

    return damage


def outside_copy(name: str, listed_as: str | None = None) -> Callable[[Path], None]:
    """Move a file of the bundle next to it (outside) and point the manifest there: the checksum matches."""

    def damage(bundle: Path) -> None:
        shutil.move(bundle / name, bundle.parent / name)
        m = json.loads((bundle / MANIFEST).read_text())
        target = listed_as or f"../{name}"
        m["files"][target] = m["files"].pop(name)
        for a in m["artifacts"]:
            if a["file"] == name:
                a["file"] = target
        for key in ("vocab_file", "settings_file"):
            if m["tokenizer"][key] == name:
                m["tokenizer"][key] = target
        (bundle / MANIFEST).write_text(json.dumps(m))

    return damage


def symlink_outside(name: str) -> Callable[[Path], None]:
    """Replace a file by a symbolic link to an identical copy outside the bundle (its checksum matches)."""

    def damage(bundle: Path) -> None:
        outside = bundle.parent / f"outside-{name}"
        shutil.move(bundle / name, outside)
        (bundle / name).symlink_to(outside.resolve())

    return damage


def symlink_to(name: str, target: str) -> Callable[[Path], None]:
    def damage(bundle: Path) -> None:
        (bundle / name).unlink()
        (bundle / name).symlink_to(target)

    return damage


def fifo(name: str) -> Callable[[Path], None]:
    def damage(bundle: Path) -> None:
        (bundle / name).unlink()
        os.mkfifo(bundle / name)

    return damage


def directory(name: str) -> Callable[[Path], None]:
    def damage(bundle: Path) -> None:
        (bundle / name).unlink()
        (bundle / name).mkdir()

    return damage


def write(name: str, content: bytes) -> Callable[[Path], None]:
    def damage(bundle: Path) -> None:
        (bundle / name).write_bytes(content)

    return damage


def _artifact(i: int, **fields) -> Callable[[dict], None]:
    def change(m: dict) -> None:
        for key, value in fields.items():
            if value is ...:
                m["artifacts"][i].pop(key)
            else:
                m["artifacts"][i][key] = value

    return change


def _drop(*keys: str) -> Callable[[dict], None]:
    def change(m: dict) -> None:
        node = m
        for k in keys[:-1]:
            node = node[k]
        node.pop(keys[-1])

    return change


def _set(keys: tuple, value) -> Callable[[dict], None]:
    def change(m: dict) -> None:
        node = m
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value

    return change


def _damaged_pte(ws_name: str) -> Callable[[Path, Path], list[str]]:
    """A .pte outside any bundle (no checksum to check) with its program's flatbuffer damaged, profiled
    with the native runner: the runner must report ExecuTorch's own error, not crash or a log line."""

    def make(source: Path, ws: Path) -> list[str]:
        data = bytearray((source / "model.fp32.pte").read_bytes())
        for i in range(64, 2048):  # the program's tables, past the header that check_file reads
            data[i] ^= 0x5A
        (ws / ws_name).write_bytes(bytes(data))
        return _profile(ws_name, runner="native")

    return make


M = "manifest"
CASES = [
    # The manifest itself: not JSON, not an object, of another version, too large or too deep.
    Case(M, "manifest not JSON", damaged(write(MANIFEST, b"{not json")), "is not valid json", 1),
    Case(M, "manifest a list", damaged(edit(lambda m: [m])), "must be a json object, not a list", 1),
    Case(M, "manifest null", damaged(write(MANIFEST, b"null")), "must be a json object, not null", 1),
    Case(M, "manifest not UTF-8", damaged(write(MANIFEST, b'{"schema_version": 1, "x": "\xff\xfe"}')), "valid json", 1),
    Case(M, "manifest nested too deeply", damaged(write(MANIFEST, b"[" * 200_000)), "nested too deeply", 1),
    Case(M, "manifest of 17 MB", damaged(write(MANIFEST, b" " * (17 << 20))), "too large for a manifest", 1),
    Case(M, "manifest a directory", damaged(directory(MANIFEST)), "not a regular file", 1),
    Case(M, "manifest a link outside", damaged(symlink_outside(MANIFEST)), "outside the bundle", 1),
    Case(M, "schema_version 2", damaged(edit(_set(("schema_version",), 2))), "schema version 2 is not supported", 1),
    Case(M, "schema_version a string", damaged(edit(_set(("schema_version",), "1"))), "schema version '1'", 1),
    Case(M, "schema_version true", damaged(edit(_set(("schema_version",), True))), "schema version true", 1),
    # Required fields and their types.
    Case(M, "no artifacts", damaged(edit(_drop("artifacts"))), "artifacts is missing", 1),
    Case(
        M,
        "artifacts a string",
        damaged(edit(_set(("artifacts",), "model.fp32.pte"))),
        "artifacts must be a list, not a string",
        1,
    ),
    Case(
        M, "artifacts empty", damaged(edit(_set(("artifacts",), [])), _inspect), "artifacts must list at least one", 1
    ),
    Case(
        M,
        "artifact a string",
        damaged(edit(lambda m: m["artifacts"].__setitem__(1, "x.pte"))),
        "artifacts[1] must be an object",
        1,
    ),
    Case(M, "artifact without file", damaged(edit(_artifact(0, file=...))), "artifacts[0].file is missing", 1),
    Case(
        M,
        "artifact file a list",
        damaged(edit(_artifact(1, file=["model.fp32.tflite"]))),
        "artifacts[1].file must be a string, not a list",
        1,
    ),
    Case(
        M,
        "artifact format unknown",
        damaged(edit(_artifact(0, format="coreml")), _inspect),
        "'coreml' is not a known format",
        1,
    ),
    Case(M, "artifact format of another file", damaged(edit(_artifact(0, format="onnx"))), "does not end in .onnx", 1),
    Case(
        M,
        "artifact seq_lens a string",
        damaged(edit(_artifact(0, seq_lens="16"))),
        "artifacts[0].seq_lens must be a list",
        1,
    ),
    Case(
        M,
        "artifact seq_lens zero",
        damaged(edit(_artifact(2, seq_lens=[0]))),
        "artifacts[2].seq_lens[0] must be a positive integer",
        1,
    ),
    Case(M, "artifact inputs missing", damaged(edit(_artifact(0, inputs=...))), "artifacts[0].inputs is missing", 1),
    Case(
        M,
        "artifact input dtype float",
        damaged(edit(lambda m: m["artifacts"][0]["inputs"][0].update(dtype="float32"))),
        "inputs[0].dtype 'float32' is not int32 or int64",
        1,
    ),
    Case(
        M,
        "artifact sha256 not hex",
        damaged(edit(_artifact(0, sha256="zz"))),
        "artifacts[0].sha256 must be a sha256",
        1,
    ),
    Case(
        M,
        "artifact size a string",
        damaged(edit(_artifact(0, size_bytes="8 MB"))),
        "artifacts[0].size_bytes must be an integer",
        1,
    ),
    Case(
        M,
        "artifact sha256 disagrees with files",
        damaged(edit(_artifact(0, sha256="0" * 64))),
        "disagrees with files",
        1,
    ),
    Case(
        M,
        "artifact outputs for 5 labels",
        damaged(edit(lambda m: m["artifacts"][0]["outputs"][0].update(shape=[1, 5]))),
        "gives 5 logits for the 3 labels",
        1,
    ),
    Case(
        M,
        "artifact verification missing",
        damaged(edit(_artifact(0, verification=...)), _inspect),
        "artifacts[0].verification is missing",
        1,
    ),
    Case(
        M,
        "artifact verification figure a string",
        damaged(edit(lambda m: m["artifacts"][0]["verification"].update(max_abs_logit_diff="tiny")), _inspect),
        "max_abs_logit_diff must be a number",
        1,
    ),
    Case(
        M,
        "delegation report mangled",
        damaged(edit(lambda m: m["artifacts"][0]["export"]["delegation"].update(not_delegated=[])), _inspect),
        "delegation.not_delegated must be an object",
        1,
    ),
    Case(M, "no labels", damaged(edit(_drop("labels"))), "labels is missing", 1),
    Case(
        M, "labels a string", damaged(edit(_set(("labels",), "neg,neu,pos"))), "labels must be a list, not a string", 1
    ),
    Case(
        M,
        "label a number",
        damaged(edit(_set(("labels",), ["neg", 1, "pos"]))),
        "labels[1] must be a non-empty string",
        1,
    ),
    Case(M, "labels twice", damaged(edit(_set(("labels",), ["neg", "neg", "pos"]))), "lists a label twice", 1),
    Case(M, "no tokenizer", damaged(edit(_drop("tokenizer"))), "tokenizer is missing", 1),
    Case(
        M,
        "tokenizer setting mistyped",
        damaged(edit(_set(("tokenizer", "lowercase"), "yes"))),
        "tokenizer.lowercase must be true or false",
        1,
    ),
    Case(M, "tokenizer id missing", damaged(edit(_drop("tokenizer", "cls_id"))), "tokenizer.cls_id is missing", 1),
    Case(
        M,
        "model parameters zero",
        damaged(edit(_set(("model", "parameters"), {"encoder": 0})), _inspect),
        "model.parameters must count at least one",
        1,
    ),
    Case(
        M, "seq_lens null", damaged(edit(_set(("seq_lens",), None)), _inspect), "seq_lens must be a list, not null", 1
    ),
    # Every file the bundle uses is covered by a checksum: leaving `files` out does not switch checking off.
    Case(
        M, "no files, corrupt .pte", damaged(both(edit(_drop("files")), flip("model.fp32.pte"))), "files is missing", 1
    ),
    Case(M, "no files via inspect", damaged(edit(_drop("files")), _inspect), "files is missing", 1),
    Case(
        M, "no files via inspect FILE", damaged(edit(_drop("files")), _inspect, "model.fp32.pte"), "files is missing", 1
    ),
    Case(M, "files a list", damaged(edit(_set(("files",), []))), "files must be an object, not a list", 1),
    Case(
        M,
        "files without an artifact",
        damaged(edit(_drop("files", "model.fp32.onnx"))),
        "has no checksum for model.fp32.onnx",
        1,
    ),
    Case(
        M,
        "files without the vocabulary",
        damaged(edit(_drop("files", "vocab.txt"))),
        "has no checksum for vocab.txt",
        1,
    ),
    Case(
        M,
        "files without the tokenizer settings",
        damaged(edit(_drop("files", "tokenizer_settings.json")), _inspect),
        "no checksum for tokenizer_settings.json",
        1,
    ),
    Case(
        M,
        "files without labels.json",
        damaged(edit(_drop("files", "labels.json"))),
        "has no checksum for labels.json",
        1,
    ),
    Case(
        M,
        "files entry without sha256",
        damaged(edit(_drop("files", "vocab.txt", "sha256"))),
        "files['vocab.txt'].sha256 is missing",
        1,
    ),
    # Paths confined to the bundle.
    Case(
        M, "artifact ../x", damaged(outside_copy("model.fp32.pte")), "'../model.fp32.pte' is not a plain file name", 1
    ),
    Case(
        M,
        "artifact /etc/passwd",
        damaged(edit(lambda m: m["artifacts"][0].update(file="/etc/passwd.pte"))),
        "is not a plain file name",
        1,
    ),
    Case(
        M,
        "artifact in a subdirectory",
        damaged(edit(lambda m: m["artifacts"][0].update(file="sub/model.fp32.pte")), _inspect),
        "is not a plain file name",
        1,
    ),
    Case(
        M,
        "artifact named ..",
        damaged(edit(lambda m: m["artifacts"][0].update(file=".."))),
        "is not a plain file name",
        1,
    ),
    Case(
        M,
        "artifact name with a newline",
        damaged(edit(lambda m: m["artifacts"][0].update(file="model\n.pte"))),
        "is not a plain file name",
        1,
    ),
    Case(
        M,
        "vocab_file ../vocab.txt",
        damaged(outside_copy("vocab.txt")),
        "tokenizer.vocab_file '../vocab.txt' is not a plain file name",
        1,
    ),
    Case(
        M,
        "settings_file absolute",
        damaged(edit(_set(("tokenizer", "settings_file"), "/etc/hostname")), _inspect),
        "tokenizer.settings_file '/etc/hostname'",
        1,
    ),
    Case(
        M,
        "files key ../../etc/passwd",
        damaged(edit(lambda m: m["files"].update({"../../etc/passwd": m["files"]["vocab.txt"]}))),
        "is not a plain file name",
        1,
    ),
    Case(M, "artifact a link outside", damaged(symlink_outside("model.fp32.pte")), "outside the bundle", 1),
    Case(M, "vocabulary a link outside", damaged(symlink_outside("vocab.txt"), _inspect), "outside the bundle", 1),
    Case(M, "labels a link to /dev/zero", damaged(symlink_to("labels.json", "/dev/zero")), "outside the bundle", 1),
    Case(M, "dangling link", damaged(symlink_to("tokenizer.json", "nowhere.json")), "leads nowhere", 1),
    Case(M, "artifact a FIFO", damaged(fifo("model.fp32.onnx")), "not a regular file", 1),
    # Files that do not match their checksums: sizes first, then sha256, before anything runs.
    Case(M, "truncated .pte via run", damaged(truncate("model.fp32.pte")), "model.fp32.pte: size", 1),
    Case(M, "truncated .pte via inspect", damaged(truncate("model.fp32.pte"), _inspect), "model.fp32.pte: size", 1),
    Case(
        M,
        "truncated .pte via inspect FILE",
        damaged(truncate("model.fp32.pte"), _inspect, "model.fp32.pte"),
        "model.fp32.pte: size",
        1,
    ),
    Case(
        M,
        "truncated other artifact via inspect FILE",
        damaged(truncate("model.fp32.onnx"), _inspect, "model.fp32.pte"),
        "model.fp32.onnx: size",
        1,
    ),
    Case(
        M,
        "flipped bytes in .tflite",
        damaged(flip("model.fp32.tflite"), _run_tflite),
        "model.fp32.tflite: sha256 does not match",
        1,
    ),
    Case(
        M,
        "flipped bytes in the vocabulary",
        damaged(flip("vocab.txt", 0.3, 8), _inspect),
        "vocab.txt: sha256 does not match",
        1,
    ),
    Case(
        M,
        "missing vocabulary",
        damaged(lambda b: (b / "vocab.txt").unlink()),
        "vocab.txt: listed in the manifest but missing",
        1,
    ),
    # Checked files of the wrong shape: the tokenizer settings and the labels the app reads.
    Case(
        M,
        "tokenizer settings a list",
        damaged(rewrite("tokenizer_settings.json", b"[]")),
        "tokenizer_settings.json: the settings must be a json object, not a list",
        1,
    ),
    Case(
        M,
        "tokenizer setting mistyped in file",
        damaged(rewrite("tokenizer_settings.json", b'{"lowercase": "yes"}'), _inspect),
        "tokenizer_settings.json: lowercase must be true or false",
        1,
    ),
    Case(
        M,
        "tokenizer setting unknown",
        damaged(rewrite("tokenizer_settings.json", b'{"lowercse": true}')),
        "'lowercse' is not a tokenizer setting",
        1,
    ),
    Case(
        M,
        "tokenizer settings not JSON",
        damaged(rewrite("tokenizer_settings.json", b"{")),
        "tokenizer_settings.json is not valid json",
        1,
    ),
    Case(
        M,
        "tokenizer.json garbage",
        damaged(rewrite("tokenizer.json", b'{"model": 7}')),
        "tokenizer.json cannot be read",
        1,
    ),
    Case(
        M,
        "vocabulary without [CLS]",
        damaged(both(edit(_drop("files", "tokenizer.json")), rewrite("vocab.txt", b"[PAD]\n[UNK]\nhello\n"))),
        "vocab.txt cannot be read as a vocabulary",
        1,
    ),
    Case(
        M,
        "labels.json an object",
        damaged(rewrite("labels.json", b'{"0": "neg"}')),
        "labels.json: not a json list of label names",
        1,
    ),
    Case(
        M, "labels.json other labels", damaged(rewrite("labels.json", b'["pos", "neu", "neg"]')), "labels.json lists", 1
    ),
    # Other readers: profile goes through the same load.
    Case(
        M,
        "profile a corrupt bundle",
        damaged(flip("model.fp32.onnx"), _profile),
        "model.fp32.onnx: sha256 does not match",
        1,
    ),
    Case(M, "profile a bundle without files", damaged(edit(_drop("files")), _profile), "files is missing", 1),
    Case(
        M, "profile an artifact ../x", damaged(outside_copy("model.fp32.onnx"), _profile), "is not a plain file name", 1
    ),
    Case(
        M,
        "profile FILE, settings a list",
        damaged(rewrite("tokenizer_settings.json", b"[]"), _profile, "model.fp32.onnx"),
        "must be a json object",
        1,
    ),
    Case("runner", "native runner on a damaged .pte", _damaged_pte("damaged.pte"), "error 0x23: invalidprogram", 1),
]


@pytest.fixture(scope="module")
def runner_cache(tmp_path_factory) -> Path:
    """One cache for the module's cases: the native runner is built once."""
    return tmp_path_factory.mktemp("runner-cache")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_manifest_fault(case: Case, tiny_bundle: Path, workspace: Path, runner_cache: Path, monkeypatch) -> None:
    if case.klass == "runner":
        if shutil.which("g++") is None:
            pytest.skip("the native runner needs g++")
        monkeypatch.setenv("XDG_CACHE_HOME", str(runner_cache))
    check(replace(case, argv=partial(case.argv, tiny_bundle)), workspace)
