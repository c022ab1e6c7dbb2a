"""The `ondevice` command line. Library errors become one-line messages and exit codes here only."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ondevice import __version__
from ondevice.cli_common import emit, handle_errors, quiet_libraries, status
from ondevice.errors import ArtifactError, ConfigError

MODEL_HELP = (
    "MODEL is an ondevice checkpoint directory, a Hugging Face checkpoint directory, a hub id "
    "already in the local cache, or all-MiniLM-L6-v2 (bundled). Without it, the built-in "
    "SST-2 sentiment model is used."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ondevice")
def cli() -> None:
    """Put transformer text classifiers on phones: fine-tune, compress, export, verify, profile."""


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
    quiet_libraries()
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
    "--allow-new-labels",
    is_flag=True,
    help="With labels from the data: accept a training label the dev file lacks (refused as a likely typo).",
)
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
    allow_new_labels,
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
    quiet_libraries()
    import torch
    from safetensors.torch import save

    from ondevice.data import read_train_dev
    from ondevice.model import load_model, save_checkpoint
    from ondevice.model.checkpoint import checkpoint_bytes, is_ondevice_checkpoint
    from ondevice.output import check_writable
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
    train, dev = read_train_dev(train_path, dev_path, label_names or base_labels, allow_new_labels)
    if base_labels is None:
        overrides = {"pooling": pooling} if pooling else {}
        base = load_model(model, num_labels=len(train.labels), **overrides)
    elif pooling and pooling != base.config.pooling:
        raise ConfigError("--pooling cannot change the pooling of an ondevice checkpoint")
    base.labels = list(train.labels)
    check_writable(out, checkpoint_bytes(base.model))  # refused before training, not after it
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


SAMPLE_DATA = Path(__file__).resolve().parent / "assets" / "sst2_dev_sample.tsv"
CALIBRATION_DATA = Path(__file__).resolve().parent / "assets" / "sst2_train_sample.tsv"  # 256 of train, seed 0


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


@cli.command()
@click.argument("model", required=False)
@click.option("--target", default="android", show_default=True, help="android, linux-arm64 or host.")
@click.option(
    "--format",
    "formats",
    default=None,
    help="Comma-separated: executorch, tflite, onnx (default: android gets executorch,tflite; others all).",
)
@click.option(
    "--quantize", default="int8-dynamic", show_default=True, help="Comma-separated: fp32, int8-dynamic, int8-static."
)
@click.option(
    "--seq-len",
    "seq_len",
    default="128",
    show_default=True,
    help="Fixed sequence length(s), comma-separated (e.g. 32,64,128): one entry point each, "
    "and a runner takes the smallest that fits the sentence.",
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Sentences to verify on; default: 200 SST-2 dev sentences.",
)
@click.option(
    "--calibration",
    "calibration_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Sentences to calibrate int8-static activations on (the first 256); default: 256 SST-2 train sentences.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Bundle directory (default: ./ondevice-TARGET)."
)
@click.option("--force", is_flag=True, help="Replace --out if it exists and is not empty.")
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True, help="Threads for verification runs.")
@click.option("--max-logit-diff", type=float, default=1e-3, show_default=True, help="fp32: allowed max |Δlogit|.")
@click.option("--min-agreement", type=float, default=0.98, show_default=True, help="int8: required label agreement.")
@click.option(
    "--max-accuracy-drop",
    type=float,
    default=0.01,
    show_default=True,
    help="int8: allowed accuracy loss against PyTorch.",
)
@click.option(
    "--copy-to",
    type=click.Path(path_type=Path),
    default=None,
    help="Also copy the finished bundle into this directory (the Android app's assets).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@handle_errors
def export(
    model,
    target,
    formats,
    quantize,
    seq_len,
    data_path,
    calibration_path,
    out,
    force,
    threads,
    max_logit_diff,
    min_agreement,
    max_accuracy_drop,
    copy_to,
    as_json,
) -> None:
    """Export MODEL to verified mobile artifacts and bundle them with the tokenizer and labels.

    Every artifact is run in its own runtime and compared with the PyTorch model before the bundle
    is written; a failed check fails the export and leaves nothing behind.

    \b
    Example:
        ondevice export --target android
        ondevice export build/minilm-sst2 --target host --format executorch,onnx \\
            --quantize fp32,int8-dynamic --data ../shared/data/sst2/dev.tsv --out build/host
    """
    quiet_libraries()
    from ondevice.data import read_dataset
    from ondevice.export import ExportRequest, Thresholds, export_bundle
    from ondevice.model import load_model

    try:
        seq_lens = [int(n) for n in _csv(seq_len)]
    except ValueError:
        raise click.BadParameter(
            f"{seq_len!r} is not a comma-separated list of integers", param_hint="--seq-len"
        ) from None
    req = ExportRequest(
        target=target,
        formats=_csv(formats),
        quantizations=_csv(quantize),
        seq_lens=seq_lens,
        threads=threads,
        force=force,
        thresholds=Thresholds(max_logit_diff, min_agreement, max_accuracy_drop),
    )
    out = out or Path(f"ondevice-{target}")
    ckpt = load_model(model)
    data = read_dataset(data_path or SAMPLE_DATA, ckpt.labels)
    calibration = None
    if "int8-static" in req.quantizations:  # training sentences, kept apart from the ones verified on
        calibration = read_dataset(calibration_path or CALIBRATION_DATA, ckpt.labels)
    status(
        f"exporting {ckpt.source} for {target}: {', '.join(req.formats)} x {', '.join(req.quantizations)}, "
        f"seq len {','.join(map(str, req.seq_lens))}, verified on {len(data)} sentences"
    )
    manifest = export_bundle(ckpt, out, req, data, calibration=calibration, copy_to=copy_to)
    emit(manifest, as_json, _format_manifest(out, manifest))


def _format_manifest(where: Path, m: dict) -> str:
    lines = [
        f"bundle    {where}",
        f"target    {m['target']}",
        f"model     {m['model']['source']}",
        f"labels    {', '.join(m['labels'])}",
        f"seq len   {', '.join(map(str, m['seq_lens']))}",
        "",
        f"{'artifact':<28} {'size MB':>8} {'max|Δ|':>9} {'agree':>7} {'acc':>7} {'ref acc':>7}",
    ]
    for a in m["artifacts"]:
        v = a["verification"]
        acc = f"{v['accuracy']:.4f}" if v["accuracy"] is not None else "-"
        ref = f"{v['reference_accuracy']:.4f}" if v["reference_accuracy"] is not None else "-"
        lines.append(
            f"{a['file']:<28} {a['size_bytes'] / 1e6:8.2f} {v['max_abs_logit_diff']:9.2e} "
            f"{v['label_agreement']:7.4f} {acc:>7} {ref:>7}"
        )
        d = a["export"].get("delegation")
        if d:
            lines.append(f"{'':<28} {_delegation_summary(d)}")
    return "\n".join(lines)


def _delegation_summary(d: dict) -> str:
    return (
        f"XNNPACK: {d['delegated_ops']} ops in {d['delegate_calls']} delegate calls "
        f"({d['delegated_share']:.1%} of ops, {d['delegated_flop_share']:.1%} of FLOPs); portable: "
        + ", ".join(f"{k} x{n}" for k, n in d["not_delegated"].items())
    )


@cli.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def inspect(artifact: Path, as_json: bool) -> None:
    """Manifest, size by part (embeddings, encoder, head), quantization and delegation of a bundle or artifact.

    \b
    Example:
        ondevice inspect ondevice-android
        ondevice inspect ondevice-android/model.int8-dynamic.pte --json
    """
    quiet_libraries()
    from ondevice.bundle import MANIFEST, load_manifest, load_tokenizer

    bundle, name = (artifact, None) if artifact.is_dir() else (artifact.parent, artifact.name)
    if name is not None and not artifact.is_file():
        raise click.ClickException(f"{artifact}: no such file or bundle")
    manifest_path = bundle / MANIFEST
    if name is not None and not manifest_path.exists() and not manifest_path.is_symlink():
        from ondevice import converters

        converters.module(converters.format_of(artifact)).check_file(artifact)
        info = {"file": str(artifact), "size_bytes": artifact.stat().st_size, "manifest": None, "verified": False}
        emit(
            info,
            as_json,
            f"{artifact}: {info['size_bytes'] / 1e6:.2f} MB, no manifest beside it: its header was checked, "
            "its contents cannot be (no checksum)",
        )
        return
    # The same checks as `run`: schema, paths, every checksum, labels and tokenizer files.
    m = load_manifest(bundle)
    load_tokenizer(bundle, m)
    arts = [a for a in m["artifacts"] if name is None or a["file"] == name]
    if not arts:
        raise click.ClickException(f"{artifact}: not listed in {bundle / 'ondevice.json'}")
    params = m["model"]["parameters"]
    total = sum(params.values())
    for a in arts:
        a["size_by_part"] = {k: round(a["size_bytes"] * v / total) for k, v in params.items()}
    result = {
        "bundle": str(bundle),
        "target": m["target"],
        "labels": m["labels"],
        "seq_len": m["seq_len"],
        "parameters": params,
        "artifacts": arts,
    }
    lines = [
        f"bundle {bundle}  target {m['target']}  seq len {','.join(map(str, m['seq_lens']))}  "
        f"labels {', '.join(m['labels'])}",
        "parameters: " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in params.items()),
    ]
    for a in arts:
        lines.append(
            f"{a['file']}: {a['format']} {a['quantization']}, {a['size_bytes'] / 1e6:.2f} MB "
            f"(embeddings ~{a['size_by_part']['embeddings'] / 1e6:.1f}, "
            f"encoder ~{a['size_by_part']['encoder'] / 1e6:.1f}, head ~{a['size_by_part']['head'] / 1e6:.2f} MB, "
            f"by parameter share), verified max|Δ| {a['verification']['max_abs_logit_diff']:.2e}, "
            f"agreement {a['verification']['label_agreement']:.4f}"
        )
        d = a["export"].get("delegation")
        if d:
            lines.append(f"  {_delegation_summary(d)}")
            for why, n in d.get("why_not_delegated", {}).items():
                lines.append(f"    not delegated: {why} (x{n})")
    emit(result, as_json, "\n".join(lines))


@cli.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1, required=True)
@click.option("--format", "fmt", default=None, help="Which artifact of a bundle (executorch, tflite, onnx).")
@click.option("--quantize", default=None, help="Which artifact of a bundle (fp32, int8-dynamic, int8-static).")
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def run(artifact: Path, texts: tuple[str, ...], fmt, quantize, threads: int, as_json: bool) -> None:
    """Classify TEXTS with an exported artifact on this machine, in the artifact's own runtime.

    ARTIFACT is a bundle directory or an artifact file inside one (its tokenizer and labels are read
    from the bundle; the manifest's checksums are checked first).

    \b
    Example:
        ondevice run ondevice-android "a gorgeous , witty , seductive movie ."
    """
    import time

    quiet_libraries()
    import numpy as np

    from ondevice import converters
    from ondevice.bundle import load_manifest, load_tokenizer, select_artifact
    from ondevice.converters.common import pick_length
    from ondevice.limits import prepare_texts

    # Refuses text that is not valid Unicode ("text 2: ..."), cuts one longer than any model takes.
    texts = prepare_texts(texts, "text", ConfigError)
    bundle = artifact if artifact.is_dir() else artifact.parent
    if not artifact.exists():
        raise click.ClickException(f"{artifact}: no such file or bundle")
    m = load_manifest(bundle)
    if artifact.is_dir():
        a = select_artifact(bundle, m, fmt, quantize)
    else:
        matches = [x for x in m["artifacts"] if x["file"] == artifact.name]
        if not matches:
            raise click.ClickException(f"{artifact}: not listed in {bundle / 'ondevice.json'}")
        a = matches[0]
    tok = load_tokenizer(bundle, m)  # from the files the manifest names and checked, no others
    runner = converters.module(a["format"]).Runner(bundle / a["file"], threads=threads)
    lengths = tok.lengths(texts)
    results = []
    for i, text in enumerate(texts):
        n = pick_length(runner.seq_lens, lengths[i])
        ids, mask = tok([text], max_length=n)
        t0 = time.perf_counter()
        logits = runner.run(ids, mask)[0]
        ms = (time.perf_counter() - t0) * 1000
        if len(logits) != len(m["labels"]):
            raise ArtifactError(f"{a['file']} gives {len(logits)} logits for the manifest's {len(m['labels'])} labels")
        p = np.exp(logits - logits.max())
        p = p / p.sum()
        results.append(
            {
                "text": text,
                "label": m["labels"][int(p.argmax())],
                "probabilities": {name: float(v) for name, v in zip(m["labels"], p, strict=True)},
                "ms": round(ms, 3),
                "tokens": lengths[i],
                "seq_len": n,
                "truncated": lengths[i] > n,
            }
        )
    runner.close()
    out = {
        "artifact": str(bundle / a["file"]),
        "format": a["format"],
        "quantization": a["quantization"],
        "threads": threads,
        "results": results,
    }
    lines = []
    for r in results:
        probs = " ".join(f"{k}={v:.3f}" for k, v in r["probabilities"].items())
        note = f"  (truncated from {r['tokens']} to {r['seq_len']} tokens)" if r["truncated"] else ""
        lines.append(f"{r['label']:<10} {probs}  {r['ms']:.1f} ms{note}")
    emit(out, as_json, "\n".join(lines))


@cli.command()
@click.option("--check", "check_only", is_flag=True, help="Only report; install nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def setup(check_only: bool, as_json: bool) -> None:
    """Install the Debian packages that profiling, ARM emulation and the Java tests need.

    Needs root and apt-get; otherwise it prints the command to run. Python packages come with
    `pip install`; this covers adb, qemu-user-static, the aarch64 cross compiler, a JDK and JUnit.

    \b
    Example:
        ondevice setup --check
    """
    from ondevice import system

    missing = system.missing_packages()
    if missing and not check_only:
        status(f"installing {' '.join(missing)}")
        system.install(missing)
    tools = system.check()
    lines = [f"{'ok' if t['found'] else 'MISSING':<8} {t['name']:<22} {t['package']:<24} {t['purpose']}" for t in tools]
    emit({"tools": tools}, as_json, "\n".join(lines))
    if check_only and missing:
        raise SystemExit(1)


from ondevice.commands.compress import compress, significance  # noqa: E402
from ondevice.commands.devices import devices  # noqa: E402
from ondevice.commands.profile import profile  # noqa: E402
from ondevice.commands.report import report  # noqa: E402

for command in (compress, significance, profile, report, devices):
    cli.add_command(command)


def main() -> None:
    from ondevice.output import install_signal_handlers

    install_signal_handlers()
    cli()


if __name__ == "__main__":
    main()
