"""The CLI end to end through Click's CliRunner, with isolated caches (see conftest)."""

import json

import pytest
from click.testing import CliRunner

from ondevice.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def dev_subset(sst2_dev, tmp_path):
    lines = sst2_dev.read_text().splitlines()
    f = tmp_path / "dev200.tsv"
    f.write_text("\n".join(lines[:201]) + "\n")  # header + 200 sentences
    return f


@pytest.fixture
def train_subset(sst2_train, tmp_path):
    lines = sst2_train.read_text().splitlines()
    f = tmp_path / "train.tsv"
    f.write_text("\n".join(lines[:401]) + "\n")
    return f


def _one_line_error(result):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: ")
    return lines[-1]


def test_version_and_help(runner):
    assert runner.invoke(cli, ["--version"]).output.startswith("ondevice, version")
    r = runner.invoke(cli, ["-h"])
    assert r.exit_code == 0 and "finetune" in r.output and "eval" in r.output


def test_eval_default_model_json(runner, dev_subset):
    r = runner.invoke(cli, ["eval", "--data", str(dev_subset), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["model"] == "default" and report["n"] == 200
    assert report["accuracy"] > 0.75
    assert sum(map(sum, report["confusion_matrix"])) == 200
    assert set(report["per_class"]) == {"negative", "positive"}
    assert 0 < report["per_class"]["positive"]["recall"] <= 1


def test_eval_text_report(runner, dev_subset):
    r = runner.invoke(cli, ["eval", "--data", str(dev_subset)])
    assert r.exit_code == 0
    assert "accuracy" in r.stdout and "confusion matrix" in r.stdout


def test_finetune_head_only_then_eval(runner, train_subset, dev_subset, tmp_path):
    out = tmp_path / "head"
    r = runner.invoke(
        cli,
        [
            "finetune",
            "all-MiniLM-L6-v2",
            "--head-only",
            "--pooling",
            "mean",
            "--labels",
            "negative,positive",
            "--train",
            str(train_subset),
            "--dev",
            str(dev_subset),
            "--epochs",
            "3",
            "--batch-size",
            "64",
            "--max-length",
            "64",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert 0.5 < summary["dev_accuracy"] <= 1.0 and 0 <= summary["best_select_accuracy"] <= 1.0
    assert (out / "head.safetensors").stat().st_size < 1024 * 1024
    assert json.loads((out / "labels.json").read_text()) == ["negative", "positive"]
    r = runner.invoke(cli, ["eval", str(out), "--data", str(dev_subset), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(summary["dev_accuracy"])


def test_finetune_full_small_model_improves(runner, tiny_bert_dir, tmp_path):
    """Full fine-tuning on a learnable toy task: the label is whether 'good' or 'bad' occurs."""
    import random

    rng = random.Random(0)
    filler = "the a movie film plot story actors scene some very quite".split()

    def rows(n):
        out = []
        for _ in range(n):
            y = rng.randrange(2)
            words = rng.sample(filler, 5) + [["bad", "good"][y]]
            rng.shuffle(words)
            out.append(f"{['neg', 'pos'][y]}\t{' '.join(words)}")
        return "\n".join(out) + "\n"

    (tmp_path / "train.tsv").write_text(rows(512))
    (tmp_path / "dev.tsv").write_text(rows(64))
    out = tmp_path / "full"
    # tiny_bert_dir has a 3-label head; a 2-label task with it must fail cleanly...
    r = runner.invoke(
        cli,
        [
            "finetune",
            str(tiny_bert_dir),
            "--train",
            str(tmp_path / "train.tsv"),
            "--dev",
            str(tmp_path / "dev.tsv"),
            "--out",
            str(out),
        ],
    )
    assert "has shape" in _one_line_error(r)
    assert not out.exists()
    # ...and a fresh head from the bundled encoder learns it.
    r = runner.invoke(
        cli,
        [
            "finetune",
            "all-MiniLM-L6-v2",
            "--train",
            str(tmp_path / "train.tsv"),
            "--dev",
            str(tmp_path / "dev.tsv"),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--lr",
            "1e-4",
            "--max-length",
            "16",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["dev_accuracy"] >= 0.9 and summary["select"] == "split"
    # 51 of the 512 examples (10%) are carved out to select on: 461 train, 15 steps of 32
    assert summary["select_examples"] == 51 and summary["best_select_accuracy"] >= 0.9
    info = json.loads((out / "info.json").read_text())
    assert info["finetune"]["history"][-1]["step"] == 15 == info["finetune"]["steps"]


def test_finetune_progress_on_stderr(runner, train_subset, dev_subset, tmp_path, monkeypatch):
    monkeypatch.setenv("ONDEVICE_PROGRESS", "1")
    r = runner.invoke(
        cli,
        [
            "finetune",
            "--head-only",
            "--labels",
            "negative,positive",
            "--train",
            str(train_subset),
            "--dev",
            str(dev_subset),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "encode train" in r.stderr and "train head" in r.stderr
    assert "encode train" not in r.stdout


def _checkpoint_case(case, tiny_bert_dir, tmp_path):
    d = tmp_path / case
    if case == "missing":
        return d
    d.mkdir()
    for f in tiny_bert_dir.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    if case == "no-weights":
        (d / "model.safetensors").unlink()
    elif case == "corrupt":
        (d / "model.safetensors").write_bytes(b"garbage" * 10)
    elif case == "gpt2":
        (d / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    return d


@pytest.mark.parametrize(
    "case,message",
    [
        ("missing", "no such directory"),
        ("no-weights", "has no weights"),
        ("corrupt", "corrupt"),
        ("gpt2", "unsupported architecture 'gpt2'"),
    ],
)
@pytest.mark.parametrize("command", ["eval", "finetune"])
def test_bad_checkpoints(runner, tiny_bert_dir, tmp_path, dev_subset, case, message, command):
    d = _checkpoint_case(case, tiny_bert_dir, tmp_path)
    out = tmp_path / "out"
    args = (
        ["eval", str(d), "--data", str(dev_subset)]
        if command == "eval"
        else ["finetune", str(d), "--train", str(dev_subset), "--dev", str(dev_subset), "--out", str(out)]
    )
    assert message in _one_line_error(runner.invoke(cli, args))
    assert not out.exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "the file is empty"),
        (b"label\tsentence\nnegative\tfine\nsurprised\toh\n", "bad.tsv:3: unknown label 'surprised'"),
        (b"0\tfine\n1\n", "bad.tsv:2: expected two columns"),
        (b"0\tfine\n1\tna\xefve\n", "bad.tsv:2: not UTF-8"),
    ],
)
def test_bad_data(runner, tmp_path, dev_subset, content, message):
    f = tmp_path / "bad.tsv"
    f.write_bytes(content)
    assert message in _one_line_error(runner.invoke(cli, ["eval", "--data", str(f)]))
    out = tmp_path / "out"
    r = runner.invoke(
        cli,
        [
            "finetune",
            "--head-only",
            "--labels",
            "negative,positive",
            "--train",
            str(f),
            "--dev",
            str(dev_subset),
            "--out",
            str(out),
        ],
    )
    assert message in _one_line_error(r)
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_bad_options(runner, dev_subset, tmp_path):
    r = runner.invoke(
        cli,
        [
            "finetune",
            "--labels",
            "only",
            "--train",
            str(dev_subset),
            "--dev",
            str(dev_subset),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 2 and "two distinct" in r.stderr
    r = runner.invoke(
        cli,
        [
            "finetune",
            "--epochs",
            "0",
            "--train",
            str(dev_subset),
            "--dev",
            str(dev_subset),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 2 and "epochs must be positive" in r.stderr
    r = runner.invoke(cli, ["eval"])
    assert r.exit_code == 2 and "--data" in r.stderr


@pytest.mark.parametrize("command", ["export", "profile"])
def test_seq_len_takes_a_comma_separated_list_of_integers(runner, command, tmp_path):
    """One option type for --seq-len: blank entries skipped, anything else not an integer refused in one line."""
    from ondevice.cli_common import SeqLens

    assert SeqLens().convert(" 32, ,64,", None, None) == [32, 64]
    r = runner.invoke(cli, [command, str(tmp_path), "--seq-len", "32,6x4"])
    assert r.exit_code == 2
    message = "Invalid value for --seq-len: '32,6x4' is not a comma-separated list of integers"
    assert _one_line_error(r) == f"Error: {message}"


def test_setup_check_reports_every_system_tool_and_fails_when_one_is_missing():
    from ondevice import system

    r = CliRunner().invoke(cli, ["setup", "--check", "--json"])
    tools = json.loads(r.stdout)["tools"]
    assert {t["package"] for t in tools} >= {"adb", "qemu-user-static", "junit4"}
    assert all(t["name"] and t["purpose"] for t in tools)
    missing = [t["package"] for t in tools if t["found"] is None]
    assert sorted(set(missing)) == system.missing_packages()
    assert r.exit_code == (1 if missing else 0)
