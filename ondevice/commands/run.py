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
@click.option(
    "--pair",
    "pairs",
    multiple=True,
    help="The second text of a sentence pair, for a model of pairs: one --pair for each text, in order.",
)
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def run(
    artifact: Path, texts: tuple[str, ...], fmt, quantize, pairs: tuple[str, ...], threads: int, as_json: bool
) -> None:
    """Classify TEXTS with an exported artifact on this machine, in the artifact's own runtime.

    ARTIFACT is a bundle directory or an artifact file inside one (its tokenizer and labels are read
    from the bundle; the manifest's checksums are checked first). A multi-label model prints the labels
    above their thresholds ("(none)" when none is) and each label's sigmoid probability.

    \b
    Example:
        ondevice run ondevice-android "a gorgeous , witty , seductive movie ."
        ondevice run nli-bundle "a man plays a guitar ." --pair "someone makes music ."
    """
    quiet_libraries()
    from ondevice.classifier import Classifier

    # Refuses text that is not valid Unicode ("text 2: ...") before the bundle's files are hashed, and
    # cuts one longer than any model takes (with one note on stderr; classify finds nothing left to cut).
    texts = prepare_texts(texts, "text", ConfigError)
    pairs = prepare_texts(pairs, "--pair", ConfigError)
    if pairs and len(pairs) != len(texts):
        raise ConfigError(f"{len(texts)} texts and {len(pairs)} --pair texts: give one --pair for each text")
    with Classifier(artifact, fmt, quantize, threads) as clf:
        if clf.text_pair and not pairs:
            raise ConfigError("this model classifies sentence pairs: give the second text of each with --pair")
        if pairs and not clf.text_pair:
            raise ConfigError("--pair: this model classifies single texts, not sentence pairs")
        predictions = clf.classify(list(zip(texts, pairs, strict=True)) if pairs else texts)
    results = [
        {
            "text": p.text,
            **({"text_pair": p.text_pair} if p.text_pair is not None else {}),
            "label": p.label,
            **({"labels": list(p.labels)} if p.labels is not None else {}),
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
        shown = r["label"] if "labels" not in r else ",".join(r["labels"]) or "(none)"
        lines.append(f"{shown:<10} {probs}  {r['ms']:.1f} ms{note}")
    emit(out, as_json, "\n".join(lines))
