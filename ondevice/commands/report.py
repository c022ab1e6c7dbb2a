"""`ondevice report`: a markdown table and plots from profile result records."""

from __future__ import annotations

from pathlib import Path

import click

from ondevice.cli_common import emit, handle_errors, status


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the markdown table here.")
@click.option(
    "--plot", "plot_path", type=click.Path(path_type=Path), default=None, help="Render the plots to this PNG."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the table.")
@handle_errors
def report(results, out, plot_path, as_json) -> None:
    """Tables and plots from RESULTS (record files, or directories searched for them).

    Made from the JSON records only: latency distribution per artifact, and size vs p50 latency
    with the export's accuracy, the Pareto front marked. Each target gets its own table and row
    of plots; emulated targets are labelled as such.

    \b
    Example:
        ondevice report profiles/results --out report.md --plot report.png
    """
    from ondevice.profile import report as rep

    pairs, skipped = rep.collect(list(results))
    if skipped:
        status(f"skipped {len(skipped)} JSON file(s) that are not profile records")
    text = rep.markdown(pairs)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        status(f"wrote {out}")
    if plot_path:
        rep.plot(pairs, plot_path)
        status(f"wrote {plot_path}")
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
