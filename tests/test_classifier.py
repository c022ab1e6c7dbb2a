"""`ondevice.Classifier` on a real exported bundle: selection, predictions, errors, and the same answers
as `ondevice run --json`."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ondevice import Classifier
from ondevice.commands.run import run
from ondevice.errors import ArtifactError, ConfigError, OndeviceError

SST2_SAMPLE = Path(__file__).resolve().parents[1] / "ondevice" / "assets" / "sst2_dev_sample.tsv"
LONG = "a tediously long and boring film . " * 10  # over 32 tokens


@pytest.fixture(scope="module")
def bundle(tiny_bert_dir, tmp_path_factory) -> Path:
    """The tiny three-label BERT as .pte and .onnx, fp32 and int8, at lengths 16 and 32, verified."""
    from ondevice.data import read_dataset
    from ondevice.export import ExportRequest, export_bundle
    from ondevice.model import load_model

    ckpt = load_model(str(tiny_bert_dir))
    out = tmp_path_factory.mktemp("classifier") / "bundle"
    req = ExportRequest(
        target="host", formats=["onnx", "executorch"], quantizations=["fp32", "int8-dynamic"], seq_lens=[16, 32]
    )
    export_bundle(ckpt, out, req, read_dataset(SST2_SAMPLE, ckpt.labels))
    return out


def test_classify_picks_the_shortest_length_and_scores_every_label(bundle):
    with Classifier(bundle, format="onnx", quantize="fp32") as clf:
        assert clf.labels == ["neg", "neu", "pos"] and clf.seq_lens == [16, 32]
        short, empty, long_ = clf.classify(["a fine film", "", LONG])
    assert (short.seq_len, short.truncated) == (16, False) and short.tokens == 5
    assert (empty.tokens, empty.seq_len, empty.truncated) == (2, 16, False)  # [CLS] [SEP]: a valid input
    assert long_.seq_len == 32 and long_.truncated and long_.tokens > 32
    for p in (short, empty, long_):
        assert list(p.scores) == ["neg", "neu", "pos"]
        assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-6)
        assert p.label == max(p.scores, key=p.scores.get)
        assert p.ms > 0
    assert long_.text == LONG


def test_scores_are_the_softmax_of_the_artifacts_logits(bundle):
    with Classifier(bundle, format="executorch", quantize="fp32") as clf:
        (p,) = clf.classify("a gorgeous , witty , seductive movie .")
        ids, mask = clf.encode(["a gorgeous , witty , seductive movie ."], 16)
        assert ids.dtype == clf.input_dtype and ids.shape == mask.shape == (1, 16)
        logits = clf.logits(ids, mask)
    assert logits.shape == (1, 3)
    want = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(list(p.scores.values()), want, rtol=1e-5)


@pytest.mark.parametrize(
    "fmt,quantize,file",
    [
        ("onnx", "fp32", "model.fp32.onnx"),
        ("onnx", "int8-dynamic", "model.int8-dynamic.onnx"),
        ("executorch", "int8-dynamic", "model.int8-dynamic.pte"),
        (None, "int8-dynamic", None),  # the first artifact that matches
    ],
)
def test_format_and_quantize_choose_the_artifact(bundle, fmt, quantize, file):
    with Classifier(bundle, format=fmt, quantize=quantize, threads=1) as clf:
        assert clf.quantization == quantize and (fmt is None or clf.format == fmt)
        if file:
            assert clf.path == bundle / file
        assert clf.artifact["file"] == clf.path.name and clf.manifest["labels"] == clf.labels
        assert clf.classify("fine")[0].label in clf.labels


def test_an_artifact_file_is_its_own_choice(bundle):
    with Classifier(bundle / "model.int8-dynamic.pte", format="onnx") as clf:
        assert (clf.format, clf.quantization) == ("executorch", "int8-dynamic")
        assert clf.bundle == bundle and clf.tokenizer.settings.max_length == 32


def test_refusals_name_what_is_wrong(bundle, tmp_path):
    with pytest.raises(ArtifactError, match="no such file or bundle"):
        Classifier(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="is not an ondevice bundle"):
        Classifier(tmp_path / "empty")
    with pytest.raises(ArtifactError, match=r"has no coreml artifact \(it has: onnx fp32"):
        Classifier(bundle, format="coreml")
    with pytest.raises(ArtifactError, match="has no tflite int8-static artifact"):
        Classifier(bundle, format="tflite", quantize="int8-static")
    with pytest.raises(ArtifactError, match="vocab.txt: not listed in"):
        Classifier(bundle / "vocab.txt")
    with Classifier(bundle, format="onnx") as clf:
        with pytest.raises(ConfigError, match="text 2: not valid Unicode"):
            clf.classify(["fine", "bad \udcff byte"])
        clf.labels = ["neg", "pos"]  # as if the artifact and the manifest disagreed
        with pytest.raises(ArtifactError, match="gives 3 logits for the manifest's 2 labels"):
            clf.classify("fine")


def test_a_closed_classifier_refuses_to_run(bundle):
    with Classifier(bundle, format="onnx") as clf:
        clf.classify("fine")
    with pytest.raises(OndeviceError, match="was closed"):
        clf.classify("fine")
    clf.close()  # a second close is harmless


def test_predictions_equal_the_run_commands_json(bundle):
    texts = ["a gorgeous , witty , seductive movie .", "", LONG]
    r = CliRunner().invoke(run, [str(bundle), *texts, "--format", "executorch", "--quantize", "int8-dynamic", "--json"])
    assert r.exit_code == 0, r.output
    cli = json.loads(r.stdout)
    with Classifier(bundle, format="executorch", quantize="int8-dynamic") as clf:
        predictions = clf.classify(texts)
        assert (cli["artifact"], cli["format"], cli["quantization"]) == (str(clf.path), clf.format, clf.quantization)
    assert cli["threads"] == 2 and len(cli["results"]) == len(predictions)
    for got, p in zip(cli["results"], predictions, strict=True):
        assert list(got) == ["text", "label", "probabilities", "ms", "tokens", "seq_len", "truncated"]
        assert (got["text"], got["label"], got["tokens"], got["seq_len"], got["truncated"]) == (
            p.text, p.label, p.tokens, p.seq_len, p.truncated,
        )  # fmt: skip
        assert got["probabilities"] == pytest.approx(p.scores, abs=1e-6)
    text = CliRunner().invoke(run, [str(bundle / "model.fp32.onnx"), "fine", LONG])
    assert text.exit_code == 0, text.output
    first, second = text.stdout.splitlines()
    assert first.split()[0] in clf.labels and first.endswith(" ms") and "neg=" in first
    assert second.endswith(f"(truncated from {predictions[2].tokens} to 32 tokens)")


def test_importing_ondevice_stays_light():
    code = (
        "import sys, ondevice\n"
        "assert not {'numpy', 'torch', 'ondevice.classifier'} & set(sys.modules), sorted(sys.modules)\n"
        "assert ondevice.Classifier is sys.modules['ondevice.classifier'].Classifier\n"
        "assert 'Classifier' in ondevice.__all__ and 'Prediction' in ondevice.__all__\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
