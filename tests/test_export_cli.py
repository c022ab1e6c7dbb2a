"""`ondevice export`, `inspect` and `run` on the real default model, through the CLI."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ondevice.bundle import sha256
from ondevice.cli import cli


@pytest.fixture(scope="module")
def sst2_sample(sst2_dev, tmp_path_factory):
    lines = sst2_dev.read_text().splitlines()
    f = tmp_path_factory.mktemp("data") / "dev100.tsv"
    f.write_text("\n".join(lines[:101]) + "\n")
    return f


@pytest.fixture(scope="module")
def android_bundle(sst2_sample, tmp_path_factory):
    """The README's main job: the default model for Android, verified on real sentences."""
    out = tmp_path_factory.mktemp("bundles") / "android"
    assets = tmp_path_factory.mktemp("app") / "assets"
    r = CliRunner().invoke(
        cli,
        [
            "export",
            "--target",
            "android",
            "--data",
            str(sst2_sample),
            "--out",
            str(out),
            "--copy-to",
            str(assets),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout), assets


def test_android_bundle_has_everything_the_app_needs(android_bundle):
    out, manifest, assets = android_bundle
    names = {p.name for p in out.iterdir()}
    assert {
        "model.int8-dynamic.pte",
        "model.int8-dynamic.tflite",
        "vocab.txt",
        "tokenizer_settings.json",
        "labels.json",
        "ondevice.json",
    } <= names
    assert {p.name for p in assets.iterdir()} == names
    assert manifest["labels"] == ["negative", "positive"] and manifest["seq_lens"] == [128]
    assert manifest["tokenizer"]["lowercase"] is True and manifest["tokenizer"]["cls_id"] == 101
    for a in manifest["artifacts"]:
        assert a["inputs"][0] == {"name": "input_ids", "dtype": "int32", "shape": [1, 128]}
        assert a["sha256"] == sha256(out / a["file"])
        v = a["verification"]
        assert v["passed"] and v["sentences"] == 100
        assert v["label_agreement"] >= 0.98 and v["accuracy"] >= v["reference_accuracy"] - 0.01
        assert a["runtime"]["version"] and all(a["converter"].values())
    for name, facts in manifest["files"].items():
        assert facts["sha256"] == sha256(out / name)


def test_run_bundle_texts(android_bundle):
    out, _, _ = android_bundle
    long_text = "a tediously long and boring film . " * 60
    r = CliRunner().invoke(
        cli, ["run", str(out), "a gorgeous , witty , seductive movie .", "", long_text, "--format", "tflite", "--json"]
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)["results"]
    assert res[0]["label"] == "positive" and res[0]["probabilities"]["positive"] > 0.9
    assert res[1]["tokens"] == 2 and not res[1]["truncated"]  # empty text: [CLS] [SEP], a valid output
    assert res[2]["truncated"] and res[2]["tokens"] > 128 and res[2]["label"] == "negative"
    r = CliRunner().invoke(cli, ["run", str(out / "model.int8-dynamic.pte"), "what a waste of time"])
    assert r.exit_code == 0 and r.stdout.startswith("negative")
    assert "truncated" not in r.stdout


def test_inspect(android_bundle):
    out, _, _ = android_bundle
    r = CliRunner().invoke(cli, ["inspect", str(out), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    pte = next(a for a in info["artifacts"] if a["format"] == "executorch")
    assert set(pte["size_by_part"]) == {"embeddings", "encoder", "head"}
    assert pte["export"]["delegation"]["delegated_share"] > 0.8
    assert pte["export"]["delegation"]["delegated_flop_share"] > 0.95
    r = CliRunner().invoke(cli, ["inspect", str(out / "model.int8-dynamic.pte")])
    assert r.exit_code == 0 and "XNNPACK" in r.stdout


def test_int8_is_at_most_30_percent_of_fp32(sst2_sample, tmp_path):
    out = tmp_path / "host"
    r = CliRunner().invoke(
        cli,
        [
            "export",
            "--target",
            "host",
            "--format",
            "executorch,tflite",
            "--quantize",
            "fp32,int8-dynamic",
            "--data",
            str(sst2_sample),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    arts = {(a["format"], a["quantization"]): a for a in json.loads(r.stdout)["artifacts"]}
    for fmt in ("executorch", "tflite"):
        fp32, int8 = arts[(fmt, "fp32")], arts[(fmt, "int8-dynamic")]
        assert fp32["verification"]["max_abs_logit_diff"] <= 1e-3
        assert fp32["inputs"][0]["dtype"] == "int64"
        print(fmt, fp32["size_bytes"], int8["size_bytes"], int8["size_bytes"] / fp32["size_bytes"])
        assert int8["size_bytes"] <= 0.30 * fp32["size_bytes"]


def _error_line(r):
    assert r.exit_code != 0 and "Traceback" not in r.output
    return [line for line in r.stderr.splitlines() if line.strip()][-1]


def test_corrupted_bundle_is_refused(android_bundle, tmp_path):
    import shutil

    out, _, _ = android_bundle
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    data = bytearray((bad / "model.int8-dynamic.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "model.int8-dynamic.tflite").write_bytes(bytes(data))
    line = _error_line(CliRunner().invoke(cli, ["run", str(bad), "fine", "--format", "tflite"]))
    assert "model.int8-dynamic.tflite: sha256 does not match the manifest" in line


@pytest.mark.parametrize(
    "args,message",
    [
        (["--target", "iphone"], "unknown target 'iphone'"),
        (["--format", "coreml"], "unknown format 'coreml'"),
        (["--quantize", "int3"], "unknown quantization 'int3'"),
        (["--seq-len", "1024"], "--seq-len 1024 is outside what the model can take"),
    ],
)
def test_bad_export_options(args, message, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["export", *args, "--out", str(out)])
    assert r.exit_code == 2 and message in r.stderr
    assert not out.exists()


def test_int8_static_calibrates_on_training_sentences(sst2_dev, sst2_sample, tmp_path):
    out = tmp_path / "static"
    fmts = "executorch,tflite"
    args = ["export", "--target", "host", "--format", fmts, "--quantize", "int8-static", "--seq-len", "32"]
    r = CliRunner().invoke(cli, [*args, "--data", str(sst2_sample), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    arts = json.loads(r.stdout)["artifacts"]
    assert [a["format"] for a in arts] == fmts.split(",")
    for art in arts:
        calibration = art["export"]["calibration"]
        assert calibration["data"].endswith("sst2_train_sample.tsv") and calibration["sentences"] == 256
        check = art["verification"]
        assert check["label_agreement"] >= 0.98 and check["sentences"] == 100
        # logits that reach +-4 are not clipped by a range calibrated too narrow
        assert check["max_abs_logit_diff"] < 0.5, (art["file"], check)
    # the shipped calibration sentences come from SST-2 train: none of them is a dev sentence
    train = {line.split("\t", 1)[1] for line in Path(calibration["data"]).read_text().splitlines()[1:]}
    dev = {line.split("\t", 1)[1] for line in sst2_dev.read_text().splitlines()[1:]}
    assert len(train) == 256 and not train & dev
    missing = tmp_path / "no-such.tsv"
    r = CliRunner().invoke(cli, [*args, "--calibration", str(missing), "--out", str(tmp_path / "x")])
    assert str(missing) in _error_line(r) and not (tmp_path / "x").exists()


def test_existing_output_needs_force(tmp_path, sst2_sample):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = CliRunner().invoke(cli, ["export", "--format", "onnx", "--data", str(sst2_sample), "--out", str(out)])
    assert "exists and is not empty; use --force" in _error_line(r)
    assert (out / "keep.txt").read_text() == "mine"


def test_failed_verification_leaves_nothing(tmp_path, sst2_sample):
    out = tmp_path / "out"
    # No int8 model agrees on more than every sentence: the check must fail, and the export with it.
    r = CliRunner().invoke(
        cli,
        [
            "export",
            "--target",
            "host",
            "--format",
            "onnx",
            "--quantize",
            "fp32,int8-dynamic",
            "--data",
            str(sst2_sample),
            "--out",
            str(out),
            "--max-logit-diff",
            "1e-12",
        ],
    )
    line = _error_line(r)
    assert "onnx fp32 artifact failed verification" in line and "max |Δlogit|" in line
    assert list(tmp_path.iterdir()) == []  # neither the bundle nor its temporary directory


def test_several_lengths_in_one_artifact(sst2_sample, tmp_path):
    """--seq-len 32,128: one entry point per length, every length verified, the runner picks the smallest fit."""
    out = tmp_path / "multi"
    r = CliRunner().invoke(
        cli,
        [
            "export",
            "--format",
            "executorch,tflite",
            "--seq-len",
            "32,128",
            "--data",
            str(sst2_sample),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    manifest = json.loads(r.stdout)
    assert manifest["seq_lens"] == [32, 128] and manifest["tokenizer"]["max_length"] == 128
    for a in manifest["artifacts"]:
        assert set(a["verification"]["per_length"]) == {"32", "128"}
        assert len(a["export"]["entry_points"]) == 2
    sizes = {a["format"]: a["size_bytes"] for a in manifest["artifacts"]}
    assert sizes["executorch"] < 30e6  # the weights are stored once, not once per length
    r = CliRunner().invoke(cli, ["run", str(out), "fine", "word " * 50, "--json"])
    assert r.exit_code == 0, r.output
    short, long_ = json.loads(r.stdout)["results"]
    assert short["seq_len"] == 32 and not short["truncated"]
    assert long_["seq_len"] == 128 and not long_["truncated"]


@pytest.mark.parametrize("command", ["inspect", "run"])
def test_inspect_and_run_refuse_what_is_not_a_bundle(command, tmp_path):
    args = [command, str(tmp_path / "missing")] + (["text"] if command == "run" else [])
    assert "no such file or bundle" in _error_line(CliRunner().invoke(cli, args))
    (tmp_path / "empty").mkdir()
    args = [command, str(tmp_path / "empty")] + (["text"] if command == "run" else [])
    assert "is not an ondevice bundle" in _error_line(CliRunner().invoke(cli, args))
    (tmp_path / "model.pte").write_bytes(b"not a program")
    args = [command, str(tmp_path / "model.pte")] + (["text"] if command == "run" else [])
    line = _error_line(CliRunner().invoke(cli, args))
    # inspect checks a bare artifact's header; run needs the bundle around it (tokenizer, labels)
    assert ("model.pte" in line) if command == "inspect" else ("is not an ondevice bundle" in line)


def test_combined_verification_takes_accuracy_and_reference_from_one_length():
    """A short length truncates sentences for the artifact and PyTorch alike: its figures go together."""
    from ondevice.export import _combine

    def check(acc, ref, agree):
        return {"sentences": 10, "max_abs_logit_diff": 0.1, "label_agreement": agree, "accuracy": acc,
                "reference_accuracy": ref, "thresholds": {}, "failures": []}  # fmt: skip

    combined = _combine({32: check(0.88, 0.885, 0.99), 128: check(0.89, 0.90, 0.98)})
    assert (combined["accuracy"], combined["reference_accuracy"]) == (0.89, 0.90)  # 128 loses the most
    assert combined["label_agreement"] == 0.98 and combined["passed"]
