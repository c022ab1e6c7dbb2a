"""The app bundle: artifacts, tokenizer files, labels.json and the manifest ondevice.json.

A bundle is written into a temporary sibling directory and renamed into place only when every
artifact in it has been verified, so a failed export leaves nothing behind. Reading a bundle checks
every file's size and sha256 against the manifest before anything is run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from ondevice import __version__
from ondevice.errors import ArtifactError, ExportError
from ondevice.jsonfile import read_json
from ondevice.model.checkpoint import replace_dir

MANIFEST = "ondevice.json"
SCHEMA_VERSION = 1
RUNTIMES = {"executorch": "executorch", "tflite": "ai-edge-litert", "onnx": "onnxruntime"}
CONVERTERS = {
    "executorch": ["torch", "executorch", "torchao"],
    "tflite": ["litert-torch", "ai-edge-quantizer"],
    "onnx": ["torch", "onnx", "onnxruntime"],
}


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parameter_groups(model) -> dict[str, int]:
    """Parameters of the embeddings, the encoder blocks and the head: where the bytes go."""
    groups = {"embeddings": 0, "encoder": 0, "head": 0}
    for name, p in model.named_parameters():
        key = (
            "embeddings"
            if name.startswith("embeddings.")
            else "encoder"
            if name.startswith(("blocks.", "linformer."))
            else "head"
        )
        groups[key] += p.numel()
    return groups


class BundleWriter:
    """Collects a bundle in a temporary directory; ``finish`` writes the manifest and moves it into place."""

    def __init__(self, out: Path, force: bool = False):
        self.out = Path(out)
        if self.out.exists():
            if not self.out.is_dir():
                raise ExportError(f"{self.out} exists and is not a directory")
            if any(self.out.iterdir()) and not force:
                raise ExportError(f"{self.out} exists and is not empty; use --force to replace it")
        self.artifacts: list[dict] = []
        self.tmp: Path | None = None
        self.manifest: dict | None = None

    def __enter__(self) -> "BundleWriter":
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", dir=self.out.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o777 & ~umask)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or self.manifest is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        replace_dir(self.tmp, self.out)

    def path(self, name: str) -> Path:
        return self.tmp / name

    def add_model_files(self, ckpt, seq_len: int) -> None:
        tok = ckpt.tokenizer
        old = tok.settings.max_length
        tok.settings.max_length = seq_len  # the app pads and truncates to the artifact's length
        try:
            tok.save(self.tmp)
        finally:
            tok.settings.max_length = old
        (self.tmp / "labels.json").write_text(json.dumps(ckpt.labels) + "\n")

    def add_artifact(self, name: str, fmt: str, quantize: str, opts, info: dict, verification: dict) -> None:
        self.artifacts.append(
            {
                "file": name,
                "format": fmt,
                "quantization": quantize,
                "runtime": {"name": RUNTIMES[fmt], "version": _version(RUNTIMES[fmt])},
                "converter": {pkg: _version(pkg) for pkg in CONVERTERS[fmt]},
                "inputs": [
                    {"name": "input_ids", "dtype": opts.input_dtype, "shape": [1, opts.seq_len]},
                    {"name": "attention_mask", "dtype": opts.input_dtype, "shape": [1, opts.seq_len]},
                ],
                "outputs": [{"name": "logits", "dtype": "float32", "shape": [1, None]}],
                "seq_len": opts.seq_len,
                "seq_lens": list(opts.seq_lens),
                "export": info,
                "verification": verification,
            }
        )

    def finish(self, ckpt, req, params: dict[str, int], data_path: str) -> dict:
        for a in self.artifacts:
            a["outputs"][0]["shape"][1] = ckpt.config.num_labels
        files = {}
        for f in sorted(self.tmp.iterdir()):
            files[f.name] = {"sha256": sha256(f), "size_bytes": f.stat().st_size}
        for a in self.artifacts:
            a["sha256"] = files[a["file"]]["sha256"]
            a["size_bytes"] = files[a["file"]]["size_bytes"]
        self.manifest = {
            "schema_version": SCHEMA_VERSION,
            "generator": {"name": "ondevice", "version": __version__},
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "target": req.target,
            "model": {
                "source": ckpt.source,
                "config": ckpt.config.to_dict(),
                "parameters": params,
                "compression": ckpt.info.get("compression"),
            },
            "labels": ckpt.labels,
            "seq_len": req.seq_len,
            "seq_lens": req.seq_lens,
            "tokenizer": {
                **asdict(ckpt.tokenizer.settings),
                "max_length": req.seq_len,
                "vocab_file": "vocab.txt",
                "settings_file": "tokenizer_settings.json",
            },
            "verification_data": data_path,
            "artifacts": self.artifacts,
            "files": files,
            "host": {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()},
        }
        text = json.dumps(self.manifest, indent=2) + "\n"
        (self.tmp / MANIFEST).write_text(text)
        return self.manifest


def load_manifest(bundle: Path, check_files: bool = True) -> dict:
    """Read ondevice.json and check every listed file's size and sha256."""
    bundle = Path(bundle)
    path = bundle / MANIFEST
    manifest = read_json(path, ArtifactError, f"{bundle} is not an ondevice bundle (no {MANIFEST})")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"{path}: manifest schema version {manifest.get('schema_version')!r} is not supported")
    if check_files:
        for name, facts in manifest.get("files", {}).items():
            f = bundle / name
            if not f.is_file():
                raise ArtifactError(f"{f}: listed in the manifest but missing")
            if f.stat().st_size != facts["size_bytes"]:
                raise ArtifactError(f"{f}: size {f.stat().st_size} does not match the manifest's {facts['size_bytes']}")
            if sha256(f) != facts["sha256"]:
                raise ArtifactError(f"{f}: sha256 does not match the manifest; the file is corrupt or was changed")
    return manifest


def select_artifact(bundle: Path, manifest: dict, fmt: str | None = None, quantize: str | None = None) -> dict:
    """The first artifact of the bundle that matches the format and quantization asked for."""
    for a in manifest["artifacts"]:
        if (fmt is None or a["format"] == fmt) and (quantize is None or a["quantization"] == quantize):
            return a
    have = ", ".join(f"{a['format']} {a['quantization']}" for a in manifest["artifacts"])
    raise ArtifactError(f"{bundle} has no {fmt or 'any'} {quantize or ''} artifact (it has: {have})".replace("  ", " "))
