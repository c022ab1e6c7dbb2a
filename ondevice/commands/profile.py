"""`ondevice profile`: latency, load time and memory of artifacts on a target, one JSON record each."""

from __future__ import annotations

from pathlib import Path

import click

from ondevice.cli_common import emit, handle_errors, quiet_libraries, status

DEFAULT_OUT = Path("profiles") / "results"


@click.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", "target_spec", default="host", show_default=True, help="A target name, or android:SERIAL.")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="Threads (default: the target's).")
@click.option("--warmup", type=click.IntRange(0), default=None, help="Untimed runs first (default: the target's).")
@click.option("--runs", type=click.IntRange(1), default=None, help="Timed runs (default: the target's).")
@click.option(
    "--seq-len",
    "seq_len",
    default=None,
    help="Sequence length(s) to run, comma-separated (default: each artifact's longest).",
)
@click.option("--runner", default=None, help="Only this runner (native, python; android: benchmark_model, app).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Directory for the records (or a .json file when there is one record).",
)
@click.option("--list-targets", is_flag=True, help="List the targets and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
@handle_errors
def profile(artifacts, target_spec, threads, warmup, runs, seq_len, runner, out, list_targets, as_json) -> None:
    """Measure ARTIFACTS (bundle directories or .pte/.tflite/.onnx files) on a target.

    Each artifact runs in its own process with every runner the target names for its format,
    after warm-up, and leaves one result record under --out: all latency samples and
    p50/p90/p99, load and first-inference time, peak memory, target and device facts.
    Targets are the TOML files in profiles/targets/ (host, linux-arm64-qemu, android, phone
    profiles). Emulated records are marked emulated: correctness and relative cost, not speed.

    \b
    Example:
        ondevice profile ondevice-host --target host
        ondevice profile ondevice-host/model.int8-dynamic.pte --target linux-arm64-qemu --runs 3
    """
    quiet_libraries()
    from ondevice.errors import ConfigError
    from ondevice.profile import targets
    from ondevice.profile.profiler import Options
    from ondevice.profile.profiler import profile as run_profile
    from ondevice.progress import progress

    if list_targets:
        found = targets.available()
        emit(
            {"targets": [t.to_dict() | {"threads": t.threads, "cpus": list(t.cpus)} for t in found.values()]},
            as_json,
            "\n".join(f"{t.name:<18} {t.kind:<8} {t.description}" for t in found.values()),
        )
        return
    try:
        seq_lens = [int(n) for n in seq_len.split(",") if n.strip()] if seq_len else []
    except ValueError:
        raise click.BadParameter(
            f"{seq_len!r} is not a comma-separated list of integers", param_hint="--seq-len"
        ) from None
    target = targets.resolve(target_spec)
    if out.suffix == ".json" and len(artifacts) > 1:
        raise ConfigError("--out FILE.json takes one record; give a directory for several artifacts")
    opts = Options(threads=threads, warmup=warmup, runs=runs, seq_lens=seq_lens, runner=runner)
    status(f"profiling {len(artifacts)} path(s) on {target.name}" + (" (emulated)" if target.emulated else ""))

    def bar(jobs):
        with progress(total=len(jobs), desc=f"profile {target.name}", unit="run") as p:
            for job in jobs:
                p.set_postfix_str(f"{job.path.name} {job.runner}", refresh=False)
                yield job
                p.update(1)

    written = run_profile(list(artifacts), target, opts, out, status=status, progress=bar)
    emit({"records": [dict(r, record_path=str(p)) for p, r in written]}, as_json, _format(written))


def _format(written: list) -> str:
    lines = [
        f"{'artifact':<28} {'runner':<7} {'L':>4} {'p50 ms':>9} {'p90 ms':>9} {'load ms':>9} {'peak MB':>8}  record"
    ]
    for path, r in written:
        t = r["timing"]
        rss = r["memory"]["peak_rss_bytes"]
        lines.append(
            f"{r['artifact']['file']:<28} {r['runtime']['runner']:<7} {r['settings']['seq_len'] or '-':>4} "
            f"{t['p50_ms']:9.2f} {t['p90_ms']:9.2f} {t['load_ms']:9.1f} {rss / 1e6 if rss else 0:8.1f}  {path}"
        )
        if r["outputs"]["match"] is not None:
            lines.append(f"{'':<28} logits vs host: max|Δ| {r['outputs']['max_abs_diff']:.2e}")
    if any(r["emulated"] for _, r in written):
        lines.append("emulated: these times are not a device's speed; compare artifacts within this target only")
    return "\n".join(lines)
