import random

import pytest


@pytest.fixture
def tiny(tiny_bert_dir):
    """A fresh copy of the tiny random BERT (hidden 64, 4 heads of 16, 2 layers, FFN 128, 3 labels)."""
    from ondevice.model import load_model

    ckpt = load_model(str(tiny_bert_dir))
    ckpt.model.eval()
    return ckpt


@pytest.fixture(scope="session")
def tiny_data(sst2_dev, tmp_path_factory):
    """Real sentences with the tiny model's three labels (neg, neu, pos), as a TSV file."""
    rows = sst2_dev.read_text().splitlines()[1:97]
    rng = random.Random(0)
    # dev.tsv is label<TAB>sentence: the sentence kept, its label replaced by one of the three
    lines = ["label\tsentence"] + [f"{rng.choice(['neg', 'neu', 'pos'])}\t{r.split(chr(9))[1]}" for r in rows]
    f = tmp_path_factory.mktemp("data") / "tiny.tsv"
    f.write_text("\n".join(lines) + "\n")
    return f


@pytest.fixture
def calibration(tiny, tiny_data):
    from ondevice.compress.significance import Calibration
    from ondevice.data import read_dataset

    data = read_dataset(tiny_data, tiny.labels)
    return Calibration.from_data(tiny.tokenizer, data.texts[:64], data.targets[:64], max_length=32, batch_size=16)


@pytest.fixture
def tiny_inputs(tiny):
    """Token ids and mask of three sentences, the empty one included, padded to 24."""
    import torch

    ids, mask = tiny.tokenizer(["a gripping , funny film", "it is dull", ""], max_length=24)
    return torch.as_tensor(ids), torch.as_tensor(mask)


@pytest.fixture
def export_verified(tiny_data, tmp_path):
    """``export_verified(checkpoint)``: a host fp32 export in every format at lengths 16 and 32, verified
    on the tiny data; asserts it succeeded and that every artifact matches PyTorch; returns the manifest."""
    import json

    from click.testing import CliRunner

    from ondevice.cli import cli

    def run(ck):
        r = CliRunner().invoke(
            cli,
            ["export", str(ck), "--target", "host", "--format", "executorch,tflite,onnx", "--quantize", "fp32"]
            + ["--seq-len", "16,32", "--data", str(tiny_data), "--out", str(tmp_path / "bundle"), "--json"],
        )
        assert r.exit_code == 0, r.output
        manifest = json.loads(r.stdout)
        assert {a["format"] for a in manifest["artifacts"]} == {"executorch", "tflite", "onnx"}
        for a in manifest["artifacts"]:
            assert a["verification"]["max_abs_logit_diff"] <= 1e-3 and a["verification"]["label_agreement"] == 1.0
        return manifest

    return run


@pytest.fixture(scope="session")
def compress_cli():
    """``compress_cli(model, recipe_text, data, directory)``: `ondevice compress` with ``recipe_text`` as the
    recipe and ``data`` for training and dev, into ``directory``/ck; asserts it succeeded; returns the
    checkpoint's path and the JSON report."""
    import json

    from click.testing import CliRunner

    from ondevice.cli import cli

    def run(model, recipe_text: str, data, directory):
        recipe = directory / "recipe.toml"
        recipe.write_text(recipe_text)
        out = directory / "ck"
        args = ["compress", str(model), "--recipe", str(recipe), "--data", str(data), "--dev", str(data)]
        r = CliRunner().invoke(cli, [*args, "--out", str(out), "--json"])
        assert r.exit_code == 0, r.output
        return out, json.loads(r.stdout)

    return run
