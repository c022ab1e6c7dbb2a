"""Single-sentence host latency of every artifact in a bundle, in its own runtime; writes JSON.

    python benchmarks/bundle_latency.py BUNDLE --out profiles/results/bundle-latency.json

Artifacts are timed interleaved (one run of each in turn) so that machine noise hits all alike.
Absolute times on shared machines are noise; compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
from timing import interleaved

from ondevice import Classifier
from ondevice.bundle import load_manifest
from ondevice.output import write_json

SENTENCE = "it 's a charming and often affecting journey ."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()

    manifest = load_manifest(args.bundle)
    classifiers = {a["file"]: Classifier(args.bundle / a["file"], threads=args.threads) for a in manifest["artifacts"]}
    # The sentence padded to each artifact's longest length, encoded before the clock starts.
    inputs = {name: clf.encode([SENTENCE]) for name, clf in classifiers.items()}
    samples = interleaved(
        {name: (lambda c=clf, x=inputs[name]: c.logits(*x)) for name, clf in classifiers.items()},
        args.warmup,
        args.runs,
    )
    for clf in classifiers.values():
        clf.close()
    rows = []
    for a in manifest["artifacts"]:
        s = np.asarray(samples[a["file"]])
        rows.append(
            {
                "file": a["file"],
                "format": a["format"],
                "quantization": a["quantization"],
                "size_bytes": a["size_bytes"],
                "max_abs_logit_diff": a["verification"]["max_abs_logit_diff"],
                "label_agreement": a["verification"]["label_agreement"],
                "accuracy": a["verification"]["accuracy"],
                "reference_accuracy": a["verification"]["reference_accuracy"],
                "p50_ms": float(np.percentile(s, 50)),
                "p90_ms": float(np.percentile(s, 90)),
                "samples_ms": s.round(4).tolist(),
            }
        )
    result = {
        "bundle": str(args.bundle),
        "sentence": SENTENCE,
        "seq_len": manifest["seq_len"],
        "threads": args.threads,
        "warmup": args.warmup,
        "runs": args.runs,
        "machine": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "artifacts": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    for r in rows:
        print(
            f"{r['file']:<28} {r['size_bytes'] / 1e6:7.2f} MB  p50 {r['p50_ms']:7.2f} ms  "
            f"max|Δ| {r['max_abs_logit_diff']:.2e}  agree {r['label_agreement']:.4f}  acc {r['accuracy']}"
        )


if __name__ == "__main__":
    main()
