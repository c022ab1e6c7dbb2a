"""``ondevice profile``: plan the measurements, run them on a target, and write one result record each.

The stages: resolve the artifacts (bundle directories or files; a bundle's manifest supplies the
quantization, the entry points and the verification figures, and its checksums are checked first),
plan one job per artifact x sequence length x runner of the target, prepare the target (build the
native runner, set up the emulator), run each job in its own process, and write the record. On an
emulated target every job is also run on the host once, and the two outputs are compared.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ondevice.converters.formats import entry_point, format_of
from ondevice.errors import ArtifactError, ProfileError
from ondevice.profile import record as records
from ondevice.profile.runners import Job, RunnerFailed
from ondevice.profile.targets import Target

# The sentence every job feeds (SST-2 dev); shapes are static, so the latency does not depend on it.
SENTENCE = "it 's a charming and often affecting journey ."
DEFAULT_IDS = [101, 2009, 1005, 1055, 1037, 11951, 1998, 2411, 12473, 4990, 1012, 102]
# kind -> module with a Backend(target, status) class; android comes from ondevice.profile.android.
BACKENDS = {"host": "ondevice.profile.host:HostBackend", "qemu": "ondevice.profile.qemu:QemuBackend"}
BACKENDS["android"] = "ondevice.profile.android:AndroidBackend"


@dataclass
class Artifact:
    path: Path
    format: str
    info: dict  # the record's "artifact" section
    seq_lens: list[int] = field(default_factory=list)  # empty: unknown (no manifest)
    bundle: Path | None = None
    manifest: dict | None = None  # the bundle's, checked by load_manifest


@dataclass
class Options:
    threads: int | None = None  # None: the target's
    warmup: int | None = None
    runs: int | None = None
    seq_lens: list[int] = field(default_factory=list)  # empty: each artifact's longest
    runner: str | None = None  # only this runner
    compare: bool = True  # emulated targets: compare outputs with the host's
    tools: dict[str, str] = field(default_factory=dict)  # runner -> what the user provides (android: a tool, a dir)


def _artifact_info(path: Path, fmt: str, entry: dict | None, manifest: dict | None, bundle: Path | None) -> dict:
    from ondevice.bundle import sha256

    v = (entry or {}).get("verification") or {}
    return {
        "path": str(path.resolve()),
        "file": path.name,
        "format": fmt,
        "sha256": (entry or {}).get("sha256") or sha256(path),
        "size_bytes": path.stat().st_size,
        "quantization": (entry or {}).get("quantization"),
        "seq_lens": (entry or {}).get("seq_lens"),
        "bundle": str(bundle.resolve()) if bundle else None,
        "model": (manifest or {}).get("model", {}).get("source"),
        "labels": (manifest or {}).get("labels"),
        "verification": {
            k: v.get(k) for k in ("max_abs_logit_diff", "label_agreement", "accuracy", "reference_accuracy", "n")
        }
        if v
        else None,
    }


def resolve_artifacts(paths: list[Path]) -> list[Artifact]:
    """Artifacts from bundle directories and artifact files, checked before anything runs them."""
    from ondevice import converters
    from ondevice.bundle import MANIFEST, load_manifest

    out = []
    for p in map(Path, paths):
        if p.is_dir():
            manifest = load_manifest(p)
            for a in manifest["artifacts"]:
                f = p / a["file"]
                info = _artifact_info(f, a["format"], a, manifest, p)
                out.append(Artifact(f, a["format"], info, a["seq_lens"], p, manifest))
            continue
        if not p.is_file():
            raise ProfileError(f"{p}: no such artifact or bundle")
        try:
            fmt = format_of(p)
        except ArtifactError:
            raise ProfileError(f"{p}: not a .pte, .tflite or .onnx file, nor a bundle directory") from None
        if (p.parent / MANIFEST).exists() or (p.parent / MANIFEST).is_symlink():
            manifest = load_manifest(p.parent)  # checks every file's sha256
            entry = next((a for a in manifest["artifacts"] if a["file"] == p.name), None)
            if entry is None:
                raise ProfileError(f"{p}: not listed in {p.parent / MANIFEST}")
            info = _artifact_info(p, fmt, entry, manifest, p.parent)
            out.append(Artifact(p, fmt, info, entry["seq_lens"], p.parent, manifest))
        else:
            converters.runtime(fmt).check_file(p)  # a truncated or foreign file is refused here
            out.append(Artifact(p, fmt, _artifact_info(p, fmt, None, None, None)))
    if not out:
        raise ProfileError("no artifacts to profile")
    return out


def token_ids(artifact: Artifact, length: int | None) -> list[int]:
    """The sentence's ids with the bundle's tokenizer; without a bundle, the same sentence in BERT's vocabulary."""
    if artifact.bundle is None or artifact.manifest is None:
        ids = DEFAULT_IDS
    else:
        from ondevice.bundle import load_tokenizer

        ids = load_tokenizer(artifact.bundle, artifact.manifest).token_ids([SENTENCE])[0]
    if length and len(ids) > length:
        ids = ids[: length - 1] + [ids[-1]]
    return ids


