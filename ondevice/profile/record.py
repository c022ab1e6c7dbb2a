"""The profiling result record: one JSON document per (artifact, target, runner, sequence length).

Every target (host, the emulated ARM64 CPU, Android over adb) writes this same record, and
``ondevice report`` reads nothing else. A runner's output (``cpp/runner.cpp`` and ``pyrunner.py``
print the same fields) becomes the ``timing``, ``memory`` and ``outputs`` parts; the caller adds what
it knows about the artifact, the target and the device.

Schema, version 1 (``None`` where a fact cannot be read on that target):

    schema: "ondevice.profile", schema_version: 1, created: ISO-8601 UTC,
    complete: bool, incomplete_reason: str | None   (a run cut short keeps its samples, complete false)
    emulated: bool                                   (true: not a device speed; compare within a target only)
    artifact: {path, file, format, sha256, size_bytes, quantization, seq_lens, bundle, labels,
               verification}                         (verification: the bundle manifest's figures)
    target:   {name, kind, abi, serial, description}
    device:   {model, soc, abi, os, kernel, cores, max_freq_khz: [..], governor,
               temperature_c_before, temperature_c_after, battery_before, battery_after}
    runtime:  {name, version, runner, runner_version}
    settings: {threads, cpu_mask, warmup, runs, method, seq_len, input_dtype, input_tokens}
    timing:   {load_ms, first_inference_ms, samples_ms: [..], p50_ms, p90_ms, p99_ms, mean_ms, std_ms,
               min_ms, max_ms}                   (+ summary_only, count: a runner that reports statistics only,
                                                  e.g. LiteRT's benchmark_model; samples_ms is then empty)
    memory:   {peak_rss_bytes}
    operators: {source, runs, ops: [{name, count, total_ms}], error?} | None
                                                     (per inference, where the runtime offers a profile)
    outputs:  {logits, reference_logits, max_abs_diff, tolerance, match, same_label}
                                                     (reference: the same job on the host; None on the host)
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

from ondevice.errors import ProfileError
from ondevice.jsonfile import read_json
from ondevice.output import write_json

SCHEMA = "ondevice.profile"
SCHEMA_VERSION = 1
LOGIT_TOLERANCE = 1e-3  # emulated and device outputs against the host's

_SECTIONS = ("artifact", "target", "device", "runtime", "settings", "timing", "memory", "outputs")
_TIMING_STATS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms")


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# The kinds of value a result file holds: kind -> (test, what a message calls it). JSON has NaN and
# Infinity, a string where a number belongs, true where a count belongs; none of them is a time.
KINDS = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "count": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a non-negative integer"),
    "number": (_finite, "a finite number"),
    "amount": (lambda v: _finite(v) and v >= 0, "a non-negative number"),
    "positive": (lambda v: _finite(v) and v > 0, "a positive number"),
    "share": (lambda v: _finite(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
}

# What ``ondevice report`` reads of a record, section by section ("" is the top level). A kind ending
# in "?" may also be null or absent.
RECORD_FIELDS: dict[str, dict[str, str]] = {
    "": {"created": "str", "incomplete_reason": "str?"},
    "artifact": {
        "path": "str",
        "file": "str?",
        "format": "str",
        "sha256": "str?",
        "size_bytes": "amount",
        "verification": "dict?",
    },
    "target": {"name": "str"},
    "runtime": {"name": "str?", "version": "str?", "runner": "str?"},
    "settings": {"threads": "int", "warmup": "int", "runs": "int", "seq_len": "count?"},
    "timing": {"samples_ms": "list", "load_ms": "amount?", "first_inference_ms": "amount?"}
    | {k: "amount?" for k in _TIMING_STATS},
    "memory": {"peak_rss_bytes": "amount?"},
    "outputs": {"max_abs_diff": "amount?", "tolerance": "amount?", "match": "bool?", "same_label": "bool?"},
}


def check_fields(obj: dict, spec: dict[str, str], prefix: str = "") -> str | None:
    """The first field of ``obj`` that is missing or not of its kind in ``spec`` (field -> a ``KINDS``
    name, "?" at the end for one that may be null or absent), as a message; None when all are fine."""
    for key, kind in spec.items():
        optional = kind.endswith("?")
        test, what = KINDS[kind.rstrip("?")]
        value = obj.get(key)
        if value is None:
            if optional:
                continue
            return f"{prefix}{key} is {'null' if key in obj else 'missing'}"
        if not test(value):
            return f"{prefix}{key} must be {what}, not {_shown(value)}"
    return None


def _shown(value) -> str:
    text = json.dumps(value) if isinstance(value, (int, float, str, bool, list, dict)) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (NumPy's default), on an already sorted list."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_ms: list[float]) -> dict:
    """p50/p90/p99, mean, population std, min and max of latency samples; all None when there are none."""
    if not samples_ms:
        return {k: None for k in _TIMING_STATS}
    s = sorted(float(x) for x in samples_ms)
    mean = sum(s) / len(s)
    return {
        "p50_ms": percentile(s, 50),
        "p90_ms": percentile(s, 90),
        "p99_ms": percentile(s, 99),
        "mean_ms": mean,
        "std_ms": math.sqrt(sum((x - mean) ** 2 for x in s) / len(s)),
        "min_ms": s[0],
        "max_ms": s[-1],
    }


def compare_logits(logits: list[float] | None, reference: list[float] | None, tolerance: float = LOGIT_TOLERANCE):
    """The ``outputs`` section: a runner's logits against a reference run's (the host's), if there is one."""
    out = {
        "logits": logits,
        "reference_logits": reference,
        "max_abs_diff": None,
        "tolerance": None,
        "match": None,
        "same_label": None,
    }
    if logits is not None and reference is not None:
        if len(logits) != len(reference) or not logits:
            out.update(max_abs_diff=None, tolerance=tolerance, match=False, same_label=False)
        else:
            diff = max(abs(a - b) for a, b in zip(logits, reference, strict=True))
            same = logits.index(max(logits)) == reference.index(max(reference))
            out.update(max_abs_diff=diff, tolerance=tolerance, match=diff <= tolerance, same_label=same)
    return out


def build(
    *,
    artifact: dict,
    target: dict,
    device: dict,
    runtime: dict,
    settings: dict,
    run: dict,
    emulated: bool,
    reference_logits: list[float] | None = None,
    incomplete_reason: str | None = None,
) -> dict:
    """A record from the parts. ``run`` is a runner's JSON output (or what was gathered of it when a run
    was cut short: then pass ``incomplete_reason`` and the record is marked incomplete)."""
    samples = [float(x) for x in run.get("samples_ms", [])]
    # A runner that reports statistics only (LiteRT's benchmark_model) gives "summary_ms" instead of samples.
    summary = run.get("summary_ms") if not samples and run.get("summary_ms") else None
    stats = summarize(samples) if summary is None else {k: summary.get(k) for k in _TIMING_STATS}
    record = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": incomplete_reason is None,
        "incomplete_reason": incomplete_reason,
        "emulated": bool(emulated),
        "artifact": artifact,
        "target": target,
        "device": device,
        "runtime": runtime,
        "settings": {
            **settings,
            "method": run.get("method", settings.get("method")),
            "seq_len": run.get("seq_len", settings.get("seq_len")),
            "input_dtype": run.get("input_dtype"),
        },
        "timing": {
            "load_ms": run.get("load_ms"),
            "first_inference_ms": run.get("first_inference_ms"),
            "samples_ms": samples,
            **stats,
            **({"summary_only": True, "count": summary.get("count")} if summary else {}),
        },
        "memory": {"peak_rss_bytes": run.get("peak_rss_bytes")},
        "operators": run.get("operators"),
        "outputs": compare_logits(run.get("logits"), reference_logits),
    }
    validate(record)
    return record


