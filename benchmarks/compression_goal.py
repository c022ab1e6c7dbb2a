"""Where a compressed model stands against the compression goal; writes JSON.

    python benchmarks/compression_goal.py --base build/minilm-sst2 \
        --fp32-bundle build/bundle-base-fp32 --bundle build/bundle-mobile-int8 \
        --out profiles/results/compression-mobile-host.json

The goal (issue "Compression I"): at sequence length 128, the compressed model's int8 ExecuTorch
artifact at most 1/8 of the fp32 `.pte` size, SST-2 dev accuracy within 1.0 point of the fp32
fine-tuned model, and host latency at most 1/3 of PyTorch eager fp32 (2 threads, same run). The
search's goals (issue "ondevice search") are judged beside them: at most 1/16 of the size and 1/6 of
eager's latency, within the same point.

Accuracies are the ones export's verification measured, each artifact in its own runtime on the
data it was given (export both bundles with `--data` the full dev set). Latencies are timed here,
interleaved (one run of each in turn) so that machine noise hits all alike; the figures that count
are the ratios within this one run.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import torch
from timing import interleaved

from ondevice import Classifier
from ondevice.bundle import load_manifest
from ondevice.model import load_model
from ondevice.output import write_json

SENTENCE = "it 's a charming and often affecting journey ."


def _pte(bundle: Path, quantization: str) -> dict:
    """The bundle's .pte of that quantization ("int8": dynamic, else static, as the bundle has it)."""
    manifest = load_manifest(bundle)
    wanted = ["int8-dynamic", "int8-static"] if quantization == "int8" else [quantization]
    for q in wanted:
        for a in manifest["artifacts"]:
            if a["format"] == "executorch" and a["quantization"] == q:
                return {"bundle": bundle, "manifest": manifest, "artifact": a}
    raise SystemExit(f"{bundle} has no {quantization} .pte")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="The fp32 fine-tuned checkpoint (PyTorch eager reference).")
    ap.add_argument("--fp32-bundle", type=Path, required=True, help="Export of --base with an fp32 .pte.")
    ap.add_argument("--bundle", type=Path, action="append", required=True, help="Compressed int8 bundle(s).")
    ap.add_argument("--quantize", default="int8", help="The compressed .pte: int8 (dynamic, else static), or a mode.")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    base = load_model(args.base)
    base.model.eval()
    fp32 = _pte(args.fp32_bundle, "fp32")
    seq_len = fp32["artifact"]["seq_len"]
    candidates = {"fp32 .pte": fp32} | {str(b): _pte(b, args.quantize) for b in args.bundle}

    ids, mask = base.tokenizer([SENTENCE], max_length=seq_len)
    eager_in = (torch.as_tensor(ids), torch.as_tensor(mask))
    timed = {"pytorch eager fp32": lambda: base.model(*eager_in)}
    for name, c in candidates.items():
        a = c["artifact"]
        if a["seq_len"] != seq_len:
            raise SystemExit(f"{name}: sequence length {a['seq_len']}, not {seq_len}")
        clf = Classifier(c["bundle"] / a["file"], threads=args.threads)
        inputs = clf.encode([SENTENCE], seq_len)
        timed[name] = lambda clf=clf, x=inputs: clf.logits(*x)

    with torch.no_grad():
        samples = interleaved(timed, args.warmup, args.runs)

    p50 = {name: float(np.percentile(s, 50)) for name, s in samples.items()}
    fp32_size = fp32["artifact"]["size_bytes"]
    fp32_acc = fp32["artifact"]["verification"]["reference_accuracy"]
    rows = []
    for name, c in [("pytorch eager fp32", None), *candidates.items()]:
        s = np.asarray(samples[name])
        row = {
            "name": name,
            "p50_ms": p50[name],
            "p90_ms": float(np.percentile(s, 90)),
            "samples_ms": s.round(4).tolist(),
        }
        if c is not None:
            a, v = c["artifact"], c["artifact"]["verification"]
            m = c["manifest"]["model"]
            row |= {
                "file": str(c["bundle"] / a["file"]),
                "quantization": a["quantization"],
                "size_bytes": a["size_bytes"],
                "parameters": sum(m["parameters"].values()),
                "recipe": (m.get("compression") or {}).get("recipe", {}).get("name"),
                "dev_accuracy": v["accuracy"],
                "pytorch_accuracy": v["reference_accuracy"],
                "label_agreement": v["label_agreement"],
                "sentences": v["sentences"],
                "size_ratio_vs_fp32_pte": a["size_bytes"] / fp32_size,
                "speedup_vs_eager": p50["pytorch eager fp32"] / p50[name],
                "accuracy_drop_points": 100 * (fp32_acc - v["accuracy"]),
            }
            row["goals"] = {
                "size_at_most_1_8": row["size_ratio_vs_fp32_pte"] <= 1 / 8,
                "accuracy_within_1_point": row["accuracy_drop_points"] <= 1.0,
                "latency_at_most_1_3": row["speedup_vs_eager"] >= 3.0,
                # the search's goals (issue 20): 16x smaller than the fp32 model, 6x faster than eager fp32
                "size_at_most_1_16": row["size_ratio_vs_fp32_pte"] <= 1 / 16,
                "latency_at_most_1_6": row["speedup_vs_eager"] >= 6.0,
            }
        rows.append(row)
    result = {
        "base": args.base,
        "base_fp32_accuracy": fp32_acc,
        "seq_len": seq_len,
        "sentence": SENTENCE,
        "threads": args.threads,
        "warmup": args.warmup,
        "runs": args.runs,
        "machine": {"machine": platform.machine(), "processor": platform.processor(), "cpus": torch.get_num_threads()},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "runs_by_artifact": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    for r in rows:
        extra = ""
        if "size_bytes" in r:
            extra = (
                f"  {r['size_bytes'] / 1e6:6.2f} MB ({r['size_ratio_vs_fp32_pte']:.3f} of fp32 .pte)  "
                f"acc {r['dev_accuracy']:.4f} ({r['accuracy_drop_points']:+.2f} pt drop)  "
                f"{r['speedup_vs_eager']:.2f}x vs eager"
            )
        print(f"{r['name']:<40} p50 {r['p50_ms']:7.2f} ms{extra}")


if __name__ == "__main__":
    main()
