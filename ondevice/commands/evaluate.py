"""`ondevice eval`: accuracy, per-class figures and the confusion matrix of a model on labelled data."""

from __future__ import annotations

from pathlib import Path

import click

from ondevice.cli_common import column_options, emit, handle_errors, quiet_libraries, status


@click.command("eval")
@click.argument("model", required=False)
@click.option(
    "--data", "data_path", required=True, type=click.Path(path_type=Path), help="Labelled .tsv, .csv or .jsonl file."
)
@click.option(
    "--max-length", type=click.IntRange(2, 4096), default=None, help="Truncation length (default: the model's)."
)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@column_options
@handle_errors
def eval_cmd(
    model: str | None, data_path: Path, max_length: int | None, batch_size: int, as_json: bool, columns
) -> None:
    """Accuracy, per-class precision/recall and the confusion matrix of MODEL on labelled data.

    A multi-label model gets micro and macro F1, subset accuracy (all of a text's labels right) and
    per-label precision/recall/F1 at the thresholds chosen when it was fine-tuned.

    \b
    Example:
        ondevice eval --data ../shared/data/sst2/dev.tsv
        ondevice eval build/minilm-sst2 --data dev.tsv --json
    """
    quiet_libraries()
    from ondevice.data import read_dataset
    from ondevice.evaluate import evaluate
    from ondevice.model import load_model

    ckpt = load_model(model)
    data = read_dataset(
        data_path,
        ckpt.labels,
        columns,
        pairs=ckpt.tokenizer.settings.text_pair,
        multi_label=ckpt.config.multi_label,
    )
    status(f"evaluating {ckpt.source} on {len(data)} examples from {data_path}")
    report = evaluate(ckpt, data, batch_size=batch_size, max_length=max_length)
    report = {"model": ckpt.source, "data": str(data_path), **report}
    emit(report, as_json, _format_report(report))


def _format_report(r: dict) -> str:
    multi = r.get("problem_type") == "multi_label_classification"
    if multi:
        figures = [("micro F1", r["micro_f1"]), ("macro F1", r["macro_f1"]), ("subset accuracy", r["subset_accuracy"])]
    else:
        figures = [("accuracy", r["accuracy"])]
    head = [("model", r["model"]), ("data", f"{r['data']} ({r['n']} examples)")]
    width = max(len(k) for k, _ in figures) + 2
    lines = [f"{k:<{width}}{v}" for k, v in head] + [f"{k:<{width}}{v:.4f}" for k, v in figures] + [""]
    w = max(len(n) for n in r["labels"]) + 2
    lines.append(f"{'label':<{w}} precision  recall     f1  support" + ("  threshold" if multi else ""))
    for name, m in r["per_label" if multi else "per_class"].items():
        line = f"{name:<{w}} {m['precision']:9.4f} {m['recall']:7.4f} {m['f1']:6.4f} {m['support']:8d}"
        lines.append(line + (f" {m['threshold']:10.2f}" if multi else ""))
    if multi:
        return "\n".join(lines)
    lines.append("")
    lines.append("confusion matrix (rows: true, columns: predicted)")
    lines.append(" " * w + " ".join(f"{n:>10}" for n in r["labels"]))
    for name, row in zip(r["labels"], r["confusion_matrix"], strict=True):
        lines.append(f"{name:<{w}}" + " ".join(f"{v:>10d}" for v in row))
    return "\n".join(lines)
