"""`ondevice run`: classify texts with an exported artifact on this machine (``ondevice.Classifier``)."""

from __future__ import annotations

from pathlib import Path

import click

from ondevice.cli_common import emit, handle_errors, quiet_libraries
from ondevice.errors import ConfigError
from ondevice.limits import prepare_texts


@click.command()
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
    quiet_libraries()
    from ondevice.classifier import Classifier

    # Refuses text that is not valid Unicode ("text 2: ...") before the bundle's files are hashed, and
    # cuts one longer than any model takes (with one note on stderr; classify finds nothing left to cut).
    texts = prepare_texts(texts, "text", ConfigError)
    with Classifier(artifact, fmt, quantize, threads) as clf:
        predictions = clf.classify(texts)
    results = [
        {
            "text": p.text,
            "label": p.label,
            "probabilities": p.scores,
            "ms": round(p.ms, 3),
            "tokens": p.tokens,
            "seq_len": p.seq_len,
            "truncated": p.truncated,
        }
        for p in predictions
    ]
    out = {
        "artifact": str(clf.path),
        "format": clf.format,
        "quantization": clf.quantization,
        "threads": threads,
        "results": results,
    }
    lines = []
    for r in results:
        probs = " ".join(f"{k}={v:.3f}" for k, v in r["probabilities"].items())
        note = f"  (truncated from {r['tokens']} to {r['seq_len']} tokens)" if r["truncated"] else ""
        lines.append(f"{r['label']:<10} {probs}  {r['ms']:.1f} ms{note}")
    emit(out, as_json, "\n".join(lines))
