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
                try:
                    data = json.loads(f.read_text())
                except (json.JSONDecodeError, UnicodeDecodeError):
                    skipped.append(f)
                    continue
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
        matches = [r for r in recs if r["outputs"].get("match") is not None]
        if matches:
            worst = max(r["outputs"]["max_abs_diff"] for r in matches)
            ok = all(r["outputs"]["match"] for r in matches)
            out.append("")
            out.append(
                f"Logits against the host's: max |Δ| {worst:.2e} over {len(matches)} runs "
                f"({'all within' if ok else 'NOT all within'} {matches[0]['outputs']['tolerance']:g})."
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


def plot(pairs: list[tuple[Path, dict]], path: Path) -> Path:
    """Render the plots to a PNG (written atomically)."""
    import os
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_target: dict[str, list[dict]] = {}
    for _, r in pairs:
        if r["timing"]["samples_ms"]:
            by_target.setdefault(r["target"]["name"], []).append(r)
    if not by_target:
        raise ProfileError("no record has latency samples to plot")
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
        suffix = " — EMULATED, not a device's speed" if emulated else ""
        ax = axes[row][0]
        labels = [label(r) for r in recs]
        data = [r["timing"]["samples_ms"] for r in recs]
        ax.boxplot(data, vert=False, widths=0.6, showfliers=False, medianprops={"color": "black"})
        for i, d in enumerate(data, start=1):
            ys = [i + 0.25 * ((k * 0.618) % 1 - 0.5) for k in range(len(d))]  # deterministic jitter
            ax.scatter(d, ys, s=9, alpha=0.5, color="tab:blue", zorder=3)
        ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlabel("latency per inference (ms)")
        ax.set_title(f"{name}: latency distribution{suffix}", fontsize=11)
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
        for (size, p50, acc), on_front, lab in zip(pts, front, labels, strict=True):
            color = "lightgray" if acc is None else cmap(norm(acc))
            ax.scatter(
                size,
                p50,
                s=140 if on_front else 60,
                color=color,
                edgecolors="red" if on_front else "black",
                linewidths=2.0 if on_front else 0.6,
                zorder=3,
            )
            ax.annotate(lab, (size, p50), textcoords="offset points", xytext=(7, 4), fontsize=8)
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
        ax.set_title(f"{name}: size vs p50, colour = accuracy, red ring = Pareto{suffix}", fontsize=11)
        ax.grid(alpha=0.3)
        ax.margins(x=0.25, y=0.2)
        if known:
            fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="accuracy (export check)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path
