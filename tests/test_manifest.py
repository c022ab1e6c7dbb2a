"""The bundle manifest's schema (ondevice.manifest) and the one way a bundle is read (ondevice.bundle):
field checks that name the field, paths confined to the bundle, every used file checksummed, sizes
before sha256s, and a tokenizer built from the checked files only."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from ondevice.bundle import MANIFEST, bundle_file, load_manifest, load_tokenizer, sha256
from ondevice.errors import ArtifactError
from ondevice.manifest import is_plain_name, used_files, validate

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "fine", "movie", "."]
SETTINGS = {"lowercase": True, "max_length": 16, "cls_id": 2, "sep_id": 3, "pad_id": 0, "unk_id": 1}


def _facts(path: Path) -> dict:
    return {"sha256": sha256(path), "size_bytes": path.stat().st_size}


def _artifact(name: str, fmt: str, facts: dict) -> dict:
    return {
        "file": name,
        "format": fmt,
        "quantization": "fp32",
        "inputs": [{"name": "input_ids", "dtype": "int64", "shape": [1, 16]}],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": [1, 2]}],
        "seq_len": 16,
        "seq_lens": [16],
        "export": {"entry_points": {"16": "forward"}},
        "verification": {"max_abs_logit_diff": 1e-6, "label_agreement": 1.0, "accuracy": None},
        **facts,
    }


def write_bundle(d: Path) -> Path:
    """A small bundle of hand-made files (the artifacts are never run): what load_manifest reads."""
    d.mkdir()
    (d / "model.fp32.onnx").write_bytes(b"onnx bytes" * 100)
    (d / "model.fp32.pte").write_bytes(b"pte bytes" * 100)
    (d / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB))
    (d / "tokenizer_settings.json").write_text(json.dumps(SETTINGS))
    (d / "labels.json").write_text(json.dumps(["negative", "positive"]))
    files = {f.name: _facts(f) for f in sorted(d.iterdir())}
    manifest = {
        "schema_version": 1,
        "target": "host",
        "model": {"source": "test", "parameters": {"embeddings": 10, "encoder": 20, "head": 3}},
        "labels": ["negative", "positive"],
        "seq_len": 16,
        "seq_lens": [16],
        "tokenizer": {**SETTINGS, "vocab_file": "vocab.txt", "settings_file": "tokenizer_settings.json"},
        "artifacts": [
            _artifact("model.fp32.pte", "executorch", files["model.fp32.pte"]),
            _artifact("model.fp32.onnx", "onnx", files["model.fp32.onnx"]),
        ],
        "files": files,
    }
    (d / MANIFEST).write_text(json.dumps(manifest))
    return d


@pytest.fixture
def bundle(tmp_path) -> Path:
    return write_bundle(tmp_path / "bundle")


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / MANIFEST).read_text())


def _save(bundle: Path, m: dict) -> None:
    (bundle / MANIFEST).write_text(json.dumps(m))


def test_a_sound_bundle_loads(bundle):
    m = load_manifest(bundle)
    assert [a["file"] for a in m["artifacts"]] == ["model.fp32.pte", "model.fp32.onnx"]
    assert set(used_files(m)) == {
        "model.fp32.pte",
        "model.fp32.onnx",
        "vocab.txt",
        "tokenizer_settings.json",
        "labels.json",
    }
    tok = load_tokenizer(bundle, m)
    assert tok.token_ids(["a fine movie ."])[0] == [2, 5, 6, 7, 8, 3]


def test_older_artifacts_with_one_length_get_seq_lens(bundle):
    m = _manifest(bundle)
    for a in m["artifacts"]:
        del a["seq_lens"]
    _save(bundle, m)
    assert [a["seq_lens"] for a in load_manifest(bundle)["artifacts"]] == [[16], [16]]


MULTI = "multi_label_classification"


def _a(i: int, key: str, value=...):
    def change(m):
        if value is ...:
            del m["artifacts"][i][key]
        else:
            m["artifacts"][i][key] = value

    return change


def test_multi_label_thresholds_and_older_manifests_read(bundle):
    m = _manifest(bundle)  # as written before multi-label: no problem_type, so single-label
    assert "problem_type" not in validate(m, "b") and "thresholds" not in m
    m.update(problem_type="single_label_classification")
    validate(m, "b")
    m.update(problem_type=MULTI, thresholds=[0.05, 0.95])
    assert validate(m, "b")["thresholds"] == [0.05, 0.95]


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda m: m.update(schema_version=2), "manifest schema version 2 is not supported"),
        (lambda m: m.update(schema_version=True), "manifest schema version True is not supported"),
        (lambda m: m.pop("artifacts"), "artifacts is missing; export the bundle again"),
        (lambda m: m.update(artifacts={}), "artifacts must be a list, not an object"),
        (lambda m: m["artifacts"].append(7), "artifacts[2] must be an object, not an integer"),
        (_a(1, "file"), "artifacts[1].file is missing"),
        (_a(1, "file", 3), "artifacts[1].file must be a string, not an integer"),
        (_a(0, "file", "../model.fp32.pte"), "artifacts[0].file '../model.fp32.pte' is not a plain file name"),
        (_a(0, "file", "/abs/model.fp32.pte"), "is not a plain file name"),
        (_a(0, "format", "coreml"), "artifacts[0].format 'coreml' is not a known format"),
        (_a(0, "format", "onnx"), "artifacts[0].file 'model.fp32.pte' does not end in .onnx"),
        (_a(0, "seq_lens", [16, "32"]), "artifacts[0].seq_lens[1] must be a positive integer"),
        (_a(0, "seq_lens", []), "artifacts[0].seq_lens must list at least one length"),
        (_a(0, "inputs", []), "artifacts[0].inputs must list the artifact's inputs"),
        (_a(0, "sha256", "ab"), "artifacts[0].sha256 must be a sha256"),
        (_a(0, "size_bytes", 1.5), "artifacts[0].size_bytes must be an integer, not a number"),
        (_a(0, "size_bytes", 1), "has a sha256 or size that disagrees with files['model.fp32.pte']"),
        (_a(0, "verification"), "artifacts[0].verification is missing"),
        (_a(0, "export"), "artifacts[0].export is missing"),
        (lambda m: m["artifacts"][0]["outputs"][0].update(shape=[1, 3]), "gives 3 logits for the 2 labels"),
        (lambda m: m.pop("labels"), "labels is missing"),
        (lambda m: m.update(labels=[]), "labels must list at least one label"),
        (lambda m: m.update(labels=["a", None]), "labels[1] must be a non-empty string, not null"),
        (lambda m: m.update(seq_lens="16"), "seq_lens must be a list, not a string"),
        (lambda m: m.pop("model"), "model is missing"),
        (lambda m: m["tokenizer"].update(vocab_file="../vocab.txt"), "tokenizer.vocab_file '../vocab.txt'"),
        (lambda m: m["tokenizer"].update(settings_file="a/b.json"), "tokenizer.settings_file 'a/b.json'"),
        (lambda m: m["tokenizer"].update(lowercase=1), "tokenizer.lowercase must be true or false, not 1"),
        (lambda m: m["tokenizer"].update(colour="red"), "'colour' is not a tokenizer setting"),
        (lambda m: m.pop("files"), "files is missing: without the checksums of its files"),
        (lambda m: m["files"].pop("labels.json"), "files has no checksum for labels.json"),
        (lambda m: m["files"].pop("tokenizer_settings.json"), "files has no checksum for tokenizer_settings.json"),
        (lambda m: m["files"].update({"../x": m["files"]["vocab.txt"]}), "files key '../x'"),
        (lambda m: m["files"].update({"vocab.txt": "abc"}), "files['vocab.txt'] must be an object"),
        (lambda m: m["files"]["vocab.txt"].update(size_bytes=-1), "files['vocab.txt'].size_bytes must not be negative"),
        (lambda m: m.update(problem_type="regression"), "problem_type must be single_label_classification or multi"),
        (lambda m: m.update(thresholds=[0.5, 0.5]), "thresholds apply to multi_label_classification only"),
        (lambda m: m.update(problem_type=MULTI), "thresholds is missing"),
        (lambda m: m.update(problem_type=MULTI, thresholds=0.5), "thresholds must be a list, not a number"),
        (lambda m: m.update(problem_type=MULTI, thresholds=[0.5]), "thresholds lists 1 thresholds for the 2 labels"),
        (lambda m: m.update(problem_type=MULTI, thresholds=[0.5, 1]), "thresholds[1] must be a number between 0 and 1"),
        (lambda m: m.update(problem_type=MULTI, thresholds=[0, 0.5]), "thresholds[0] must be a number between 0 and 1"),
        (lambda m: m.update(problem_type=MULTI, thresholds=[True, 0.5]), "thresholds[0] must be a number"),
    ],
)
def test_schema_names_the_field(change, message, bundle):
    m = _manifest(bundle)
    change(m)
    with pytest.raises(ArtifactError) as e:
        validate(m, "b/ondevice.json")
    line = str(e.value)
    assert "\n" not in line and line.startswith("b/ondevice.json: ")
    assert message.lower() in line.lower()


def test_a_manifest_that_is_not_an_object():
    for doc, kind in (([], "a list"), (None, "null"), ("x", "a string")):
        with pytest.raises(ArtifactError, match=f"must be a JSON object, not {kind}"):
            validate(doc, "b/ondevice.json")


@pytest.mark.parametrize("name", ["model.pte", "vocab.txt", ".hidden", "a b", "été.onnx"])
def test_plain_names(name):
    assert is_plain_name(name)


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "/etc/passwd", "a/b", "a\\b", "a\nb", "a\x00b", "x" * 300])
def test_names_that_are_not_plain(name):
    assert not is_plain_name(name)


def test_sizes_are_checked_before_any_sha256(bundle):
    # labels.json sorts first and is changed in place (same size); the .pte, later, is truncated:
    # the truncation is what is reported, without reading every file first.
    (bundle / "labels.json").write_text(json.dumps(["negativf", "positive"]))
    os.truncate(bundle / "model.fp32.pte", 10)
    with pytest.raises(ArtifactError, match=r"model\.fp32\.pte: size 10 does not match the manifest's 900"):
        load_manifest(bundle)
    (bundle / "model.fp32.pte").write_bytes(b"pte bytes" * 100)
    with pytest.raises(ArtifactError, match=r"labels\.json: sha256 does not match the manifest"):
        load_manifest(bundle)


def test_links_inside_the_bundle_are_followed_links_out_are_refused(bundle, tmp_path):
    (bundle / "copy.txt").write_bytes((bundle / "vocab.txt").read_bytes())
    (bundle / "vocab.txt").unlink()
    (bundle / "vocab.txt").symlink_to("copy.txt")
    assert bundle_file(bundle, "vocab.txt") == bundle / "vocab.txt"
    load_manifest(bundle)
    outside = tmp_path / "outside.txt"
    outside.write_bytes((bundle / "copy.txt").read_bytes())
    (bundle / "vocab.txt").unlink()
    (bundle / "vocab.txt").symlink_to(outside)
    with pytest.raises(ArtifactError, match=r"vocab\.txt: a symbolic link to .*outside\.txt, outside the bundle"):
        load_manifest(bundle)
    (bundle / "vocab.txt").unlink()
    (bundle / "vocab.txt").symlink_to("vocab.txt")  # a loop
    with pytest.raises(ArtifactError, match="leads nowhere"):
        load_manifest(bundle)


def test_the_manifest_itself_must_be_inside_the_bundle(bundle, tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes((bundle / MANIFEST).read_bytes())
    (bundle / MANIFEST).unlink()
    (bundle / MANIFEST).symlink_to(outside)
    with pytest.raises(ArtifactError, match="outside the bundle"):
        load_manifest(bundle)


def test_names_and_paths_are_checked_even_without_file_checks(bundle):
    m = _manifest(bundle)
    m["tokenizer"]["vocab_file"] = "/etc/passwd"
    _save(bundle, m)
    with pytest.raises(ArtifactError, match="tokenizer.vocab_file '/etc/passwd' is not a plain file name"):
        load_manifest(bundle, check_files=False)


def test_checked_json_files_of_the_wrong_shape(bundle):
    def rewrite(name: str, text: str) -> None:
        (bundle / name).write_text(text)
        m = _manifest(bundle)
        m["files"][name] = _facts(bundle / name)
        _save(bundle, m)

    rewrite("labels.json", '{"negative": 0}')
    with pytest.raises(ArtifactError, match=r"labels\.json: not a JSON list of label names"):
        load_manifest(bundle)
    rewrite("labels.json", '["positive", "negative"]')
    with pytest.raises(ArtifactError, match=r'labels\.json lists \["positive", "negative"\] but ondevice\.json has'):
        load_manifest(bundle)
    rewrite("labels.json", '["negative", "positive"]')
    rewrite("tokenizer_settings.json", "[1, 2]")
    with pytest.raises(
        ArtifactError, match=r"tokenizer_settings\.json: the settings must be a JSON object, not a list"
    ):
        load_manifest(bundle)
    rewrite("tokenizer_settings.json", '{"max_length": "16"}')
    with pytest.raises(ArtifactError, match=r"tokenizer_settings\.json: max_length must be a positive integer"):
        load_manifest(bundle)


def test_the_tokenizer_comes_from_checked_files_only(bundle):
    # A tokenizer.json that the manifest does not list is never read, however broken it is.
    (bundle / "tokenizer.json").write_text("{ not a tokenizer")
    m = load_manifest(bundle)
    assert load_tokenizer(bundle, m).token_ids(["a movie"])[0] == [2, 5, 7, 3]
    # Listed (and so checked), it is the one used, as the app uses it.
    m = _manifest(bundle)
    m["files"]["tokenizer.json"] = _facts(bundle / "tokenizer.json")
    _save(bundle, m)
    with pytest.raises(ArtifactError, match=r"tokenizer\.json cannot be read"):
        load_tokenizer(bundle, load_manifest(bundle))


def test_validate_does_not_change_a_sound_manifest(bundle):
    m = _manifest(bundle)
    assert validate(copy.deepcopy(m), "x") == m
