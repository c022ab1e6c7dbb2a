"""``ondevice report``: a markdown table and plots made from result records, and from nothing else.

The plots, one row per target (times from different targets are never put on one axis):
latency distribution per artifact (box and every sample), and size vs p50 latency with the
accuracy the bundle manifest recorded at export as the colour, the Pareto front marked (no other
artifact is at once smaller, faster and at least as accurate).
"""

from __future__ import annotations

import json
from pathlib import Path

from ondevice.errors import ProfileError
from ondevice.profile import record as records


def collect(paths: list[Path]) -> tuple[list[tuple[Path, dict]], list[Path]]:
    """Records from files and directories (searched recursively).

    Returns:
        (path, record) pairs sorted by target and artifact, and the JSON files in the directories that
        are not profile records (skipped). A file named directly must be a valid record.
    """
    found, skipped = [], []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*.json")):
                if not f.is_file():
                    continue  # a directory named *.json, a dangling link
                try:
                    data = json.loads(f.read_text())
                except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                    skipped.append(f)
                    continue
                except OSError as e:
                    raise ProfileError(f"{f} cannot be read: {e.strerror or e}") from None
                if isinstance(data, dict) and data.get("schema") == records.SCHEMA:
                    found.append((f, records.load(f)))  # a record of ours that is broken is an error
                else:
                    skipped.append(f)
        else:
            found.append((p, records.load(p)))
    if not found:
        raise ProfileError(f"no result records in {', '.join(map(str, paths))}")
    found.sort(key=lambda pr: (pr[1]["target"]["name"], label(pr[1]), pr[1]["created"]))
    return found, skipped


