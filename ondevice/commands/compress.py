"""`ondevice compress` (run a recipe) and `ondevice significance` (rank heads, neurons and sub-layers)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from ondevice.cli_common import column_options, command_line, emit, handle_errors, quiet_libraries, status
from ondevice.errors import ConfigError

DEV_HOLDOUT = 1000


def _split_dev(train, dev_path: Path | None, seed: int, columns=None):
    """The dev set: --dev (read as --data is: its columns, pairs or not), or a fixed random hold-out of the
    training data's whole texts, the phrases inside them kept out of training (data.held_out)."""
    from ondevice.data import read_dataset

    if dev_path is not None:
        return train, read_dataset(dev_path, train.labels, columns, pairs=train.pairs, multi_label=train.multi_label)
    if len(train) < 2 * DEV_HOLDOUT:
        raise ConfigError(f"--data has {len(train)} examples; give --dev, or at least {2 * DEV_HOLDOUT} to hold out")
    return train.split(1.0, seed, most=DEV_HOLDOUT)


def _finetune_held_out(ckpt, data_path: Path, train) -> tuple:
    """((rest, held), how) where the input model's fine-tuning record names the texts of --data it held out:
    the distillations select on those, which the teacher never trained on; else (None, None), and each
    distillation carves its split from --data (texts the teacher may have learned, if it was tuned on it)."""
    from ondevice.train import finetune_held_out

    split, note = finetune_held_out(ckpt, data_path, train)
    if split is not None:
        rest, held, how = split
        status(
            f"selecting distilled weights on the {len(held)} texts of --data that the input model's fine-tuning "
            "held out (the teacher never trained on them); training on the rest"
        )
        return (rest, held), how
    if note:
        status(f"note: {note}; each distillation carves its own split to select on")
    return None, None


def _step_line(r: dict) -> str:
    f = r["flops"]["total"] / 1e9
    return (
        f"{r['step']:>2} {r['kind']:<9} params {r['parameters'] / 1e6:7.2f}M  "
        f"GFLOPs@{r['seq_len']} {f:6.3f}  dev acc {r['dev_accuracy']:.4f}  {r['seconds']:7.1f} s"
    )


@click.command()
@click.argument("model", required=False)
@click.option("--recipe", required=True, help="A shipped recipe name (conservative, mobile, lowrank) or a TOML file.")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="Labelled training data.")
@click.option(
    "--dev",
    "dev_path",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Labelled dev data, measured after every step and only reported (default: {DEV_HOLDOUT} whole texts "
    "held out of --data, the phrases inside them not trained on).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output checkpoint directory.")
@click.option("--max-minutes", type=float, default=None, help="Wall-clock bound of each distillation step.")
@click.option(
    "--select",
    metavar="split|last",
    default=None,
    help="Weights a distillation step keeps: split, the best on texts of --data not trained on (those the input "
    "model's fine-tuning held out where its record names them, else a share carved out); last, the final ones "
    "(default: each step's own select, split unless the recipe says).",
)
@click.option("--threads", type=click.IntRange(1), default=None, help="CPU threads (default: all cores).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace --out if it exists and is not empty.")
@click.option("--json", "as_json", is_flag=True, help="Print the step records as JSON.")
@column_options
@handle_errors
def compress(
    model, recipe, data_path, dev_path, out, max_minutes, select, threads, seed, force, as_json, columns
) -> None:
    """Compress MODEL with a recipe of steps (low-rank, prune, distill) and save an ondevice checkpoint.

    After every step it prints parameters, FLOPs at the recipe's sequence length and dev accuracy;
    the records go into the checkpoint's info.json and the bundle manifest of its export. A
    distillation step keeps its best weights on a split of --data, never by the dev data: the texts
    the input model's fine-tuning held out where its record names them (the teacher never trained on
    those), else a share carved from --data.

    \b
    Example:
        ondevice compress build/minilm-sst2 --recipe mobile \\
            --data ../shared/data/sst2/train.tsv --dev ../shared/data/sst2/dev.tsv --out build/minilm-mobile
        ondevice export build/minilm-mobile --target android
    """
    quiet_libraries()
    import torch

    from ondevice.compress.recipe import load_recipe, run_recipe
    from ondevice.data import read_dataset
    from ondevice.model import load_model, save_checkpoint
    from ondevice.model.checkpoint import checkpoint_bytes
    from ondevice.output import check_writable
    from ondevice.train import SELECT, DistillConfig

    if select is not None and select not in SELECT:  # refused even by a recipe with no step to apply it to
        raise ConfigError(f"--select must be one of {', '.join(SELECT)}, not {select!r}")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not force)):
        raise ConfigError(f"--out {out} exists and is not empty (use --force to replace it)")
    if max_minutes is not None and max_minutes <= 0:
        raise ConfigError("--max-minutes must be positive")
    if threads:
        torch.set_num_threads(threads)
    plan = load_recipe(recipe)
    given = {k: v for k, v in (("max_minutes", max_minutes), ("select", select)) if v is not None}
    if given:
        plan.steps = [dataclasses.replace(s, **given) if isinstance(s, DistillConfig) else s for s in plan.steps]
    ckpt = load_model(model)
    pairs = ckpt.tokenizer.settings.text_pair
    train = read_dataset(data_path, ckpt.labels, columns, pairs=pairs, multi_label=ckpt.config.multi_label)
    selects = any(isinstance(s, DistillConfig) and s.select == "split" for s in plan.steps)
    split, how = _finetune_held_out(ckpt, data_path, train) if selects else (None, None)
    train, held = split if split is not None else (train, None)
    train, dev = _split_dev(train, dev_path, seed, columns)
    check_writable(out, checkpoint_bytes(ckpt.model))  # before the work, not after it
    status(
        f"compressing {ckpt.source} with recipe {plan.name!r} ({len(plan.steps)} steps) on {len(train)} examples, "
        f"dev {len(dev)}, {torch.get_num_threads()} threads"
    )
    records = run_recipe(ckpt, plan, train, dev, seed=seed, on_step=lambda r: status(_step_line(r)), select=held)
    ckpt.info["compression"]["command"] = command_line()
    ckpt.info["compression"]["select_split"] = how  # None: each distillation carved its own from --data
    ckpt.info["compression"]["base"] = str(model or "default")
    ckpt.source = str(out)
    save_checkpoint(ckpt, out)
    first, last = records[0], records[-1]
    data = {"out": str(out), "recipe": plan.to_dict(), "steps": records}
    text = "\n".join(
        [_step_line(r) for r in records]
        + [
            f"saved {out}: {first['parameters'] / last['parameters']:.2f}x fewer parameters, "
            f"{first['flops']['total'] / last['flops']['total']:.2f}x fewer FLOPs, "
            f"dev accuracy {first['dev_accuracy']:.4f} -> {last['dev_accuracy']:.4f}"
        ]
    )
    emit(data, as_json, text)


