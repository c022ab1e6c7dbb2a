"""`ondevice report SEARCH_DIR`: a search's trials as a table and a plot.

Read from the search's own records (``search.json``, ``trials/*/record.json``), so a search that was
stopped before it wrote ``results.json`` is reported too. The plot puts size against latency, each
trial coloured by its validation accuracy, rings the Pareto front, stars the pick and draws the
budget's bounds.
"""

from __future__ import annotations

from pathlib import Path

from ondevice.data import FROM_FINETUNE
from ondevice.errors import ProfileError
from ondevice.jsonfile import read_json
from ondevice.search.driver import META, load_trials
from ondevice.search.front import Budget, complete, pareto_front, pick


def is_search(path: Path) -> bool:
    return path.is_dir() and (path / META).is_file()


def load(directory: Path) -> dict:
    """The search at ``directory``: its meta, trials, budget, front, pick and closest trial."""
    meta = read_json(directory / META, ProfileError)
    if not isinstance(meta, dict) or meta.get("format") != "ondevice-search":
        raise ProfileError(f"{directory / META} is not an ondevice search record")
    trials = load_trials(directory)
    b = meta.get("budget") or {}
    budget = Budget(
        b.get("max_size_mb"), b.get("max_latency_ms"), b.get("max_accuracy_drop"), meta.get("base_accuracy")
    )
    objectives = meta.get("objectives") or ["size", "latency", "accuracy"]
    chosen, closest = pick(trials, budget, meta.get("val_examples"))
    return {
        "directory": str(directory),
        "meta": meta,
        "trials": trials,
        "budget": budget,
        "front": [t["number"] for t in pareto_front(trials, objectives)],
        "pick": chosen["number"] if chosen else None,
        "closest": closest["number"] if closest else None,
    }


def _steps(t: dict) -> str:
    """A trial's draw in a few words: its parameters without the step numbers."""
    parts = []
    for name, v in t.get("params", {}).items():
        short = name.split(".", 1)[1] if name[0].isdigit() else name
        parts.append(f"{short}={v:g}" if isinstance(v, float) else f"{short}={v}")
    return ", ".join(parts)


def time_split(trials: list[dict]) -> dict[str, float]:
    """Seconds spent in each phase over the complete trials."""
    total: dict[str, float] = {}
    for t in complete(trials):
        for phase, s in t.get("seconds", {}).items():
            total[phase] = total.get(phase, 0.0) + s
    return total


def _validation(meta: dict) -> str:
    """What the trials' accuracy was measured on, in words."""
    split = meta.get("val_split") or {}
    n = meta.get("val_examples", meta.get("val_size"))
    if split.get("from") == FROM_FINETUNE:
        return f"{n} texts of the training data that the input model's fine-tuning held out"
    return f"{n} texts carved from the training data"