def plan(artifacts: list[Artifact], target: Target, opts: Options) -> list[Job]:
    """One job per artifact x sequence length x runner."""
    jobs = []
    for a in artifacts:
        runners = [r for r in target.runners_for(a.format) if opts.runner in (None, r)]
        if not runners:
            have = "; ".join(f"{f}: {', '.join(r)}" for f, r in target.runners.items()) or "none"
            which = f"{opts.runner} " if opts.runner else ""
            raise ProfileError(
                f"target {target.name} has no {which}{a.format} runner for {a.path.name} (it has: {have})"
            )
        lengths = opts.seq_lens or ([max(a.seq_lens)] if a.seq_lens else [None])
        for n in lengths:
            if n is not None and a.seq_lens and n not in a.seq_lens:
                raise ProfileError(f"{a.path.name} has sequence lengths {', '.join(map(str, a.seq_lens))}, not {n}")
            method = entry_point(a.format, a.seq_lens, n) if n and a.seq_lens else None
            if method is None and n is not None and a.format in ("onnx", "tflite"):
                method = f"forward_{n}"  # a file without a manifest: its runner finds the graph for n tokens
            for r in runners:
                jobs.append(
                    Job(
                        path=a.path,
                        format=a.format,
                        runner=r,
                        method=method,
                        seq_len=n,
                        ids=token_ids(a, n),
                        threads=opts.threads or target.threads,
                        warmup=target.warmup if opts.warmup is None else opts.warmup,
                        runs=opts.runs or target.runs,
                        cpus=target.cpus,
                        # Per-operator times come from extra runs: one is enough where each takes seconds.
                        profile_ops=(1 if target.emulated else 3) if r == "python" else 0,
                    )
                )
    return jobs


def backend(target: Target, status: Callable[[str], None] | None = None, tools: dict[str, str] | None = None):
    module, _, cls = BACKENDS[target.kind].partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        raise ProfileError(f"{target.kind} targets are not available in this version of ondevice") from None
    return getattr(mod, cls)(target, status, **({"tools": tools} if tools else {}))


def _settings(job: Job, target: Target) -> dict:
    return {
        "threads": job.threads,
        "cpus": list(job.cpus) or None,
        "cpu_mask": target.cpu_mask,
        "warmup": job.warmup,
        "runs": job.runs,
        "method": job.method,
        "seq_len": job.seq_len,
        "input_tokens": len(job.ids),
    }


def profile(
    paths: list[Path],
    target: Target,
    opts: Options,
    out: Path,
    status: Callable[[str], None] | None = None,
    progress: Callable | None = None,
) -> list[tuple[Path, dict]]:
    """Profile every artifact on ``target`` and write one record per job under ``out``.

    Returns:
        (record path, record) for every job, in plan order.

    Raises:
        ProfileError: a target that cannot run, a runner that fails. Records of the jobs finished
            before it are kept; a job cut short with samples leaves a record marked incomplete.
    """
    artifacts = {str(a.path): a for a in resolve_artifacts(paths)}
    jobs = plan(list(artifacts.values()), target, opts)
    be = backend(target, status, opts.tools)
    host = None
    written = []
    try:
        be.prepare(jobs)
        if target.emulated and opts.compare:
            from ondevice.profile.host import HostBackend

            host = HostBackend(target)
            host.prepare(jobs)
        device = be.device()
        for job in progress(jobs) if progress else jobs:
            a = artifacts[str(job.path)]
            before = be.sensors()
            reference = None
            if host is not None:
                ref_job = Job(**{**job.__dict__, "warmup": 0, "runs": 1, "cpus": (), "profile_ops": 0})
                reference = host.run(ref_job)["logits"]
            try:
                result, reason = be.run(job), None
            except RunnerFailed as e:
                if not e.partial.get("samples_ms") and "load_ms" not in e.partial:
                    raise
                result, reason = e.partial, str(e)
            after = be.sensors()
            dev = {
                **device,
                "temperature_c_before": before.get("temperature_c"),
                "temperature_c_after": after.get("temperature_c"),
                "battery_before": before.get("battery"),
                "battery_after": after.get("battery"),
            }
            rec = records.build(
                artifact=a.info,
                target=target.to_dict(),
                device=dev,
                runtime=be.runtime(job, result),
                settings=_settings(job, target),
                run=result,
                emulated=target.emulated,
                reference_logits=reference,
                incomplete_reason=reason,
            )
            path = records.write(rec, out)
            written.append((path, rec))
            if reason:
                raise ProfileError(f"{reason}; the samples so far are in {path} (marked incomplete)")
            if rec["outputs"]["match"] is False:
                o = rec["outputs"]
                away = "of another shape than" if o["max_abs_diff"] is None else f"{o['max_abs_diff']:.2e} away from"
                what = (
                    f"{job.path.name} on {target.name} ({job.runner} runner) gives logits {away} the host's "
                    f"(tolerance {o['tolerance']:g}, same label: {'yes' if o['same_label'] else 'no'})"
                )
                if a.info.get("quantization") in (None, "fp32"):
                    raise ProfileError(f"{what}; record: {path}")
                # int8 kernels differ between x86 and ARM (rounding, saturation): recorded, reported, not fatal.
                if status:
                    status(f"warning: {what}; an int8 artifact, recorded as not matching")
    finally:
        be.close()
    return written
