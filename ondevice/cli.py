"""The `ondevice` command line. Library errors become one-line messages and exit codes here only."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from ondevice import __version__
from ondevice.errors import ConfigError, OndeviceError

MODEL_HELP = (
    "MODEL is an ondevice checkpoint directory, a Hugging Face checkpoint directory, a hub id "
    "already in the local cache, or all-MiniLM-L6-v2 (bundled). Without it, the built-in "
    "SST-2 sentiment model is used."
)


def handle_errors(fn):
    """Turn library exceptions into one clear line and a non-zero exit; no tracebacks for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            raise click.UsageError(str(e)) from None
        except OndeviceError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except MemoryError:
            raise click.ClickException("out of memory") from None

    return wrapper


def status(message: str) -> None:
    click.echo(message, err=True)


def emit(data: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ondevice")
def cli() -> None:
    """Put transformer text classifiers on phones: fine-tune, compress, export, verify, profile."""


def _quiet_libraries() -> None:
    # Third-party import-time chatter (transformers, torchao) would bury our one-line messages.
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("torch").setLevel(logging.ERROR)


@cli.command("eval")
@click.argument("model", required=False)
@click.option(
    "--data", "data_path", required=True, type=click.Path(path_type=Path), help="Labelled .tsv, .csv or .jsonl file."
)
@click.option(
    "--max-length", type=click.IntRange(2, 4096), default=None, help="Truncation length (default: the model's)."
)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def eval_cmd(model: str | None, data_path: Path, max_length: int | None, batch_size: int, as_json: bool) -> None:
    """Accuracy, per-class precision/recall and the confusion matrix of MODEL on labelled data.

    \b
    Example:
        ondevice eval --data ../shared/data/sst2/dev.tsv
        ondevice eval build/minilm-sst2 --data dev.tsv --json
    """
    _quiet_libraries()
    from ondevice.data import read_dataset
    from ondevice.evaluate import evaluate
    from ondevice.model import load_model

    ckpt = load_model(model)
    data = read_dataset(data_path, ckpt.labels)
    status(f"evaluating {ckpt.source} on {len(data)} examples from {data_path}")
    report = evaluate(ckpt, data, batch_size=batch_size, max_length=max_length)
    report = {"model": ckpt.source, "data": str(data_path), **report}
    emit(report, as_json, _format_report(report))


def _format_report(r: dict) -> str:
    lines = [
        f"model     {r['model']}",
        f"data      {r['data']} ({r['n']} examples)",
        f"accuracy  {r['accuracy']:.4f}",
        "",
    ]
    w = max(len(n) for n in r["labels"]) + 2
    lines.append(f"{'label':<{w}} precision  recall     f1  support")
    for name, m in r["per_class"].items():
        lines.append(f"{name:<{w}} {m['precision']:9.4f} {m['recall']:7.4f} {m['f1']:6.4f} {m['support']:8d}")
    lines.append("")
    lines.append("confusion matrix (rows: true, columns: predicted)")
    lines.append(" " * w + " ".join(f"{n:>10}" for n in r["labels"]))
    for name, row in zip(r["labels"], r["confusion_matrix"], strict=True):
        lines.append(f"{name:<{w}}" + " ".join(f"{v:>10d}" for v in row))
    return "\n".join(lines)


@cli.command()
@click.argument("model", required=False, default="all-MiniLM-L6-v2")
@click.option("--train", "train_path", required=True, type=click.Path(path_type=Path), help="Labelled training file.")
@click.option(
    "--dev",
    "dev_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Labelled dev file; the best dev accuracy is kept.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output checkpoint directory.")
@click.option("--labels", default=None, help="Comma-separated label names, in index order (default: from the data).")
@click.option(
    "--pooling", type=click.Choice(["cls", "mean"]), default=None, help="Sentence pooling (default: the checkpoint's)."
)
@click.option("--head-only", is_flag=True, help="Train only the classification head on a frozen encoder.")
@click.option("--epochs", type=float, default=3.0, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--lr", type=float, default=5e-5, show_default=True, help="Learning rate of full fine-tuning.")
@click.option("--head-lr", type=float, default=1e-3, show_default=True, help="Learning rate of --head-only.")
@click.option("--max-length", type=click.IntRange(8, 4096), default=128, show_default=True)
@click.option("--max-minutes", type=float, default=None, help="Wall-clock bound; the schedule anneals to fit it.")
@click.option("--train-embeddings", is_flag=True, help="Also train the word-embedding table (slower on CPU).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None, help="CPU threads (default: all cores).")
@click.option("--json", "as_json", is_flag=True, help="Print the training summary as JSON.")
@handle_errors
def finetune(
    model,
    train_path,
    dev_path,
    out,
    labels,
    pooling,
    head_only,
    epochs,
    batch_size,
    lr,
    head_lr,
    max_length,
    max_minutes,
    train_embeddings,
    seed,
    threads,
    as_json,
) -> None:
    """Fine-tune MODEL on labelled text and save the best dev checkpoint to --out.

    \b
    Example:
        ondevice finetune all-MiniLM-L6-v2 --labels negative,positive \\
            --train ../shared/data/sst2/train.tsv --dev ../shared/data/sst2/dev.tsv \\
            --max-minutes 55 --out build/minilm-sst2
    """
    _quiet_libraries()
    import torch
    from safetensors.torch import save

    from ondevice.data import read_dataset
    from ondevice.model import load_model, save_checkpoint
    from ondevice.model.checkpoint import is_ondevice_checkpoint
    from ondevice.train import FinetuneConfig, head_state
    from ondevice.train import finetune as run_finetune

    if threads:
        torch.set_num_threads(threads)
    cfg = FinetuneConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        head_lr=head_lr,
        max_length=max_length,
        seed=seed,
        max_minutes=max_minutes,
        freeze_embeddings=not train_embeddings,
        head_only=head_only,
    )
    label_names = [s.strip() for s in labels.split(",")] if labels else None
    if label_names is not None and (
        len(label_names) < 2 or not all(label_names) or len(set(label_names)) != len(label_names)
    ):
        raise ConfigError("--labels needs at least two distinct, non-empty names")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")

    path = Path(model).expanduser()
    base_labels = None
    if path.is_dir() and is_ondevice_checkpoint(path):
        base = load_model(model)
        base_labels = base.labels
    train = read_dataset(train_path, label_names or base_labels)
    dev = read_dataset(dev_path, train.labels)
    if base_labels is None:
        overrides = {"pooling": pooling} if pooling else {}
        base = load_model(model, num_labels=len(train.labels), **overrides)
    elif pooling and pooling != base.config.pooling:
        raise ConfigError("--pooling cannot change the pooling of an ondevice checkpoint")
    base.labels = list(train.labels)
    status(
        f"fine-tuning {base.source} ({'head only' if head_only else 'all layers'}) on {len(train)} examples, "
        f"dev {len(dev)}, {torch.get_num_threads()} threads"
    )
    result = run_finetune(base, train, dev, cfg)
    base.info = {
        **base.info,
        "finetune": {
            "base": model,
            "train": str(train_path),
            "dev": str(dev_path),
            "command": " ".join(["ondevice", *sys.argv[1:]]),
            "best_dev_accuracy": result.best_accuracy,
            "best_step": result.best_step,
            "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "stopped_by_time": result.stopped_by_time,
            "threads": torch.get_num_threads(),
            "history": result.history,
            "config": result.config,
        },
    }
    extra = {"head.safetensors": save(head_state(base))} if head_only else None
    save_checkpoint(base, out, extra_files=extra)
    summary = {"out": str(out), **{k: v for k, v in base.info["finetune"].items() if k != "history"}}
    text = (
        f"saved {out}\nbest dev accuracy {result.best_accuracy:.4f} at step {result.best_step} of {result.steps}, "
        f"{result.seconds / 60:.1f} min" + (" (stopped by --max-minutes)" if result.stopped_by_time else "")
    )
    emit(summary, as_json, text)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
