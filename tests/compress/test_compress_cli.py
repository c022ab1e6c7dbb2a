"""`ondevice compress` and `ondevice significance` end to end, and export of the compressed model."""

import json

import pytest
from click.testing import CliRunner

from ondevice.cli import cli

RECIPE = """
name = "tiny-mobile"
seq_len = 32

[[step]]
kind = "prune"
heads = 0.25
neurons = 0.5
multiple_of = 8
calibration_size = 48

[[step]]
kind = "lowrank"
rank = 8
projections = ["up", "down", "output"]
embedding_rank = 16

[[step]]
kind = "distill"
epochs = 1.0
batch_size = 16
evals_per_epoch = 1
"""


@pytest.fixture(scope="module")
def compressed(tiny_bert_dir, tiny_data, tmp_path_factory, compress_cli):
    return compress_cli(tiny_bert_dir, RECIPE, tiny_data, tmp_path_factory.mktemp("compress"))


def test_compress_records_every_step_and_saves_a_checkpoint(compressed):
    out, report = compressed
    steps = report["steps"]
    assert [s["kind"] for s in steps] == ["input", "prune", "lowrank", "distill"]
    params = [s["parameters"] for s in steps]
    assert params[1] < params[0] and params[2] < params[1] and params[3] == params[2]
    flops = [s["flops"]["total"] for s in steps]
    assert flops[1] < flops[0] and flops[2] < flops[1]
    assert all(0 <= s["dev_accuracy"] <= 1 and s["seq_len"] == 32 for s in steps)
    assert steps[3]["report"]["steps"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["embedding_rank"] == 16
    assert sum(layer["num_heads"] for layer in config["layers"]) == 6
    assert all(layer["ranks"].get("up") == 8 for layer in config["layers"])
    info = json.loads((out / "info.json").read_text())
    assert info["compression"]["recipe"]["name"] == "tiny-mobile"
    assert len(info["compression"]["steps"]) == 4


def test_compressed_model_exports_and_verifies_in_every_format(compressed, tiny_data, tmp_path):
    out, report = compressed
    bundle = tmp_path / "bundle"
    r = CliRunner().invoke(
        cli,
        ["export", str(out), "--target", "host", "--format", "executorch,tflite,onnx", "--quantize", "fp32"]
        + ["--seq-len", "16", "--data", str(tiny_data), "--out", str(bundle), "--json"],
    )
    assert r.exit_code == 0, r.output
    manifest = json.loads(r.stdout)
    assert {a["format"] for a in manifest["artifacts"]} == {"executorch", "tflite", "onnx"}
    for a in manifest["artifacts"]:
        v = a["verification"]
        assert v["max_abs_logit_diff"] <= 1e-3 and v["label_agreement"] == 1.0
    assert manifest["model"]["compression"]["recipe"]["name"] == "tiny-mobile"
    assert manifest["model"]["config"]["embedding_rank"] == 16


def test_significance_ranks_every_head_and_sublayer(tiny_bert_dir, tiny_data):
    r = CliRunner().invoke(
        cli, ["significance", str(tiny_bert_dir), "--data", str(tiny_data), "--examples", "32", "--json"]
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert len(result["heads"]) == 8 and len(result["sublayers"]) == 4
    scores = [h["score"] for h in result["heads"]]
    assert scores == sorted(scores) and all(s >= 0 for s in scores)
    assert set(result["neurons"]) == {"0", "1"}


@pytest.mark.parametrize(
    "recipe, message",
    [
        ("nonexistent", "no recipe 'nonexistent'"),
        ("[[step]]\nkind = 'quantum'\n", "unknown step kind 'quantum'"),
        ("[[step]]\nkind = 'prune'\nheads = 2.0\n", r"step 1: prune: heads and neurons are shares"),
        ("[[step]]\nkind = 'lowrank'\nrank = 8\nranks = 3\n", "unknown fields: ranks"),
        ("name = 'x'\n", "no \\[\\[step\\]\\] tables"),
        ("[[step]\nkind=", "not valid TOML"),
    ],
)
def test_bad_recipes_get_one_line_and_no_output(recipe, message, tiny_bert_dir, tiny_data, tmp_path):
    if recipe != "nonexistent":
        (tmp_path / "r.toml").write_text(recipe)
        recipe = str(tmp_path / "r.toml")
    out = tmp_path / "out"
    r = CliRunner().invoke(
        cli, ["compress", str(tiny_bert_dir), "--recipe", recipe, "--data", str(tiny_data), "--out", str(out)]
    )
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") <= 4 and "Traceback" not in r.output
    assert pytest.importorskip("re").search(message, r.output)
    assert not out.exists()


def test_shipped_recipes_load():
    from ondevice.compress.recipe import load_recipe, shipped_recipes

    assert {"conservative", "mobile", "lowrank"} <= set(shipped_recipes())
    for name in shipped_recipes():
        recipe = load_recipe(name)
        assert recipe.steps and recipe.description
        kinds = [step.kind for step in recipe.steps]
        assert "distill" in kinds
        # Recovery comes last; only steps that leave the weights as they are (mixed precision records the
        # widths export will use) may follow it.
        after = kinds[len(kinds) - kinds[::-1].index("distill") :]
        assert set(after) <= {"mixed_precision"}, kinds


def test_significance_refuses_missing_data_in_one_line(tiny_bert_dir, tmp_path):
    r = CliRunner().invoke(cli, ["significance", str(tiny_bert_dir), "--data", str(tmp_path / "nope.tsv")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "no such file" in r.output and r.output.count("\n") == 1


def test_compress_refuses_a_non_empty_out_without_force(tiny_bert_dir, tiny_data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["compress", str(tiny_bert_dir), "--recipe", "mobile", "--data", str(tiny_data), "--out", str(out)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "not empty" in r.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