def validate(record: dict) -> None:
    """Check a record's shape; raise ProfileError naming the first problem."""

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ProfileError(f"not a valid profile record: {what}")

    need(isinstance(record, dict), "not a JSON object")
    need(record.get("schema") == SCHEMA, f"schema is {record.get('schema')!r}, expected {SCHEMA!r}")
    need(
        record.get("schema_version") == SCHEMA_VERSION,
        f"schema version {record.get('schema_version')!r} is not supported (this is version {SCHEMA_VERSION})",
    )
    for key in _SECTIONS:
        need(isinstance(record.get(key), dict), f"{key} is missing")
    need(isinstance(record.get("complete"), bool), "complete must be true or false")
    need(isinstance(record.get("emulated"), bool), "emulated must be true or false")
    a, t = record["artifact"], record["timing"]
    for key in ("path", "format", "sha256", "size_bytes"):
        need(key in a, f"artifact.{key} is missing")
    for section, spec in RECORD_FIELDS.items():
        problem = check_fields(record[section] if section else record, spec, f"{section}." if section else "")
        need(problem is None, str(problem))
    need(
        all(KINDS["amount"][0](x) for x in t["samples_ms"]),
        "timing.samples_ms has bad values (each must be a non-negative number of milliseconds)",
    )
    need(
        record["complete"] is False or len(t["samples_ms"]) > 0 or (t.get("summary_only") and t.get("mean_ms")),
        "a complete record has no samples",
    )
    need(record["complete"] or bool(record.get("incomplete_reason")), "an incomplete record needs a reason")
    need(not t["samples_ms"] or t.get("p50_ms") is not None, "timing.p50_ms is missing though there are samples")
    problem = check_fields(a.get("verification") or {}, {"accuracy": "share?"}, "artifact.verification.")
    need(problem is None, str(problem))
    o = record["outputs"]
    need(o.get("match") is None or o.get("tolerance") is not None, "outputs.tolerance is missing though match is set")


def load(path: Path) -> dict:
    """Read and validate a record file."""
    record = read_json(path, ProfileError, f"{path}: no such result file")
    try:
        validate(record)
    except ProfileError as e:
        raise ProfileError(f"{path}: {e}") from None
    return record


def default_name(record: dict) -> str:
    """``<target>--<artifact file>--<runner>--L<seq len>--<UTC time>.json``, safe as a file name."""
    stamp = record["created"].replace("+00:00", "Z").replace(":", "").replace("-", "")
    serial = record["target"].get("serial") or record["device"].get("serial")  # adb devices: one file each
    parts = [
        record["target"]["name"] + (f"-{serial}" if serial else ""),
        record["artifact"].get("file") or Path(record["artifact"]["path"]).name,
        record["runtime"].get("runner") or "runner",
        f"L{record['settings'].get('seq_len')}",
        stamp,
    ]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "--".join(parts)) + ".json"


def write(record: dict, out: Path) -> Path:
    """Write a record atomically: into directory ``out`` under its default name, or to ``out`` if it ends in .json.

    Returns:
        The path written.
    """
    validate(record)
    out = Path(out)
    path = out if out.suffix == ".json" else out / default_name(record)
    write_json(path, record)
    return path