@click.command()
@click.argument("model", required=False)
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="Labelled task data.")
@click.option("--method", type=click.Choice(["taylor", "ablation"]), default="taylor", show_default=True)
@click.option("--examples", type=click.IntRange(1), default=512, show_default=True, help="Calibration examples used.")
@click.option("--group-size", type=click.IntRange(1), default=64, show_default=True, help="Neurons per ablated group.")
@click.option("--max-length", type=click.IntRange(2, 4096), default=128, show_default=True)
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, help="Parts listed in the text output.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole ranking as JSON.")
@column_options
@handle_errors
def significance(model, data_path, method, examples, group_size, max_length, top, as_json, columns) -> None:
    """Rank MODEL's attention heads, FFN neurons and sub-layers by how much the task needs them.

    taylor: first-order |gradient x activation| of the task loss; ablation: rise of the loss when a
    part is switched off. Least significant first: the parts pruning would remove.

    \b
    Example:
        ondevice significance build/minilm-sst2 --data ../shared/data/sst2/dev.tsv --method ablation
    """
    quiet_libraries()
    import numpy as np

    from ondevice.compress.significance import Calibration, ranking
    from ondevice.compress.significance import significance as score
    from ondevice.data import read_dataset
    from ondevice.model import load_model

    ckpt = load_model(model)
    ckpt.config.check_length(max_length)
    pairs = ckpt.tokenizer.settings.text_pair
    data = read_dataset(data_path, ckpt.labels, columns, pairs=pairs, multi_label=ckpt.config.multi_label)
    pick = np.random.default_rng(0).permutation(len(data))[:examples]
    texts, targets = data.texts, data.multi_hot() if data.multi_label else data.targets
    calib = Calibration.from_data(ckpt.tokenizer, [texts[i] for i in pick], [targets[i] for i in pick], max_length)
    status(f"scoring {ckpt.source} by {method} on {calib.size} examples")
    result = {
        "model": ckpt.source,
        "examples": calib.size,
        **ranking(ckpt.model, score(ckpt.model, calib, method, group_size), method),
    }
    lines = [f"least significant heads ({method}):"]
    lines += [f"  layer {h['layer']} head {h['head']:>2}  {h['score']:.3g}" for h in result["heads"][:top]]
    lines.append("sub-layers, least significant first:")
    lines += [f"  layer {s['layer']} {s['sublayer']:<9}  {s['score']:.3g}" for s in result["sublayers"]]
    lines.append("FFN neurons per layer (mean, 10/50/90% quantiles):")
    for layer, n in result["neurons"].items():
        q = " ".join(f"{v:.3g}" for v in n["quantiles"])
        lines.append(f"  layer {layer}  {n['mean']:.3g}  [{q}]")
    emit(result, as_json, "\n".join(lines))
