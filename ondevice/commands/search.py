"""`ondevice search`: the compressed model that fits a budget, by multi-objective search on Ray."""

from __future__ import annotations

from pathlib import Path

import click

from ondevice.cli_common import column_options, emit, handle_errors, quiet_libraries, status


@click.command()
@click.argument("model", required=False, default="default")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="Labelled training data.")
@click.option(
    "--target",
    "target_spec",
    default="host",
    show_default=True,
    help="Profiling target: host, linux-arm64-qemu, android[:SERIAL], or a target file's name.",
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Directory of the study, trials and results."
)
@click.option("--space", "space_path", default=None, help="Search space TOML file (default: the shipped one).")
@click.option("--max-size-mb", type=float, default=None, help="Budget: artifact size in MB (10^6 bytes).")
@click.option(
    "--max-latency-ms", type=float, default=None, help="Budget: p50 latency on the target at the space's length."
)
@click.option(
    "--max-accuracy-drop",
    type=float,
    default=None,
    help="Budget: validation accuracy below the input model's, as a share (0.01: one point).",
)
@click.option(
    "--objectives", default="size,latency,accuracy", show_default=True, help="What Optuna optimises, comma-separated."
)
@click.option(
    "--trials",
    type=int,
    default=20,
    show_default=True,
    help="Trials to finish (a resumed search counts those finished before).",
)
@click.option("--time-budget-minutes", type=float, default=None, help="Start no trial after this long.")
@click.option(
    "--trial-minutes",
    type=float,
    default=None,
    help="Wall-clock bound of each trial's distillation (default: 5, or none with --trial-steps).",
)
@click.option(
    "--trial-steps",
    type=int,
    default=None,
    help="Each trial's distillation takes this many training steps, its learning-rate schedule spread over them: "
    "the same draw then trains the same way whatever the machine's load (--trial-minutes, if given too, still "
    "cuts it short). A draw already built under the same steps is not built again: its figures stand.",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Trials in flight at once; each gets the cluster's CPUs / workers.",
)
@click.option(
    "--ray-address", default=None, help="HOST:PORT of a running Ray head to join (default: start a local cluster)."
)
@click.option(
    "--format",
    "artifact_format",
    default="executorch",
    show_default=True,
    help="The artifact format measured: executorch, tflite or onnx.",
)
@click.option(
    "--val-size",
    type=int,
    default=1000,
    show_default=True,
    help="Texts of --data held out to measure accuracy on, where the model's fine-tuning record names none it "
    "held out of --data (whole texts: the phrases inside them are not trained on).",
)
@click.option("--resume", is_flag=True, help="Continue the search in --out; finished trials are kept.")
@click.option(
    "--finish",
    default=None,
    is_flag=False,
    flag_value="pick",
    metavar="[TRIAL]",
    help="Run the pick's (or trial TRIAL's) recipe in full and export its bundle, instead of searching: "
    "into --out/finish (TRIAL: --out/finish-TRIAL).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@column_options
@handle_errors
def search(
    model,
    data_path,
    target_spec,
    out,
    space_path,
    max_size_mb,
    max_latency_ms,
    max_accuracy_drop,
    objectives,
    trials,
    time_budget_minutes,
    trial_minutes,
    trial_steps,
    workers,
    ray_address,
    artifact_format,
    val_size,
    resume,
    finish,
    seed,
    as_json,
    columns,
) -> None:
    """Search MODEL's compressions for those that fit a budget on a target.

    Each trial draws a recipe from the search space, compresses MODEL with it, distils briefly from
    MODEL (its logits computed once), exports and verifies the artifact, and profiles it on the
    target. Accuracy is measured on texts of --data that MODEL was not trained on: those its fine-tuning
    held out, or else --val-size texts carved here; never on data you report.
    Trials run as Ray tasks on a local cluster, or on the one at --ray-address; Optuna chooses the next
    recipe from the results, with the budget as constraints. Everything is written to --out, and
    `ondevice report OUT` draws it.

    \b
    Example:
        ondevice search build/minilm-sst2 --data ../shared/data/sst2/train.tsv --target host \\
            --max-size-mb 6 --max-latency-ms 4 --trials 24 --workers 2 --out build/search
        ondevice search build/minilm-sst2 --data ../shared/data/sst2/train.tsv --out build/search --finish
    """
    quiet_libraries()
    from ondevice.search.driver import SearchError, SearchSettings, _no_fit
    from ondevice.search.driver import finish as run_finish
    from ondevice.search.driver import search as run_search
    from ondevice.search.front import Budget

    settings = SearchSettings(
        model=model,
        data=data_path,
        target=target_spec,
        out=out,
        columns=columns,
        space=space_path,
        format=artifact_format,
        objectives=[o.strip() for o in objectives.split(",") if o.strip()],
        max_size_mb=max_size_mb,
        max_latency_ms=max_latency_ms,
        max_accuracy_drop=max_accuracy_drop,
        trials=trials,
        time_budget_minutes=time_budget_minutes,
        trial_minutes=trial_minutes if trial_minutes is not None or trial_steps else 5.0,
        trial_steps=trial_steps,
        workers=workers,
        ray_address=ray_address,
        resume=resume,
        seed=seed,
        val_size=val_size,
    )
    if finish is not None:
        record = run_finish(settings, finish, status)
        emit(record, as_json, _finish_text(record))
        return
    try:
        results = run_search(settings, status)
    except KeyboardInterrupt:
        status(f"search stopped; `ondevice search ... --out {out} --resume` continues it")
        raise
    emit(results, as_json, _text(results))
    budget = Budget(**results["budget"])
    if budget.limits() and results["pick"] is None:
        closest = next((t for t in results["trials"] if t["number"] == results["closest"]), None)
        raise SearchError(_no_fit(budget, closest) + f"; every trial is in {out / 'results.json'}")


def _text(results: dict) -> str:
    lines = [f"{'trial':>5} {'state':<11} {'size MB':>8} {'p50 ms':>8} {'accuracy':>9}  front  fits"]
    front = set(results["front"])
    for t in results["trials"]:
        if t["state"] == "complete":
            lines.append(
                f"{t['number']:>5} {t['state']:<11} {t['size_bytes'] / 1e6:8.2f} {t['latency_ms']:8.2f} "
                f"{t['accuracy']:9.4f}  {'*' if t['number'] in front else ' ':^5}  {'yes' if t.get('fits') else 'no'}"
            )
        elif t["state"] == "repeat":
            lines.append(f"{t['number']:>5} {t['state']:<11} trial {t['repeat_of']}'s draw again, not built")
        else:
            lines.append(f"{t['number']:>5} {t['state']:<11} {t.get('error', '')}")
    if results["pick"] is not None:
        lines.append(
            f"pick: trial {results['pick']} (within the budget, the smallest of the trials within one standard "
            "error of the most accurate); finish it with --finish"
        )
    lines.append(f"results: {Path(results['out']) / 'results.json'}")
    return "\n".join(lines)


def _finish_text(r: dict) -> str:
    return (
        f"finished trial {r['trial']}: {r['size_bytes'] / 1e6:.2f} MB {r['artifact']}, {r['latency_ms']:.2f} ms, "
        f"validation accuracy {r['accuracy']:.4f} (the trial had {r['trial_figures']['accuracy']:.4f}); "
        f"bundle {r['bundle']}"
    )
