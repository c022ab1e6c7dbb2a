"""Sequence-length study: `.pte` latency and peak memory of dense vs low-rank vs Linformer MiniLM; writes JSON.

    python benchmarks/seq_length.py --out profiles/results/seq-length-host.json
    python benchmarks/seq_length.py --render profiles/results/seq-length-host.json \
        --plot profiles/results/seq-length-host.png        # the README's table (stdout) and plot

Greenformers claims low-rank factorization pays at short sequences and Linformer at long ones; this
measures where Linformer overtakes low-rank on this machine. The models come from the built-in default
MiniLM (what each costs does not depend on what it has learned, so none is distilled here):

- dense: as it is;
- low-rank: every projection factorized under half of the encoder's linear parameters (the ``lowrank``
  recipe's step);
- Linformer: keys and values projected to k positions (headwise sharing), sized for n = 512.

Every model is exported to an fp32 `.pte` at each length (XNNPACK), cached under --work. Latency: the
artifacts of one length timed in one process, interleaved, batch 1, --threads threads, a sentence
padded to the length. Peak memory: the peak resident set of a child process (``pyrunner.py``) that
loads the artifact and runs it. L = 1024 is not measured: MiniLM's position table has 512 rows.
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

ROOT = Path(__file__).resolve().parents[1]
LENGTHS = (64, 128, 256, 512)
LINFORMER_N = 512
SENTENCE = "it 's a charming and often affecting journey ."


def models(linformer_ks: list[int]) -> dict:
    from ondevice.compress import compress_
    from ondevice.compress.linformer import LinformerConfig
    from ondevice.compress.lowrank import LowRankConfig
    from ondevice.model import load_model

    base = load_model(None)
    base.model.eval()
    out = {"dense": base}
    lowrank = copy.deepcopy(base)
    compress_(lowrank.model, LowRankConfig(param_budget=0.5))
    out["low-rank"] = lowrank
    for k in linformer_ks:
        lin = copy.deepcopy(base)
        compress_(lin.model, LinformerConfig(k=k, n=LINFORMER_N, sharing="headwise"))
        out[f"linformer-k{k}"] = lin
    return out


def build(work: Path, ckpts: dict, lengths: tuple[int, ...]) -> dict[tuple[str, int], Path]:
    import converters
    from converters.common import ExportOptions

    paths = {}
    for name, ckpt in ckpts.items():
        for n in lengths:
            path = work / f"{name}-L{n}.pte"
            if not path.is_file():
                t0 = time.time()
                converters.module("executorch").export(ckpt.model, path, ExportOptions(seq_lens=(n,)))
                print(f"seq-length: exported {path.name} in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
            paths[(name, n)] = path
    return paths


def peak_rss(path: Path, threads: int) -> int:
    runner = ROOT / "ondevice" / "profile" / "pyrunner.py"
    cmd = [sys.executable, str(runner), "--model", str(path), "--threads", str(threads), "--warmup", "1", "--runs", "3"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return int(json.loads(out.strip().splitlines()[-1])["peak_rss_bytes"])


def measure(args) -> dict:
    from timing import interleaved

    import converters
    from ondevice.compress.stats import flops

    ckpts = models(args.linformer_k)
    paths = build(args.work, ckpts, args.lengths)
    tokenizer = ckpts["dense"].tokenizer
    rows = []
    for n in args.lengths:
        runners = {name: converters.open_runner(paths[(name, n)], threads=args.threads) for name in ckpts}
        ids, mask = tokenizer([SENTENCE], max_length=n)
        feeds = {name: (ids.astype(r.input_dtype), mask.astype(r.input_dtype)) for name, r in runners.items()}
        samples = interleaved(
            {name: (lambda r=r, x=feeds[name]: r.run(*x)) for name, r in runners.items()}, args.warmup, args.runs
        )
        for name in ckpts:
            s = np.asarray(samples[name])
            rows.append({
                "model": name,
                "seq_len": n,
                "size_bytes": paths[(name, n)].stat().st_size,
                "gflops": flops(ckpts[name].model.config, n)["total"] / 1e9,
                "p50_ms": float(np.percentile(s, 50)),
                "p90_ms": float(np.percentile(s, 90)),
                "peak_rss_bytes": peak_rss(paths[(name, n)], args.threads),
                "samples_ms": [round(x, 4) for x in s],
            })  # fmt: skip
            print(f"seq-length: L={n} {name}: p50 {rows[-1]['p50_ms']:.1f} ms", file=sys.stderr, flush=True)
        for r in runners.values():
            r.close()
    from ondevice.profile.host import cpu_facts

    facts = cpu_facts()
    return {
        "schema": "ondevice.seq-length",
        "schema_version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpu": facts["soc"], "cores": facts["cores"], "threads": args.threads},
        "settings": {
            "runs": args.runs,
            "warmup": args.warmup,
            "format": "executorch fp32 (XNNPACK)",
            "linformer": {"n": LINFORMER_N, "ks": args.linformer_k, "sharing": "headwise"},
            "lowrank": {"param_budget": 0.5},
        },  # fmt: skip
        "rows": rows,
    }


def crossover(rows: list[dict], a: str, b: str) -> int | None:
    """The shortest length at which ``b`` is faster than ``a`` (p50)."""
    for n in sorted({r["seq_len"] for r in rows}):
        ra = next((r for r in rows if r["model"] == a and r["seq_len"] == n), None)
        rb = next((r for r in rows if r["model"] == b and r["seq_len"] == n), None)
        if ra and rb and rb["p50_ms"] < ra["p50_ms"]:
            return n
    return None


def render(data: dict, plot: Path | None) -> str:
    rows = data["rows"]
    names = list(dict.fromkeys(r["model"] for r in rows))
    lengths = sorted({r["seq_len"] for r in rows})
    out = ["| model | " + " | ".join(f"L={n} p50 ms (peak MB)" for n in lengths) + " |"]
    out.append("|---|" + "---|" * len(lengths))
    for name in names:
        cells = []
        for n in lengths:
            r = next(r for r in rows if r["model"] == name and r["seq_len"] == n)
            cells.append(f"{r['p50_ms']:.1f} ({r['peak_rss_bytes'] / 1e6:.0f})")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    for name in names:
        if name.startswith("linformer"):
            n = crossover(rows, "low-rank", name)
            out.append("")
            out.append(
                f"{name} is faster than low-rank from L = {n} on." if n else f"{name} never beats low-rank here."
            )
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ondevice.profile.report import save_figure

        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for name in names:
            rs = sorted((r for r in rows if r["model"] == name), key=lambda r: r["seq_len"])
            x = [r["seq_len"] for r in rs]
            axes[0].plot(x, [r["p50_ms"] for r in rs], marker="o", label=name)
            axes[1].plot(x, [r["peak_rss_bytes"] / 1e6 for r in rs], marker="o", label=name)
        for ax, label in zip(axes, ["p50 latency (ms)", "peak resident memory (MB)"], strict=True):
            ax.set_xscale("log", base=2)
            ax.set_xticks(lengths, [str(n) for n in lengths])
            ax.set_xlabel("sequence length")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(f"fp32 .pte on {data['machine']['cpu']}, {data['machine']['threads']} threads")
        fig.tight_layout()
        save_figure(fig, plot, dpi=100)
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "profiles" / "results" / "seq-length-host.json")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "seq-length")
    ap.add_argument("--lengths", type=lambda s: tuple(int(x) for x in s.split(",")), default=LENGTHS)
    ap.add_argument("--linformer-k", type=int, action="append", default=None, help="Projected length(s); default 64.")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--render", type=Path, help="Print the table of a result file instead of measuring.")
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()
    if args.render:
        print(render(json.loads(args.render.read_text()), args.plot), end="")
        return
    args.linformer_k = args.linformer_k or [64]
    from ondevice.jsonfile import write_json_atomic

    write_json_atomic(args.out, measure(args))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
