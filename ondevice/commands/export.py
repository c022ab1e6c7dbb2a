"""`ondevice export` (verified artifacts in a bundle) and `ondevice inspect` (what a bundle or artifact holds)."""

from __future__ import annotations

from pathlib import Path

import click

from ondevice.cli_common import SeqLens, column_options, emit, handle_errors, quiet_libraries, status


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


@click.command()
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
    "seq_lens",
    type=SeqLens(),
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
    help="Sentences (or sentence pairs) to verify on; default: 200 SST-2 dev sentences (for a model of pairs, "
    "each paired with the next).",
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
@click.option(
    "--min-agreement",
    type=float,
    default=0.98,
    show_default=True,
    help="int8: required label agreement (multi-label: share of per-label decisions equal to PyTorch's).",
)
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
@column_options
@handle_errors
def export(
    model,
    target,
    formats,
    quantize,
    seq_lens,
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
    columns,
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
    from ondevice.export import ExportRequest, Thresholds, export_bundle, export_data
    from ondevice.model import load_model

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
    data, calibration = export_data(ckpt, req, data_path, calibration_path, columns)
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
        f"tokenizer {m['tokenizer'].get('kind', 'WordPiece')}",
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


@click.command()
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

        converters.runtime(converters.format_of(artifact)).check_file(artifact)
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
