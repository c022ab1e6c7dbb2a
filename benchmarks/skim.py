"""Token-skimming study: SST-2 dev accuracy, encoder FLOPs and `.pte` latency of skimming MiniLM; writes JSON.

    python benchmarks/skim.py --out profiles/results/skim-host.json
    python benchmarks/skim.py --render profiles/results/skim-host.json     # the README's table

Every model starts from the fine-tuned MiniLM (--model; fine-tune it first, see the README):

- dense: as it is;
- attention-*: training-free skimming (keep the tokens that received the most attention in the
  layer before), at two budget schedules;
- learned: the shipped ``skim`` recipe (Transkimmer's predictors, Gumbel-softmax training, then the
  static budgets), built with ``ondevice compress`` under --work unless it is there.

A budget is a share of the padded input length, so what it removes depends on the padding. Two
regimes are measured, each with the model in PyTorch and as an fp32 `.pte` (XNNPACK) in ExecuTorch:

- ``fixed-128``: every sentence padded to 128 (SST-2 sentences average about 25 tokens, so a budget
  first drops padding);
- ``buckets``: every sentence padded to the shortest of 32, 64 and 128 that holds it, as ondevice's
  bundles run it, so a budget removes real tokens.

Latency: batch 1, --threads threads, the `.pte` files timed in one process, interleaved: one
sentence padded to 128 (--runs runs), and every dev sentence once in its bucket.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
DATA = ROOT.parent / "shared" / "data" / "sst2"
BUCKETS = (32, 64, 128)
SENTENCE = "it 's a charming and often affecting journey ."
ATTENTION = {  # training-free schedules: the share of the tokens each block computes (0: all)
    "attention-50": [0, 0.5, 0.5, 0.5, 0.5, 0.5],
    "attention-taper": [0, 0.5, 0.4, 0.3, 0.25, 0.2],
}


def log(msg: str) -> None:
    print(f"skim: {msg}", file=sys.stderr, flush=True)


def models(args) -> dict:
    from ondevice.compress import compress_
    from ondevice.compress.skim import SkimConfig
    from ondevice.model import load_model

    base = load_model(str(args.model))
    base.model.eval()
    out = {"dense": base}
    for name, keep in ATTENTION.items():
        m = copy.deepcopy(base)
        compress_(m.model, SkimConfig(keep=keep, predictor="attention"))
        out[name] = m
    learned = args.work / "learned"
    if not (learned / "config.json").is_file():
        log(f"building the learned skimmer with the skim recipe into {learned}")
        t0 = time.time()
        subprocess.run(
            [sys.executable, "-m", "ondevice.cli", "compress", str(args.model), "--recipe", "skim"]
            + ["--data", str(args.data / "train.tsv"), "--dev", str(args.data / "dev.tsv"), "--out", str(learned)],
            check=True,
        )  # fmt: skip
        log(f"built in {time.time() - t0:.0f} s")
    out["learned"] = load_model(str(learned))
    out["learned"].model.eval()
    return out


def export(args, ckpts: dict) -> dict[str, Path]:
    import converters
    from converters.common import ExportOptions

    args.work.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, ckpt in ckpts.items():
        path = args.work / f"{name}.pte"
        if not path.is_file():
            t0 = time.time()
            converters.module("executorch").export(ckpt.model, path, ExportOptions(seq_lens=BUCKETS))
            log(f"exported {path.name} in {time.time() - t0:.0f} s")
        paths[name] = path
    return paths


def encoder_flops(config, counts: list[int]) -> dict:
    from converters.common import pick_length
    from ondevice.compress.stats import flops

    per_sentence = [flops(config, pick_length(list(BUCKETS), n))["encoder"] for n in counts]
    return {"fixed-128": flops(config, 128)["encoder"], "buckets_mean": float(np.mean(per_sentence))}


def measure(args) -> dict:
    from timing import interleaved

    import converters
    from converters.common import pick_length
    from ondevice.data import read_dataset
    from ondevice.evaluate import predict_logits
    from ondevice.profile.host import cpu_facts

    ckpts = models(args)
    paths = export(args, ckpts)
    tokenizer = ckpts["dense"].tokenizer
    dev = read_dataset(args.data / "dev.tsv", ckpts["dense"].labels)
    texts, targets = dev.texts, np.asarray(dev.targets)
    rows = [tokenizer.token_ids([t], 128)[0] for t in texts]
    counts = [len(r) for r in rows]

    def feed(row: list[int], length: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        ids, mask = np.zeros((1, length), dtype=dtype), np.zeros((1, length), dtype=dtype)
        ids[0, : len(row)], mask[0, : len(row)] = row, 1
        return ids, mask

    runners = {name: converters.open_runner(p, threads=args.threads) for name, p in paths.items()}
    results = {}
    for name, ckpt in ckpts.items():
        log(f"{name}: accuracy")
        r, dtype = runners[name], runners[name].input_dtype
        acc = {}
        for regime, pad_to in (("fixed-128", (128,)), ("buckets", BUCKETS)):
            torch_pred = predict_logits(ckpt, texts, pad_to=pad_to, desc=f"{name} {regime}").argmax(-1)
            pte_pred = np.array([
                int(np.argmax(r.run(*feed(row, pick_length(list(pad_to), len(row)), dtype))[0])) for row in rows
            ])  # fmt: skip
            acc[regime] = {
                "pytorch": float((torch_pred == targets).mean()),
                "pte": float((pte_pred == targets).mean()),
                "label_agreement": float((torch_pred == pte_pred).mean()),
            }
        results[name] = {
            "keep": [layer.skim_keep for layer in ckpt.config.layers],
            "predictor": ckpt.config.skim_predictor if any(x.skim_keep for x in ckpt.config.layers) else None,
            "encoder_flops": encoder_flops(ckpt.config, counts),
            "size_bytes": paths[name].stat().st_size,
            "accuracy": acc,
        }
    log(f"fixed-128: {args.runs} interleaved runs")
    fixed = {name: feed(rows[0], 128, r.input_dtype) for name, r in runners.items()}
    samples = interleaved({n: (lambda r=r, x=fixed[n]: r.run(*x)) for n, r in runners.items()}, 5, args.runs)
    log("buckets: every dev sentence once")
    sentence_ms = {name: [] for name in runners}
    for row in rows:
        for name, r in runners.items():
            x = feed(row, pick_length(list(BUCKETS), len(row)), r.input_dtype)
            t0 = time.perf_counter()
            r.run(*x)
            sentence_ms[name].append((time.perf_counter() - t0) * 1000)
    for name in runners:
        s = np.asarray(samples[name])
        results[name]["latency_ms"] = {
            "fixed-128": {"p50": float(np.percentile(s, 50)), "p90": float(np.percentile(s, 90))},
            "buckets": {"mean": float(np.mean(sentence_ms[name])), "p50": float(np.percentile(sentence_ms[name], 50))},
        }
        runners[name].close()
    learned_info = (
        json.loads((args.work / "learned" / "info.json").read_text())
        if (args.work / "learned" / "info.json").is_file()
        else None
    )
    facts = cpu_facts()
    return {
        "schema": "ondevice.skim",
        "schema_version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu": facts["soc"], "cores": facts["cores"], "threads": args.threads},
        "settings": {
            "runs": args.runs,
            "buckets": list(BUCKETS),
            "format": "executorch fp32 (XNNPACK)",
            "model": str(args.model),
        },  # fmt: skip
        "learned_recipe": learned_info.get("compression") if learned_info else None,
        "models": results,
    }


def render(data: dict) -> str:
    models = data["models"]
    dense = models["dense"]
    out = [
        "| model | keep per block | encoder GFLOPs @128 (vs dense) | acc @128 PyTorch / .pte | "
        "acc buckets PyTorch / .pte | encoder GFLOPs buckets (vs dense) | .pte ms @128 | .pte ms buckets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        f, a, t = m["encoder_flops"], m["accuracy"], m["latency_ms"]
        keep = " ".join(f"{k:g}" if k else "-" for k in m["keep"])
        fewer = dense["encoder_flops"]["fixed-128"] / f["fixed-128"]
        out.append(
            f"| {name} | {keep} | {f['fixed-128'] / 1e9:.2f} ({fewer:.2f}x) "
            f"| {a['fixed-128']['pytorch']:.2%} / {a['fixed-128']['pte']:.2%} "
            f"| {a['buckets']['pytorch']:.2%} / {a['buckets']['pte']:.2%} "
            f"| {f['buckets_mean'] / 1e9:.3f} ({dense['encoder_flops']['buckets_mean'] / f['buckets_mean']:.2f}x) "
            f"| {t['fixed-128']['p50']:.1f} ({dense['latency_ms']['fixed-128']['p50'] / t['fixed-128']['p50']:.2f}x) "
            f"| {t['buckets']['mean']:.2f} ({dense['latency_ms']['buckets']['mean'] / t['buckets']['mean']:.2f}x) |"
        )
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "build" / "minilm-sst2", help="The fine-tuned model.")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "profiles" / "results" / "skim-host.json")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "skim")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--render", type=Path, help="Print the table of a result file instead of measuring.")
    args = ap.parse_args()
    if args.render:
        print(render(json.loads(args.render.read_text())), end="")
        return
    if not (args.model / "config.json").is_file():
        sys.exit(f"skim: no fine-tuned model at {args.model}; fine-tune one first (see the README)")
    from ondevice.jsonfile import write_json_atomic

    write_json_atomic(args.out, measure(args))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
