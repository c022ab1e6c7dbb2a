"""`ondevice search` end to end on real Ray clusters (on loopback only) with real trials: compress,
distil, export, verify and profile on the host, scored by Optuna; stopped by SIGINT and resumed;
joined to a head started with `ray start`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ondevice.data import held_out, read_dataset

CLI = Path(sys.executable).with_name("ondevice")
RAY = Path(sys.executable).with_name("ray")
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "ONDEVICE_PROGRESS": "0"}


def search(model, data, space, out, *args, timeout=1800, env=None) -> subprocess.CompletedProcess:
    """The search command, in its own process group: one that overruns is stopped as a user would stop
    it (SIGTERM, so that it shuts its Ray cluster down), then killed with whatever it started."""
    argv = [str(CLI), "search", str(model), "--data", str(data), "--space", str(space), "--out", str(out)]
    argv += ["--val-size", "300", "--trial-minutes", "0.5", *args]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **LOOPBACK, **(env or {})},
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def ray_processes() -> set[int]:
    found = subprocess.run(["pgrep", "-f", "raylet|gcs_server"], capture_output=True, text=True).stdout.split()
    return {int(p) for p in found}


def records(out: Path) -> dict[int, dict]:
    return {r["number"]: r for r in (json.loads(f.read_text()) for f in (out / "trials").glob("*/record.json"))}


def dominated(t: dict, others: list[dict]) -> bool:
    def better_or_equal(a, b):
        return (
            a["size_bytes"] <= b["size_bytes"] and a["latency_ms"] <= b["latency_ms"] and a["accuracy"] >= b["accuracy"]
        )

    return any(
        better_or_equal(o, t)
        and (o["size_bytes"], o["latency_ms"], o["accuracy"]) != (t["size_bytes"], t["latency_ms"], t["accuracy"])
        for o in others
    )


def test_search_two_workers_four_trials(search_model, search_data, tiny_space, tmp_path):
    """Four trials on a local cluster of two workers: each exported, verified and timed on the host; the
    front is every undominated trial; the pick fits the budget; a trial's recipe runs in `compress`."""
    before = ray_processes()
    out = tmp_path / "search"
    done = search(
        search_model, search_data, tiny_space, out, "--trials", "4", "--workers", "2", "--max-size-mb", "50",
        "--trial-steps", "3", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert "2 at a time on 2 CPUs" in done.stderr
    trials = results["trials"]
    assert [t["state"] for t in trials] == ["complete"] * 4
    for t in trials:
        bundle = Path(t["bundle"])
        manifest = json.loads((bundle / "ondevice.json").read_text())
        (artifact,) = manifest["artifacts"]
        assert artifact["format"] == "executorch" and artifact["verification"]["passed"]
        assert t["size_bytes"] == (bundle / artifact["file"]).stat().st_size
        assert t["accuracy"] == artifact["verification"]["accuracy"]
        profile = json.loads(Path(t["profile_record"]).read_text())
        assert profile["target"]["name"] == "host" and profile["settings"]["seq_len"] == 32
        assert t["latency_ms"] == profile["timing"]["p50_ms"] > 0
        assert len(t["latency_p50s_ms"]) == 3 and t["latency_ms"] == sorted(t["latency_p50s_ms"])[1]  # the median
        assert set(t["seconds"]) == {"distill", "compress", "export", "profile"}
        assert t["distill_steps"] == 3  # --trial-steps: exactly that many, the clock (0.5 min) never reached
        assert (Path(t["directory"]) / "checkpoint" / "model.safetensors").is_file()
        assert t["params"] and t["recipe"]["steps"][0]["kind"] == "prune"
    complete = [t for t in trials if t["state"] == "complete"]
    front = {t["number"] for t in complete if not dominated(t, complete)}
    assert set(results["front"]) == front and front
    assert results["pick"] is not None and results["pick"] in {t["number"] for t in complete}
    assert json.loads((out / "results.json").read_text())["front"] == results["front"]
    meta = json.loads((out / "search.json").read_text())
    assert meta["base_accuracy"] > 0.6 and meta["space"]["name"] == "tiny"
    # Validated on the texts the model's fine-tuning held out of this file: 10% of its groups of texts.
    _, held = held_out(read_dataset(search_data), 0.1, 0, 2000)
    assert meta["val_split"]["from"] == "the input model's fine-tuning" and meta["val_examples"] == len(held)
    assert f"validation: the {len(held)} texts of --data that the input model's fine-tuning held out" in done.stderr
    # The pick: the smallest of the trials within one standard error of the most accurate.
    best = max(t["accuracy"] for t in complete)
    tied = [t for t in complete if t["accuracy"] >= best - math.sqrt(best * (1 - best) / len(held)) - 1e-12]
    assert results["pick"] == min(tied, key=lambda t: (t["size_bytes"], t["latency_ms"]))["number"]
    assert ray_processes() <= before, "the search left its Ray cluster running"

    # The report: a table of every trial, and the plot of size against latency.
    shown = subprocess.run(
        [str(CLI), "report", str(out), "--json"], capture_output=True, text=True, env={**os.environ, **LOOPBACK}
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    summary = json.loads(shown.stdout)
    assert summary["front"] == results["front"] and summary["pick"] == results["pick"] and summary["trials"] == 4
    assert set(summary["time_split_s"]) == {"distill", "compress", "export", "profile"}
    table = (out / "report.md").read_text()
    assert sum(line.startswith("| ") and "complete" in line for line in table.splitlines()) == 4
    assert "![trials](trials.png)" in table and "per hour" in table
    assert (out / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A trial's configuration is a recipe that compress takes as it is.
    recipe = Path(trials[0]["directory"]) / "recipe.toml"
    made = subprocess.run(
        [str(CLI), "compress", str(search_model), "--recipe", str(recipe), "--data", str(search_data)]
        + ["--out", str(tmp_path / "compressed"), "--max-minutes", "0.1", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **LOOPBACK},
    )
    assert made.returncode == 0, made.stderr[-2000:]
    assert [s["kind"] for s in json.loads(made.stdout)["recipe"]["steps"]] == ["prune", "distill", "mixed_precision"]

    # --val-size plays no part where the validation texts are the fine-tune's: a resume may name another.
    args = ["--trials", "4", "--resume", "--max-size-mb", "50", "--val-size", "200", "--json"]
    again = search(search_model, search_data, tiny_space, out, *args)
    assert again.returncode == 0 and json.loads(again.stdout)["pick"] == results["pick"], again.stderr[-2000:]

    # A resume must be the same search: another space or another model is refused before anything runs.
    other = tmp_path / "other.toml"
    other.write_text(tiny_space.read_text().replace("epochs = 0.2", "epochs = 0.3"))
    again = search(search_model, search_data, other, out, "--trials", "5", "--resume", "--max-size-mb", "50")
    assert again.returncode != 0 and "another search space" in again.stderr and "Traceback" not in again.stderr
    again = search("default", search_data, tiny_space, out, "--trials", "5", "--resume", "--max-size-mb", "50")
    assert again.returncode != 0 and "another model" in again.stderr and "Traceback" not in again.stderr
    # ...and one whose validation texts were carved otherwise (a search made before the split held out whole
    # texts has none recorded) is refused too: its trials were scored on other data.
    meta = json.loads((out / "search.json").read_text())
    (out / "search.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "val_split"}))
    again = search(search_model, search_data, tiny_space, out, "--trials", "5", "--resume", "--max-size-mb", "50")
    assert again.returncode != 0 and "another validation split" in again.stderr and "Traceback" not in again.stderr


def test_validation_is_on_texts_the_input_model_never_trained_on(search_model, search_data, tmp_path):
    from ondevice.model import load_model
    from ondevice.search.driver import SearchSettings, _validation_split

    ckpt = load_model(str(search_model))
    data = read_dataset(search_data, ckpt.labels)
    s = SearchSettings(model=str(search_model), data=search_data, target="host", out=tmp_path / "o", val_size=300)
    notes: list[str] = []
    train, val, how = _validation_split(s, ckpt, data, notes.append)
    kept, held = held_out(data, 0.1, 0, 2000)  # what its fine-tuning carved: --select-share 0.1, seed 0
    assert [e.line for e in val.examples] == [data.examples[i].line for i in held] and len(train) == len(kept)
    assert how["from"] == "the input model's fine-tuning" and not any("note:" in n for n in notes)
    assert ckpt.info["finetune"]["split_sha256"] == val.digest() == data.take(held).digest()

    # The same file read otherwise (other --text-columns) would carve other examples than the fine-tune
    # held out: its record's digest names others, and the search carves its own split.
    notes.clear()
    record = {**ckpt.info["finetune"], "split_sha256": data.take(held[1:]).digest()}
    other_reading = dataclasses.replace(ckpt, info={**ckpt.info, "finetune": record})
    train, val, how = _validation_split(s, other_reading, data, notes.append)
    assert how["from"] == "--val-size" and len(val) == 300
    assert any("gives other examples than it held out" in n for n in notes), notes

    # Another file, or a model whose record names no split: --val-size texts carved here, and a note on why.
    other = tmp_path / "other.tsv"
    other.write_text(search_data.read_text() + "1\ta line the model was never fine-tuned with\n")
    for model, path in ((ckpt, other), (dataclasses.replace(ckpt, info={}), search_data)):
        notes.clear()
        s = dataclasses.replace(s, data=path)
        train, val, how = _validation_split(s, model, read_dataset(path, ckpt.labels), notes.append)
        assert len(val) == 300 and how["from"] == "--val-size"
        assert any("may be ones it learned" in n for n in notes)


def test_sigint_then_resume_redoes_no_finished_trial(search_model, search_data, tiny_space, tmp_path):
    out = tmp_path / "search"
    argv = [str(CLI), "search", str(search_model), "--data", str(search_data), "--space", str(tiny_space)]
    argv += ["--out", str(out), "--val-size", "300", "--trial-minutes", "0.5", "--format", "onnx"]
    argv += ["--trials", "6", "--workers", "2"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **LOOPBACK}
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if any(r["state"] == "complete" for r in records(out).values()) if (out / "trials").is_dir() else False:
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the search ended before a trial finished"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    said = [line for line in err.splitlines() if line.startswith("Error:")]
    assert proc.returncode == 130, (said, err[:3000], err[-1500:])
    assert [line for line in err.splitlines() if line.startswith("Error:")] == [
        "Error: stopped by Ctrl-C (SIGINT); nothing was left half-written"
    ]
    assert "--resume" in err and "Traceback" not in err
    first = records(out)
    finished = {
        n: (r, (out / "trials" / f"{n:04d}" / "record.json").stat().st_mtime_ns)
        for n, r in first.items()
        if r["state"] == "complete"
    }
    assert finished
    # The stopped run is on record (its time and finished trials: what trials per hour is made of).
    (run,) = json.loads((out / "search.json").read_text())["runs"]
    assert run["trials_finished"] == len(finished) and run["seconds"] > 0

    done = search(
        search_model,
        search_data,
        tiny_space,
        out,
        "--format",
        "onnx",
        "--trials",
        "6",
        "--workers",
        "2",
        "--resume",
        "--json",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trials = {t["number"]: t for t in json.loads(done.stdout)["trials"]}
    runs = json.loads((out / "search.json").read_text())["runs"]
    assert [r["trials_finished"] for r in runs] == [len(finished), 6 - len(finished)]
    for n, (rec, mtime) in finished.items():  # finished trials are kept as they were, not run again
        assert trials[n] == rec
        assert (out / "trials" / f"{n:04d}" / "record.json").stat().st_mtime_ns == mtime
    cut = [n for n, r in first.items() if r["state"] == "running"]
    assert all(trials[n]["state"] == "interrupted" for n in cut)
    assert sum(t["state"] == "complete" for t in trials.values()) == 6
    params = [tuple(sorted(trials[n]["params"].items())) for n in cut]
    redone = [tuple(sorted(t["params"].items())) for t in trials.values() if t["number"] > max(first)]
    assert all(p in redone for p in params), "a trial cut off by the stop is drawn again with its parameters"

    # --finish: the pick's recipe in full, every format of the target exported, verified and measured.
    pick = json.loads(done.stdout)["pick"]
    finished = search(
        search_model, search_data, tiny_space, out, "--format", "onnx", "--trials", "6", "--finish", "--json"
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    record = json.loads(finished.stdout)
    assert record["trial"] == pick and record["bundle"] == str(out / "finish" / "bundle")
    manifest = json.loads((out / "finish" / "bundle" / "ondevice.json").read_text())
    assert sorted(a["format"] for a in manifest["artifacts"]) == ["executorch", "onnx", "tflite"]
    assert all(a["verification"]["passed"] for a in manifest["artifacts"])
    assert record["latency_ms"] > 0 and record["artifact"].endswith(".onnx")
    distill = next(s for s in manifest["model"]["compression"]["steps"] if s["kind"] == "distill")
    assert distill["config"]["max_minutes"] is None  # the full recipe, not the trial's bounded one
    again = search(search_model, search_data, tiny_space, out, "--format", "onnx", "--trials", "6", "--finish")
    assert again.returncode != 0 and "the pick was finished before" in again.stderr
    # A trial named by number finishes into finish-<N>/, never over the pick's finish/.
    (out / f"finish-{pick}").mkdir()
    args = ["--format", "onnx", "--trials", "6", "--finish", str(pick)]
    again = search(search_model, search_data, tiny_space, out, *args)
    assert again.returncode != 0 and f"finish-{pick} exists: trial {pick} was finished before" in again.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def ray_head(tmp_path: Path, token: dict):
    """A Ray head started with `ray start --head` on loopback, in its own process group; yields (port, the
    head's process, its temporary directory). Stopped on the way out, with every process it started."""
    port = _free_port()
    env = {**os.environ, **LOOPBACK, **token}
    # A short temporary directory: Ray's unix sockets live under it, and their paths have a length limit.
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false"]
        + ["--disable-usage-stats", "--temp-dir", str(temp), "--node-ip-address", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "head.log").open("w"),
        env=env,
        start_new_session=True,
    )
    left = []
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            assert time.monotonic() < deadline and head.poll() is None, (tmp_path / "head.log").read_text()[-2000:]
            time.sleep(0.5)
        yield port, head, temp
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
        deadline = time.monotonic() + 60  # the head's processes go with it, and nothing else is stopped
        while _processes_under(temp) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _processes_under(temp)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)
    assert not left, "the Ray head left processes behind"


def test_joins_a_ray_head_started_on_loopback(search_model, search_data, tiny_space, tmp_path):
    # The head and the search share a token, as the nodes of a real cluster must (docs/search.md).
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    with ray_head(tmp_path, token) as (port, head, _):
        out = tmp_path / "search"
        done = search(
            search_model, search_data, tiny_space, out, "--format", "onnx", "--trials", "2", "--workers", "2",
            "--ray-address", f"127.0.0.1:{port}", "--json", env=token,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.loads(done.stdout)
        assert results["cluster"]["address"] == f"127.0.0.1:{port}"
        assert results["cluster"]["nodes"] == ["127.0.0.1"]
        assert [t["state"] for t in results["trials"]] == ["complete"] * 2
        assert head.poll() is None, "a joined cluster keeps running after the search"


def test_a_cluster_killed_under_the_search_is_said_and_resume_finishes(search_model, search_data, tiny_space, tmp_path):
    """The joined head is killed (SIGKILL to all its processes) while trials run: the search ends in one
    Error line that says the cluster has gone, well before Ray's own driver would end the process without
    a word (60 s); no trial is blamed; the run is on record; --resume on a local cluster finishes."""
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    out = tmp_path / "search"
    with ray_head(tmp_path, token) as (port, head, _):
        argv = [str(CLI), "search", str(search_model), "--data", str(search_data), "--space", str(tiny_space)]
        argv += ["--out", str(out), "--val-size", "300", "--trial-minutes", "0.5", "--format", "onnx"]
        argv += ["--trials", "3", "--workers", "2", "--ray-address", f"127.0.0.1:{port}"]
        env = {**os.environ, **LOOPBACK, **token}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "trials").is_dir() and any(r["state"] == "running" for r in records(out).values()):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the search ended before a trial started"
        os.killpg(head.pid, signal.SIGKILL)
        killed = time.monotonic()
        _, err = proc.communicate(timeout=180)
        took = time.monotonic() - killed
    said = [line for line in err.splitlines() if line.startswith("Error:")]
    assert proc.returncode == 1 and len(said) == 1, (said, err[-3000:])
    assert f"the Ray cluster at 127.0.0.1:{port} has gone" in said[0] and "--resume" in said[0]
    assert "Traceback" not in err and took < 45, took
    first = records(out)
    assert first and all(r["state"] in ("running", "complete") for r in first.values()), first  # none blamed
    (run,) = json.loads((out / "search.json").read_text())["runs"]
    assert run["trials_finished"] == sum(r["state"] == "complete" for r in first.values())

    # Without --ray-address the search starts its own cluster, even where the environment still names
    # the dead one (RAY_ADDRESS, as `ray start` tells users to set), which Ray alone would try to join.
    done = search(
        search_model, search_data, tiny_space, out, "--format", "onnx", "--trials", "3", "--workers", "2",
        "--resume", "--json", env={"RAY_ADDRESS": f"127.0.0.1:{port}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    trials = json.loads(done.stdout)["trials"]
    assert sum(t["state"] == "complete" for t in trials) == 3
    assert all(t["state"] == "interrupted" for t in trials if first.get(t["number"], {}).get("state") == "running")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _processes_under(directory: Path) -> list[int]:
    found = subprocess.run(["pgrep", "-f", str(directory)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def test_no_trial_meets_the_budget_and_a_failing_trial_is_recorded(search_model, search_data, tiny_space, tmp_path):
    """A trial that fails (here a step the model cannot take: more sub-layers removed than it has) is
    recorded with its error and the search goes on; a budget no trial meets is said, with the closest."""
    space = tmp_path / "space.toml"
    space.write_text(tiny_space.read_text().replace('kind = "prune"\n', 'kind = "prune"\nsublayers = [0, 9]\n'))
    out = tmp_path / "search"
    # seed 2: Optuna's first four draws take 9 sub-layers twice and none twice
    args = ["--format", "onnx", "--trials", "4", "--workers", "2", "--max-size-mb", "0.01", "--seed", "2"]
    done = search(search_model, search_data, space, out, *args)
    trials = records(out)
    failed = [t for t in trials.values() if t["state"] == "failed"]
    complete = [t for t in trials.values() if t["state"] == "complete"]
    assert failed and complete, {n: t["state"] for n, t in trials.items()}
    assert all(t["params"]["1.prune.sublayers"] == 9 and "sub-layer" in t["error"] for t in failed)
    assert len(failed) + len(complete) == 4
    assert done.returncode == 1
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("Error:")]
    closest = min(complete, key=lambda t: (t["size_bytes"], t["number"]))
    assert "no trial meets the budget (size <= 0.01 MB)" in line and f"the closest is trial {closest['number']}" in line
    assert "Traceback" not in done.stderr
    assert json.loads((out / "results.json").read_text())["pick"] is None


def test_a_draw_built_before_under_the_same_steps_is_not_built_again(search_model, search_data, tiny_space, tmp_path):
    """A space of one configuration: the first trial builds it; under --trial-steps every later draw of it
    is answered from that trial's figures and nothing is built. Another step bound builds it again."""
    space = tmp_path / "one.toml"
    text = tiny_space.read_text().replace("{low = 0.0, high = 0.5, step = 0.25}", "0.25")
    space.write_text(text.replace("embedding_bits = [4, 8]", "embedding_bits = 8"))
    out = tmp_path / "search"
    args = ["--format", "onnx", "--trials", "3", "--trial-steps", "3", "--max-size-mb", "50", "--json"]
    done = search(search_model, search_data, space, out, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    trials = results["trials"]
    assert [t["state"] for t in trials] == ["complete", "repeat", "repeat"]
    first, figures = trials[0], ("size_bytes", "latency_ms", "accuracy")
    assert first["distill_steps"] == 3 and first["stopped_by_time"] is False and first["trial_steps"] == 3
    for t in trials[1:]:
        assert t["repeat_of"] == 0 and {k: t[k] for k in figures} == {k: first[k] for k in figures}
        assert [p.name for p in Path(t["directory"]).iterdir()] == ["record.json"]  # nothing was built
    assert done.stderr.count("drew trial 0's configuration again") == 2
    assert "1 trials finished" in done.stderr and "2 repeated draw(s)" in done.stderr
    assert results["front"] == [0] and results["pick"] == 0
    (run,) = json.loads((out / "search.json").read_text())["runs"]
    assert (run["trials_finished"], run["repeats"]) == (1, 2)
    shown = subprocess.run(
        [str(CLI), "report", str(out)], capture_output=True, text=True, env={**os.environ, **LOOPBACK}
    )
    table = (out / "report.md").read_text()
    assert shown.returncode == 0 and table.count("| repeat of 0 |") == 2, shown.stderr[-2000:]
    assert "1 trials finished" in table and "2 repeated draws were answered from earlier trials" in table
    args = ["--format", "onnx", "--trials", "3", "--max-size-mb", "50", "--finish", "2"]
    again = search(search_model, search_data, space, out, *args)
    assert again.returncode != 0 and "give --finish 0" in again.stderr and "Traceback" not in again.stderr

    # Another step bound trains the draw another way: a resume under --trial-steps 4 builds it again.
    args = ["--format", "onnx", "--trials", "4", "--trial-steps", "4", "--max-size-mb", "50", "--resume", "--json"]
    again = search(search_model, search_data, space, out, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    fourth = json.loads(again.stdout)["trials"][3]
    assert fourth["state"] == "complete" and fourth["distill_steps"] == 4 and "repeat_of" not in fourth