def markdown(data: dict, plot_link: str | None = None) -> str:
    meta, budget, trials = data["meta"], data["budget"], data["trials"]
    front = set(data["front"])
    base = meta.get("base_accuracy")
    repeats = sum(t["state"] == "repeat" for t in trials)
    lines = [
        f"# Search: {meta['model']['spec']} on {meta['target']}",
        "",
        f"Space `{meta['space']['name']}`, {len(trials)} trials ({len(complete(trials))} complete"
        + (f", {repeats} repeated draws not built" if repeats else "")
        + "); "
        f"accuracy on {_validation(meta)}"
        + (f" (input model: {base:.4f})" if base is not None else "")
        + f"; budget: {budget.describe()}.",
        "",
    ]
    if plot_link:
        lines += [f"![trials]({plot_link})", ""]
    lines += [
        "| trial | state | size MB | p50 ms | accuracy | Δ points | front | fits | draw |",
        "|---:|---|---:|---:|---:|---:|:---:|:---:|---|",
    ]
    for t in trials:
        if t["state"] == "complete":
            drop = f"{(t['accuracy'] - base) * 100:+.1f}" if base is not None else "-"
            mark = "**" if t["number"] == data["pick"] else ""
            lines.append(
                f"| {mark}{t['number']}{mark} | complete | {t['size_bytes'] / 1e6:.2f} | {t['latency_ms']:.3f} | "
                f"{t['accuracy']:.4f} | {drop} | {'yes' if t['number'] in front else ''} | "
                f"{'yes' if budget.fits(t) else 'no'} | {_steps(t)} |"
            )
        elif t["state"] == "repeat":
            lines.append(f"| {t['number']} | repeat of {t['repeat_of']} | | | | | | | {_steps(t)} |")
        else:
            why = (t.get("error") or "").replace("|", "/")[:120]
            lines.append(f"| {t['number']} | {t['state']} | | | | | | | {_steps(t)}{': ' + why if why else ''} |")
    lines.append("")
    if data["pick"] is not None:
        lines.append(f"Pick: trial {data['pick']}, the most accurate trial within the budget.")
    elif data["closest"] is not None:
        lines.append(f"No trial meets the budget; the closest is trial {data['closest']}.")
    runs = meta.get("runs") or []
    hours = sum(r["seconds"] for r in runs) / 3600
    if hours:
        n, again = sum(r["trials_finished"] for r in runs), sum(r.get("repeats", 0) for r in runs)
        lines.append(
            f"{n} trials finished in {hours:.2f} h of search ({n / hours:.1f} per hour), in {len(runs)} run(s)"
            + (f"; {again} repeated draws were answered from earlier trials." if again else ".")
        )
    split = time_split(trials)
    if split:
        whole = sum(split.values()) or 1.0
        parts = ", ".join(f"{k} {v / 60:.1f} min ({v / whole:.0%})" for k, v in split.items())
        lines.append(f"Time in complete trials, summed over workers: {parts}.")
    return "\n".join(lines) + "\n"


def plot(data: dict, path: Path) -> None:
    """Size against latency, coloured by accuracy; the front ringed, the pick starred, the budget dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ondevice.output import staged_file

    done = complete(data["trials"])
    if not done:
        raise ProfileError(f"{data['directory']}: no complete trial to plot")
    budget, front = data["budget"], set(data["front"])
    fig, ax = plt.subplots(figsize=(7, 5))
    x = [t["size_bytes"] / 1e6 for t in done]
    y = [t["latency_ms"] for t in done]
    dots = ax.scatter(x, y, c=[t["accuracy"] for t in done], cmap="viridis", s=40, zorder=3)
    fig.colorbar(dots, ax=ax, label="validation accuracy")
    on_front = sorted((t for t in done if t["number"] in front), key=lambda t: t["size_bytes"])
    ax.scatter(
        [t["size_bytes"] / 1e6 for t in on_front],
        [t["latency_ms"] for t in on_front],
        s=140,
        facecolors="none",
        edgecolors="black",
        label="Pareto front",
        zorder=4,
    )
    for t in done:
        ax.annotate(
            str(t["number"]),
            (t["size_bytes"] / 1e6, t["latency_ms"]),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    if data["pick"] is not None:
        p = next(t for t in done if t["number"] == data["pick"])
        ax.scatter([p["size_bytes"] / 1e6], [p["latency_ms"]], marker="*", s=260, c="red", label="pick", zorder=5)
    if budget.max_size_mb is not None:
        ax.axvline(budget.max_size_mb, ls="--", c="grey", label=f"size <= {budget.max_size_mb:g} MB")
    if budget.max_latency_ms is not None:
        ax.axhline(budget.max_latency_ms, ls=":", c="grey", label=f"latency <= {budget.max_latency_ms:g} ms")
    meta = data["meta"]
    ax.set_xlabel("artifact size (MB)")
    ax.set_ylabel(f"p50 latency on {meta['target']} (ms)")
    ax.set_title(f"{len(done)} complete trials of {len(data['trials'])}: {meta['space']['name']} space")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    with staged_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
