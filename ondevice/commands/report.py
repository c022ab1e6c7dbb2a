"""`ondevice report`: a markdown table and plots from profile result records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ondevice.cli_common import emit, handle_errors, status
from ondevice.errors import OutputError, ProfileError
from ondevice.output import check_writable, write_text


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the markdown table here.")
@click.option(
    "--plot", "plot_path", type=click.Path(path_type=Path), default=None, help="Render the plots to this PNG."
)
@click.option(
    "--page",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Headline result: replace this markdown page's generated section with every table "
    "(this project's: docs/results.md).",
)
@click.option(
    "--readme",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Headline result: replace this README's generated summary with one small table (this project's: README.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the table.")
@handle_errors
def report(results, out, plot_path, page, readme, as_json) -> None:
    """Tables and plots from RESULTS (record files, or directories searched for them), or of a search.

    Made from the JSON records only: latency distribution per artifact, and size vs p50 latency
    with the export's accuracy, the Pareto front marked. Each target gets its own table and row
    of plots; emulated targets are labelled as such.

    A headline benchmark result (``benchmarks/headline.py``) is reported on its own: tables per
    regime with each column's winner marked, where ondevice stands against its goals, and a Pareto
    plot of size and latency against accuracy; ``--page`` puts them into a documentation page and
    ``--readme`` a summary table into the README.

    A search directory (``ondevice search --out DIR``) is reported on its own: a table of its trials
    (DIR/report.md) and size against latency coloured by accuracy, with the front, the pick and the
    budget marked (DIR/trials.png), unless --out and --plot say where.

    \b
    Example:
        ondevice report profiles/results --out report.md --plot report.png
        ondevice report profiles/results/headline.json --page docs/results.md --readme README.md \\
            --plot profiles/results/headline.png
        ondevice report build/search
    """
    from ondevice.profile import headline
    from ondevice.profile import report as rep
    from ondevice.search import report as search_report

    if any(search_report.is_search(p) for p in results):
        if len(results) != 1 or page or readme:
            raise ProfileError("report a search directory on its own, with --out and --plot only")
        _search(results[0], out, plot_path, as_json)
        return
    _check_destinations({"--out": out, "--plot": plot_path, "--page": page, "--readme": readme})
    if any(headline.is_headline(_peek(p)) for p in results):
        if len(results) != 1:
            raise ProfileError("report a headline benchmark result on its own, not with other results")
        _headline(results[0], out, plot_path, page, readme, as_json)
        return
    for option, path in (("--page", page), ("--readme", readme)):
        if path:
            raise ProfileError(f"{option} takes a headline benchmark result (benchmarks/headline.py)")

    pairs, skipped = rep.collect(list(results))
    if skipped:
        status(f"skipped {len(skipped)} JSON file(s) that are not profile records")
    text = rep.markdown(pairs)
    if plot_path:  # first: it can still refuse (no samples to plot), and then nothing is written
        rep.plot(pairs, plot_path)
        status(f"wrote {plot_path}")
    _write_text(out, text)
    summary = {
        "records": [
            {
                "path": str(p),
                "target": r["target"]["name"],
                "label": rep.label(r),
                "emulated": r["emulated"],
                "complete": r["complete"],
                "size_bytes": r["artifact"]["size_bytes"],
                "p50_ms": r["timing"]["p50_ms"],
                "p90_ms": r["timing"]["p90_ms"],
                "accuracy": (r["artifact"].get("verification") or {}).get("accuracy"),
            }
            for p, r in pairs
        ]
    }
    emit(summary, as_json, text)


def _check_destinations(paths: dict[str, Path | None]) -> None:
    """Refuse, before reading anything, an output that cannot be written, so that a report is written
    whole or not at all."""
    example = {"--out": "report.md", "--plot": "report.png", "--page": "results.md", "--readme": "README.md"}
    for option, path in paths.items():
        if path is None:
            continue
        if path.is_dir():
            raise OutputError(f"{option} {path} is a directory; give a file name (e.g. {path / example[option]})")
        check_writable(path)


def _peek(path: Path):
    """The JSON in a file, or None (directories, other files: the record reader gives their errors)."""
    if not path.is_file() or path.suffix != ".json":
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _headline(
    path: Path, out: Path | None, plot_path: Path | None, page: Path | None, readme: Path | None, as_json: bool
) -> None:
    from ondevice.profile import headline

    data = headline.load(path)
    link = None
    if plot_path:
        headline.plot(data, plot_path)
        status(f"wrote {plot_path}")
        # The image link is relative to the markdown file that shows it.
        shown_in = page or out
        link = os.path.relpath(plot_path.resolve(), shown_in.resolve().parent if shown_in else Path.cwd())
    text = headline.markdown(data, link)
    _write_text(out, text)
    if page:
        headline.update_section(page, text, headline.START, headline.END)
        status(f"updated {page}")
    if readme:
        headline.update_section(readme, headline.summary_markdown(data), headline.SUMMARY_START, headline.SUMMARY_END)
        status(f"updated {readme}")
    emit({"headline": str(path), "goals": data.get("goals"), "runs": len(data["runs"])}, as_json, text)


def _search(directory: Path, out: Path | None, plot_path: Path | None, as_json: bool) -> None:
    """A search's table and plot; by default into the search directory (report.md, trials.png)."""
    from ondevice.search import report as search_report

    out, plot_path = out or directory / "report.md", plot_path or directory / "trials.png"
    _check_destinations({"--out": out, "--plot": plot_path})
    data = search_report.load(directory)
    link = None
    if search_report.complete(data["trials"]):
        search_report.plot(data, plot_path)
        status(f"wrote {plot_path}")
        link = os.path.relpath(plot_path.resolve(), out.resolve().parent)
    text = search_report.markdown(data, link)
    _write_text(out, text)
    summary = {k: data[k] for k in ("directory", "front", "pick", "closest")}
    summary["trials"] = len(data["trials"])
    summary["time_split_s"] = search_report.time_split(data["trials"])
    emit(summary, as_json, text)


def _write_text(out: Path | None, text: str) -> None:
    if out:
        write_text(out, text)
        status(f"wrote {out}")
