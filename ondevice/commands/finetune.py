"""`ondevice finetune`: train a classifier on labelled text and save the checkpoint chosen without its dev data."""

from __future__ import annotations

from pathlib import Path

import click

from ondevice.cli_common import column_options, command_line, emit, handle_errors, quiet_libraries, status


@click.command()
@click.argument("model", required=False, default="all-MiniLM-L6-v2")
@click.option("--train", "train_path", required=True, type=click.Path(path_type=Path), help="Labelled training file.")
@click.option(
    "--dev",
    "dev_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Labelled dev file, evaluated once after training and only reported (it chooses nothing).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output checkpoint directory.")
@click.option("--labels", default=None, help="Comma-separated label names, in index order (default: from the data).")
@click.option(
    "--allow-new-labels",
    is_flag=True,
    help="With labels from the data: accept a training label the dev file lacks (refused as a likely typo).",
)
@click.option(
    "--pooling", type=click.Choice(["cls", "mean"]), default=None, help="Sentence pooling (default: the checkpoint's)."
)
@click.option(
    "--multi-label",
    is_flag=True,
    help="Any number of labels per text ('a|b' label fields, JSONL label lists); sigmoid outputs, "
    "per-label thresholds chosen on 10%% of --train held out.",
)
@click.option("--head-only", is_flag=True, help="Train only the classification head on a frozen encoder.")
@click.option(
    "--select",
    metavar="split|last",
    default="split",
    show_default=True,
    help="Weights kept: split, the best on a share of --train carved out and not trained on; last, the final ones.",
)
@click.option(
    "--select-share",
    type=float,
    default=0.1,
    show_default=True,
    help="Share of --train carved out to select on (at most 2000 examples; multi-label: the thresholds too).",
)
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
@column_options
@handle_errors
def finetune(
    model,
    train_path,
    dev_path,
    out,
    labels,
    allow_new_labels,
    pooling,
    multi_label,
    head_only,
    select,
    select_share,
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
    columns,
) -> None:
    """Fine-tune MODEL on labelled text and save it to --out.

    The weights kept are the best on a split carved from --train (--select split) or the last ones
    (--select last); --dev is evaluated once, at the end, and reported.

    \b
    Example:
        ondevice finetune all-MiniLM-L6-v2 --labels negative,positive \\
            --train ../shared/data/sst2/train.tsv --dev ../shared/data/sst2/dev.tsv \\
            --max-minutes 55 --out build/minilm-sst2
    """
    quiet_libraries()
    import torch

    from ondevice.train import FinetuneConfig, finetune_record, prepare_finetune, result_line, save_finetuned
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
        select=select,
        select_share=select_share,
    )
    label_names = [s.strip() for s in labels.split(",")] if labels else None
    base, train, dev = prepare_finetune(
        model, train_path, dev_path, out, label_names, allow_new_labels, pooling, columns, multi_label
    )
    status(
        f"fine-tuning {base.source} ({'head only' if head_only else 'all layers'}) on {len(train)} "
        f"{'sentence pairs' if train.pairs else 'examples'}{' (multi-label)' if train.multi_label else ''}, "
        f"dev {len(dev)}, {torch.get_num_threads()} threads"
    )
    result = run_finetune(base, train, dev, cfg)
    record = finetune_record(
        result, base=model, train=train_path, dev=dev_path, command=command_line(), threads=torch.get_num_threads()
    )
    save_finetuned(base, out, record, head_only)
    summary = {"out": str(out), **{k: v for k, v in record.items() if k != "history"}}
    emit(summary, as_json, f"saved {out}\n{result_line(result)}")
