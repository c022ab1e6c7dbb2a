"""`ondevice export`: artifacts in every requested format and precision, each verified, in one bundle.

The pipeline reads as its stages: export (converters.*) -> run in its own runtime -> compare with
the PyTorch model -> write the bundle atomically with its manifest. Nothing is called done until it
has been run and compared.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ondevice import converters
from ondevice.app_tokenizer import app_refusal
from ondevice.bundle import MANIFEST, BundleWriter
from ondevice.converters.common import QUANTIZATIONS, ExportOptions
from ondevice.data import Columns, Dataset, consecutive_pairs, read_dataset
from ondevice.errors import ConfigError, ExportError
from ondevice.model import Checkpoint
from ondevice.model.encoder import parameter_groups
from ondevice.output import check_writable, staged_file
from ondevice.progress import progress
from ondevice.scores import decisions

# What each target gets unless --format says otherwise, and the dtype of the token inputs.
TARGETS = {
    "android": {"formats": ["executorch", "tflite"], "input_dtype": "int32"},
    "linux-arm64": {"formats": ["executorch", "tflite", "onnx"], "input_dtype": "int32"},
    "host": {"formats": ["executorch", "tflite", "onnx"], "input_dtype": "int64"},
}
ASSETS = Path(__file__).resolve().parent / "assets"
VERIFY_DATA = ASSETS / "sst2_dev_sample.tsv"  # 200 SST-2 dev sentences
CALIBRATION_DATA = ASSETS / "sst2_train_sample.tsv"  # 256 of train, seed 0


@dataclass
class Thresholds:
    max_logit_diff: float = 1e-3  # fp32 artifacts: max |logit - PyTorch logit|
    # int8 artifacts: share of sentences with the PyTorch label; multi-label: share of (sentence, label)
    # decisions equal to PyTorch's
    min_agreement: float = 0.98
    max_accuracy_drop: float = 0.01  # int8 artifacts: accuracy at most this far below PyTorch's


@dataclass
class ExportRequest:
    target: str = "android"
    formats: list[str] = field(default_factory=list)  # empty: the target's defaults
    quantizations: list[str] = field(default_factory=lambda: ["int8-dynamic"])
    seq_lens: list[int] = field(default_factory=lambda: [128])
    threads: int = 2
    thresholds: Thresholds = field(default_factory=Thresholds)
    force: bool = False

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(f"unknown target {self.target!r}; use one of {', '.join(TARGETS)}")
        if not self.formats:
            self.formats = list(TARGETS[self.target]["formats"])
        for f in self.formats:
            converters.module(f)  # raises on an unknown format
        for q in self.quantizations:
            if q not in QUANTIZATIONS:
                raise ConfigError(f"unknown quantization {q!r}; use one of {', '.join(QUANTIZATIONS)}")
        if not self.formats or not self.quantizations:
            raise ConfigError("nothing to export: give at least one format and one quantization")
        if not self.seq_lens:
            raise ConfigError("give at least one sequence length")
        self.seq_lens = sorted(set(self.seq_lens))

    @property
    def seq_len(self) -> int:
        return self.seq_lens[-1]


def check_target(ckpt: Checkpoint, req: ExportRequest) -> None:
    """Refuse a model that the target cannot run whole: for Android, a tokenizer the app's core lacks a
    part of (``ondevice.app_tokenizer``, the rules of the app's own tokenizer.json reader).

    Raises:
        ConfigError: naming the part, what the app implements and the targets that take the model.
    """
    if req.target != "android":
        return
    why = app_refusal(json.loads(ckpt.tokenizer.backend.to_str()))
    if why:
        raise ConfigError(
            f"--target android: this model's tokenizer.json cannot be reproduced by the Android app: {why}; "
            "export with --target host or linux-arm64, whose Python runtime runs any tokenizers tokenizer"
        )


def verify(
    logits: np.ndarray,
    reference: np.ndarray,
    targets: list[int] | np.ndarray | None,
    quantize: str,
    t: Thresholds,
    decide: list[float] | None = None,
) -> dict:
    """Compare an artifact's logits with the PyTorch model's on the same inputs.

    Args:
        targets: class indices, or (N, labels) multi-hot targets of a multi-label model; None: unlabelled.
        decide: a multi-label model's thresholds. Its outputs are judged by their decisions (label i
            applies when sigmoid(logit i) > decide[i]): agreement is the share of (sentence, label)
            decisions equal to PyTorch's, and accuracy the share of sentences with every label right.
    """
    if decide is None:
        ours, theirs = logits.argmax(-1), reference.argmax(-1)
    else:
        ours, theirs = decisions(logits, decide), decisions(reference, decide)
    agree = float((ours == theirs).mean())
    result = {
        "sentences": int(len(logits)),
        "max_abs_logit_diff": float(np.abs(logits - reference).max()),
        "label_agreement": agree,
        "accuracy": None,
        "reference_accuracy": None,
    }
    failures = []
    if targets is not None:
        y = np.asarray(targets)
        if decide is None:
            result["accuracy"] = float((ours == y).mean())
            result["reference_accuracy"] = float((theirs == y).mean())
        else:
            y = y.astype(bool)
            result["accuracy"] = float((ours == y).all(1).mean())
            result["reference_accuracy"] = float((theirs == y).all(1).mean())
    if quantize == "fp32":
        result["thresholds"] = {"max_abs_logit_diff": t.max_logit_diff}
        if result["max_abs_logit_diff"] > t.max_logit_diff:
            failures.append(f"max |Δlogit| {result['max_abs_logit_diff']:.2e} > {t.max_logit_diff:.0e}")
    else:
        result["thresholds"] = {"label_agreement": t.min_agreement, "accuracy_drop": t.max_accuracy_drop}
        if agree < t.min_agreement:
            what = "label" if decide is None else "per-label decision"
            failures.append(f"{what} agreement {agree:.2%} < {t.min_agreement:.0%}")
        if targets is not None and result["accuracy"] < result["reference_accuracy"] - t.max_accuracy_drop - 1e-9:
            failures.append(
                f"accuracy {result['accuracy']:.2%} is more than {t.max_accuracy_drop:.0%} "
                f"below PyTorch's {result['reference_accuracy']:.2%}"
            )
    result["passed"] = not failures
    result["failures"] = failures
    return result


@torch.no_grad()
def reference_logits(ckpt: Checkpoint, *inputs: np.ndarray, batch: int = 32) -> np.ndarray:
    """The PyTorch model's logits for the tokenizer's arrays (ids, mask and, for a pair model, token types)."""
    model = ckpt.model.eval()
    out = [
        model(*(torch.from_numpy(a[i : i + batch]) for a in inputs)).numpy() for i in range(0, len(inputs[0]), batch)
    ]
    return np.concatenate(out)


def export_data(
    ckpt: Checkpoint,
    req: ExportRequest,
    data_path: Path | None = None,
    calibration_path: Path | None = None,
    columns: Columns | None = None,
) -> tuple[Dataset, Dataset | None]:
    """The sentences (or sentence pairs) an export verifies on and, for int8-static, calibrates on.

    Verification reads ``data_path``, by default SST-2 dev sentences. Calibration reads
    ``calibration_path``, by default SST-2 training sentences: kept apart from the ones verified on,
    so that a static quantization is not judged on the sentences its ranges were fitted to. A model
    of pairs is given, by default, each of those sentences paired with the next (``consecutive_pairs``);
    a multi-label model, by default, the sentences unlabelled (its labels are not SST-2's).

    Returns:
        (verification data, calibration data or None when no int8-static artifact is requested).

    Raises:
        DataError: a file that cannot be read as sentences.
    """
    pairs = ckpt.tokenizer.settings.text_pair

    multi = ckpt.config.multi_label

    def read(path: Path | None, default: Path) -> Dataset:
        if path is not None:
            return read_dataset(path, ckpt.labels, columns, pairs=pairs, multi_label=multi)
        if pairs:
            return consecutive_pairs(read_dataset(default))
        return read_dataset(default, None if multi else ckpt.labels)

    data = read(data_path, VERIFY_DATA)
    calibration = read(calibration_path, CALIBRATION_DATA) if "int8-static" in req.quantizations else None
    return data, calibration


def export_bundle(
    ckpt: Checkpoint,
    out: Path,
    req: ExportRequest,
    data: Dataset | None,
    calibration: Dataset | None = None,
    copy_to: Path | None = None,
) -> dict:
    """Export, verify and bundle. Returns the manifest. On any failure nothing is left at ``out``."""
    check_target(ckpt, req)
    cfg = ckpt.config
    for n in req.seq_lens:
        cfg.check_length(n, "--seq-len", lowest=8)
    if data is None:
        raise ConfigError("verification needs labelled or unlabelled sentences (--data)")
    targets = None
    if data.labels == ckpt.labels and data.multi_label == cfg.multi_label:
        targets = data.multi_hot() if data.multi_label else data.targets
    decide = cfg.decision_thresholds() if cfg.multi_label else None
    # Every length is verified on every sentence (truncated where it must be), against PyTorch at that length.
    inputs = {n: ckpt.tokenizer(data.texts, max_length=n) for n in req.seq_lens}
    references = {n: reference_logits(ckpt, *inputs[n]) for n in req.seq_lens}
    calib = calibration or data
    cal = ckpt.tokenizer(calib.texts[:256], max_length=req.seq_len)
    token_types = ckpt.tokenizer.settings.token_type_ids
    dtype = TARGETS[req.target]["input_dtype"]

    need = bundle_bytes(ckpt, req)
    writer = BundleWriter(out, force=req.force, need_bytes=need)
    if copy_to is not None:
        check_writable(copy_to / MANIFEST, need)
    with writer:
        writer.add_model_files(ckpt, req.seq_len)
        jobs = [(f, q) for q in req.quantizations for f in req.formats]
        bar = progress(jobs, desc="export", unit="artifact")
        for fmt, q in bar:
            bar.set_postfix_str(f"{fmt} {q}")
            mod = converters.module(fmt)
            name = f"model.{q}{converters.FORMATS[fmt].extension}"
            path = writer.path(name)
            opts = ExportOptions(
                quantize=q,
                seq_lens=tuple(req.seq_lens),
                input_dtype=dtype,
                calibration_ids=cal[0],
                calibration_mask=cal[1],
                token_types=token_types,
                calibration_types=cal[2] if token_types else None,
                example_ids=tuple(ckpt.tokenizer.backend.encode("this is").ids[:4]),
            )
            info = mod.export(ckpt.model, path, opts)
            runner = converters.runtime(fmt).Runner(path, threads=req.threads)
            try:
                if runner.seq_lens != req.seq_lens:
                    raise ExportError(f"{name} carries lengths {runner.seq_lens}, expected {req.seq_lens}")
                per_length = {}
                for n in req.seq_lens:
                    logits = runner.run(*(a.astype(runner.input_dtype) for a in inputs[n]))
                    per_length[n] = verify(logits, references[n], targets, q, req.thresholds, decide)
            finally:
                runner.close()
            check = _combine(per_length)
            if not check["passed"]:
                raise ExportError(
                    f"{fmt} {q} artifact failed verification on {len(data)} sentences: "
                    + "; ".join(check["failures"])
                    + " (thresholds can be changed with flags)"
                )
            if q == "int8-static":
                info["calibration"] = {"data": str(calib.path), "sentences": len(cal[0])}
            writer.add_artifact(name, fmt, q, opts, info, check)
        manifest = writer.finish(ckpt, req, parameter_groups(ckpt.model), data.path)
    if copy_to is not None:
        copy_bundle(out, copy_to)
    return manifest


def bundle_bytes(ckpt: Checkpoint, req: ExportRequest) -> int:
    """About how much room a bundle takes: 4 bytes a weight per fp32 artifact, a little over 1 per int8 one."""
    weights = sum(p.numel() for p in ckpt.model.parameters())
    per_artifact = [4.0 if q == "fp32" else 1.2 for q in req.quantizations for _ in req.formats]
    return int(weights * sum(per_artifact)) + (1 << 20)


def _combine(per_length: dict[int, dict]) -> dict:
    """One verdict over every length: the worst figure of each kind, and every failure named by length."""
    checks = list(per_length.values())
    # accuracy and its reference come from one length, the one the artifact loses most at (a short
    # length truncates the sentences for both, so its accuracy is not comparable with a long one's)
    worst = (
        checks[-1]
        if checks[0]["accuracy"] is None
        else max(checks, key=lambda c: c["reference_accuracy"] - c["accuracy"])
    )
    combined = {
        "sentences": checks[0]["sentences"],
        "max_abs_logit_diff": max(c["max_abs_logit_diff"] for c in checks),
        "label_agreement": min(c["label_agreement"] for c in checks),
        "accuracy": worst["accuracy"],
        "reference_accuracy": worst["reference_accuracy"],
        "thresholds": checks[0]["thresholds"],
        "failures": [
            f"length {n}: {f}" if len(per_length) > 1 else f for n, c in per_length.items() for f in c["failures"]
        ],
    }
    combined["passed"] = not combined["failures"]
    if len(per_length) > 1:
        combined["per_length"] = {str(n): c for n, c in per_length.items()}
    return combined


def copy_bundle(bundle: Path, dest: Path) -> None:
    """Copy a finished bundle's files into a directory (an Android app's assets), each atomically;
    a copy that fails part way removes the files it had added."""
    added = []
    try:
        for f in sorted(bundle.iterdir()):
            if f.is_file():
                if not (dest / f.name).exists():
                    added.append(dest / f.name)
                with staged_file(dest / f.name) as tmp:
                    shutil.copyfile(f, tmp)
    except BaseException:
        for f in added:
            f.unlink(missing_ok=True)
        raise
