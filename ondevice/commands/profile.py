"""`ondevice profile`: latency, load time and memory of artifacts on a target, one JSON record each."""

from __future__ import annotations

from pathlib import Path

import click

from ondevice.cli_common import SeqLens, emit, handle_errors, quiet_libraries, status
from ondevice.output import check_writable

DEFAULT_OUT = Path("profiles") / "results"


@click.command()
@click.argument("artifacts", nargs=-1, type=click.Path(path_type=Path))
@click.option("--target", "target_spec", default="host", show_default=True, help="A target name, or android:SERIAL.")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="Threads (default: the target's).")
@click.option("--warmup", type=click.IntRange(0), default=None, help="Untimed runs first (default: the target's).")
@click.option("--runs", type=click.IntRange(1), default=None, help="Timed runs (default: the target's).")
@click.option(
    "--seq-len",
    "seq_lens",
    type=SeqLens(),
    default=None,
    help="Sequence length(s) to run, comma-separated (default: each artifact's longest).",
)
@click.option(
    "--runner",
    default=None,
    help="Only this runner (native, python; android: app, benchmark_model=PATH of LiteRT's tool, "
    "native=DIR of an NDK build).",
)
@click.option(
    "-s",
    "--serial",
    "serials",
    multiple=True,
    help="android: the adb device to use (repeat for several; default: ANDROID_SERIAL or the only one).",
)
@click.option("--all-devices", is_flag=True, help="android: run on every attached device in turn.")
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
def profile(
    artifacts, target_spec, threads, warmup, runs, seq_lens, runner, serials, all_devices, out, list_targets, as_json
) -> None:
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
        ondevice profile ondevice-android --target pixel-8 --all-devices
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
    if not artifacts:
        raise click.UsageError("give one or more artifacts or bundle directories (or --list-targets)")
    target = targets.resolve(target_spec)
    if out.suffix == ".json" and len(artifacts) > 1:
        raise ConfigError("--out FILE.json takes one record; give a directory for several artifacts")
    runner, _, tool = (runner or "").partition("=")
    if tool and (runner not in ("benchmark_model", "native") or target.kind != "android"):
        raise ConfigError(f"--runner {runner}=PATH: only benchmark_model and native on android targets take a path")
    tools = {runner: str(Path(tool).resolve())} if tool else {}
    opts = Options(
        threads=threads, warmup=warmup, runs=runs, seq_lens=seq_lens or [], runner=runner or None, tools=tools
    )
    runs_on = _devices(target, list(serials), all_devices)
    if out.suffix == ".json" and len(runs_on) > 1:
        raise ConfigError("--out FILE.json takes one record; give a directory for several devices")
    check_writable(out if out.suffix == ".json" else out / "record.json")  # before measuring, not after
    status(f"profiling {len(artifacts)} path(s) on {target.name}" + (" (emulated)" if target.emulated else ""))

    def bar(jobs):
        with progress(total=len(jobs), desc=f"profile {target.name}", unit="run") as p:
            for job in jobs:
                p.set_postfix_str(f"{job.path.name} {job.runner}", refresh=False)
                yield job
                p.update(1)

    written = []
    for t in runs_on:
        written += run_profile(list(artifacts), t, opts, out, status=status, progress=bar)
    emit({"records": [dict(r, record_path=str(p)) for p, r in written]}, as_json, _format(written))


def _devices(target, serials: list[str], all_devices: bool) -> list:
    """The target once per device: several adb devices (-s twice, android:A,B, --all-devices) are chosen
    here; one is picked and checked by the Android backend after the plan, like every other target."""
    from dataclasses import replace

    from ondevice.errors import ConfigError

    if target.kind != "android":
        if serials or all_devices:
            raise ConfigError(f"-s and --all-devices choose adb devices; target {target.name} is {target.kind}")
        return [target]
    from ondevice.profile.adb import Adb
    from ondevice.profile.android import select_devices

    wanted = serials + [s for s in (target.serial or "").split(",") if s]
    if len(wanted) <= 1 and not all_devices:  # one device: the backend picks and checks it, after the plan
        return [replace(target, serial=wanted[0] if wanted else None)]
    return [replace(target, serial=s) for s in select_devices(Adb(), wanted, all_devices)]


def _format(written: list) -> str:
    lines = [
        f"{'artifact':<28} {'runner':<7} {'L':>4} {'p50 ms':>9} {'p90 ms':>9} {'load ms':>9} {'peak MB':>8}  record"
    ]
    for path, r in written:
        t = r["timing"]
        rss = r["memory"]["peak_rss_bytes"]
        lines.append(
            f"{r['artifact']['file']:<28} {r['runtime']['runner']:<7} {r['settings']['seq_len'] or '-':>4} "
            f"{_ms(t['p50_ms'])} {_ms(t['p90_ms'])} {_ms(t['load_ms'], 1)} {rss / 1e6 if rss else 0:8.1f}  {path}"
        )
        o = r["outputs"]
        if o["match"] is not None:
            diff = "shape differs" if o["max_abs_diff"] is None else f"max|Δ| {o['max_abs_diff']:.2e}"
            lines.append(f"{'':<28} logits vs host: {diff}, same label: {'yes' if o['same_label'] else 'NO'}")
    if any(r["emulated"] for _, r in written):
        lines.append("emulated: these times are not a device's speed; compare artifacts within this target only")
    return "\n".join(lines)


def _ms(value: float | None, digits: int = 2) -> str:
    # benchmark_model reports no p90 (statistics only), a cut-short run may lack a load time.
    return f"{value:9.{digits}f}" if value is not None else f"{'-':>9}"