def label(r: dict) -> str:
    """A short name for a record's artifact and runner: ``model.int8-dynamic.pte [native] L32``."""
    a, s = r["artifact"], r["settings"]
    runner = r["runtime"].get("runner") or "?"
    return f"{a.get('file') or Path(a['path']).name} [{runner}]" + (f" L{s['seq_len']}" if s.get("seq_len") else "")


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def markdown(pairs: list[tuple[Path, dict]]) -> str:
    """One table per target."""
    out = []
    by_target: dict[str, list[dict]] = {}
    for _, r in pairs:
        by_target.setdefault(r["target"]["name"], []).append(r)
    for name, recs in by_target.items():
        dev = recs[0]["device"]
        emulated = any(r["emulated"] for r in recs)
        out.append(f"### {name}" + (" (emulated: not a device's speed)" if emulated else ""))
        out.append("")
        out.append(
            f"Device: {dev.get('soc') or dev.get('model') or 'unknown'}, {dev.get('cores') or '?'} cores, "
            f"{dev.get('os') or ''}".rstrip(", ")
            + "."
        )
        out.append("")
        out.append(
            "| artifact | runtime | runner | threads | size MB | p50 ms | p90 ms | p99 ms | std ms | load ms "
            "| first ms | peak RSS MB | accuracy | runs |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in recs:
            a, t, s = r["artifact"], r["timing"], r["settings"]
            acc = (a.get("verification") or {}).get("accuracy")
            rss = r["memory"].get("peak_rss_bytes")
            runs = f"{len(t['samples_ms'])}" + ("" if r["complete"] else " (incomplete)")
            rt = r["runtime"]
            out.append(
                f"| {a.get('file')}"
                + (f" L{s['seq_len']}" if s.get("seq_len") else "")
                + f" | {rt.get('name')} {rt.get('version') or ''} | {rt.get('runner')} | {s['threads']} "
                f"| {a['size_bytes'] / 1e6:.1f} | {_ms(t['p50_ms'])} | {_ms(t['p90_ms'])} | {_ms(t['p99_ms'])} "
                f"| {_ms(t['std_ms'])} | {_ms(t['load_ms'])} | {_ms(t['first_inference_ms'])} "
                f"| {'-' if rss is None else f'{rss / 1e6:.0f}'} | {'-' if acc is None else f'{acc:.4f}'} | {runs} |"
            )
        compared = [r for r in recs if r["outputs"].get("match") is not None]
        if compared:
            out.append("")
            out.append("Logits against the same artifact on the host:")
            out.append("")
            for r in compared:
                o = r["outputs"]
                diff = "different shape" if o["max_abs_diff"] is None else f"max |Δ| {o['max_abs_diff']:.2e}"
                verdict = "within" if o["match"] else "NOT within"
                out.append(
                    f"- {label(r)}: {diff} ({verdict} {o['tolerance']:g}), "
                    f"same label: {'yes' if o['same_label'] else 'no'}"
                )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def pareto(points: list[tuple[float, float, float | None]]) -> list[bool]:
    """Which (size, latency, accuracy) points no other point dominates: smaller or equal size and latency,
    greater or equal accuracy, and better in one. A missing accuracy counts as the worst."""

    def acc(p):
        return -1.0 if p[2] is None else p[2]

    flags = []
    for i, p in enumerate(points):
        dominated = any(
            q[0] <= p[0] and q[1] <= p[1] and acc(q) >= acc(p) and (q[0] < p[0] or q[1] < p[1] or acc(q) > acc(p))
            for j, q in enumerate(points)
            if j != i
        )
        flags.append(not dominated)
    return flags


def _place_numbers(ax, pts: list[tuple], numbers: list[str]) -> None:
    """Each point's number beside it, nudged up where numbers would overlap, with a leader line."""
    xmax, ymax = max(p[0] for p in pts) * 1.3, max(p[1] for p in pts) * 1.25
    gap_y, gap_x = ymax * 0.05, xmax * 0.04
    placed: list[tuple[float, float]] = []
    for i in sorted(range(len(pts)), key=lambda i: (pts[i][1], pts[i][0])):
        x, y = pts[i][0], pts[i][1]
        ly = y
        while any(abs(ly - py) < gap_y and abs(x - px) < gap_x for px, py in placed):
            ly += gap_y
        placed.append((x, ly))
        ax.annotate(
            numbers[i],
            (x, y),
            xytext=(x + gap_x * 0.6, ly),
            fontsize=9,
            fontweight="bold",
            va="center",
            arrowprops={"arrowstyle": "-", "color": "gray", "lw": 0.6},
        )


def plot(pairs: list[tuple[Path, dict]], path: Path) -> Path:
    """Render the plots to a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_target: dict[str, list[dict]] = {}
    for _, r in pairs:
        if r["timing"]["samples_ms"]:
            by_target.setdefault(r["target"]["name"], []).append(r)
    if not by_target:
        names = ", ".join(str(path) for path, _ in pairs[:3]) + (", ..." if len(pairs) > 3 else "")
        raise ProfileError(f"no record has latency samples to plot ({names}); leave out --plot")
    rows = len(by_target)
    tallest = max(len(v) for v in by_target.values())
    fig, axes = plt.subplots(
        rows,
        2,
        figsize=(15, max(4.5, 0.45 * tallest + 2.2) * rows),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.1, 1]},
    )
    cmap = plt.get_cmap("viridis")
    accs = [(r["artifact"].get("verification") or {}).get("accuracy") for v in by_target.values() for r in v]
    known = [a for a in accs if a is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.005, hi + 0.005
    norm = matplotlib.colors.Normalize(vmin=lo, vmax=hi)
    for row, (name, recs) in enumerate(by_target.items()):
        emulated = any(r["emulated"] for r in recs)
        suffix = "\nEMULATED: not a device's speed; compare within this target only" if emulated else ""
        ax = axes[row][0]
        labels = [f"{i}  {label(r)}" for i, r in enumerate(recs, start=1)]
        data = [r["timing"]["samples_ms"] for r in recs]
        ax.boxplot(data, vert=False, widths=0.6, showfliers=False, medianprops={"color": "black"})
        for i, d in enumerate(data, start=1):
            ys = [i + 0.25 * ((k * 0.618) % 1 - 0.5) for k in range(len(d))]  # deterministic jitter
            ax.scatter(d, ys, s=9, alpha=0.5, color="tab:blue", zorder=3)
        ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlabel("latency per inference (ms)")
        ax.set_title(f"{name}: latency per artifact [runner] L<seq len>{suffix}", fontsize=11)
        ax.grid(axis="x", alpha=0.3)

        ax = axes[row][1]
        pts = [
            (
                r["artifact"]["size_bytes"] / 1e6,
                r["timing"]["p50_ms"],
                (r["artifact"].get("verification") or {}).get("accuracy"),
            )
            for r in recs
        ]
        front = pareto(pts)
        markers = {"executorch": "o", "tflite": "s", "onnx": "^"}
        for (size, p50, acc), on_front, r in zip(pts, front, recs, strict=True):
            ax.scatter(
                size,
                p50,
                s=150 if on_front else 70,
                marker=markers.get(r["artifact"]["format"], "o"),
                color="lightgray" if acc is None else cmap(norm(acc)),
                edgecolors="red" if on_front else "black",
                linewidths=2.2 if on_front else 0.6,
                zorder=3,
            )
        _place_numbers(ax, pts, [str(i) for i in range(1, len(recs) + 1)])
        # The size-latency front among the Pareto points, as a staircase.
        fp = sorted((s, p) for (s, p, _), f in zip(pts, front, strict=True) if f)
        best, stairs = float("inf"), []
        for s, p in fp:
            if p < best:
                best = p
                stairs.append((s, p))
        if len(stairs) > 1:
            xs, ys = zip(*stairs, strict=True)
            ax.step(xs, ys, where="post", color="red", alpha=0.5, linewidth=1.2, label="Pareto front")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_xlabel("artifact size (MB)")
        ax.set_ylabel("p50 latency (ms)")
        ax.set_title(
            f"{name}: size vs p50, numbered as on the left\n"
            f"(o pte, \u25a1 tflite, \u25b3 onnx; colour: accuracy; red edge: Pareto-optimal){suffix}",
            fontsize=11,
        )
        ax.grid(alpha=0.3)
        ax.set_xlim(0, max(p[0] for p in pts) * 1.3)
        ax.set_ylim(0, max(p[1] for p in pts) * 1.25)
        if known:
            fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="accuracy (export check)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def save_figure(fig, path: Path, dpi: int) -> Path:
    """Write a matplotlib figure to a PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    from ondevice.output import staged_file

    try:
        with staged_file(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return Path(path)
