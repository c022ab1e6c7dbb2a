"""The app bundle: artifacts, tokenizer files, labels.json and the manifest ondevice.json.

A bundle is written into a staged sibling directory (``ondevice.output``) and renamed into place only
when every artifact in it has been verified, so a failed export leaves nothing behind. Reading a bundle
(``load_manifest``, the one way in) validates the manifest against its schema (``ondevice.manifest``),
confines every file it names to the bundle, and checks every file's size and sha256 against it before
anything is run; ``load_tokenizer`` then builds the tokenizer from those checked files only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ondevice import __version__
from ondevice.converters.formats import FORMATS
from ondevice.errors import ArtifactError, ExportError
from ondevice.jsonfile import read_json
from ondevice.manifest import LABELS_FILE, SCHEMA_VERSION, TOKENIZER_JSON, validate
from ondevice.output import check_writable, staged_dir

if TYPE_CHECKING:  # ondevice.model pulls in torch: imported where a tokenizer is built
    from ondevice.model.tokenizer import Tokenizer, TokenizerSettings

MANIFEST = "ondevice.json"
MAX_MANIFEST_BYTES = 16 << 20  # real manifests take a few KB; a larger file is refused unread
_AGAIN = "; export the bundle again"


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


class BundleWriter:
    """Collects a bundle in a temporary directory; ``finish`` writes the manifest and moves it into place."""

    def __init__(self, out: Path, force: bool = False, need_bytes: int = 0):
        self.out = Path(out)
        if self.out.exists():
            if not self.out.is_dir():
                raise ExportError(f"{self.out} exists and is not a directory")
            if any(self.out.iterdir()) and not force:
                raise ExportError(f"{self.out} exists and is not empty; use --force to replace it")
        check_writable(self.out, need_bytes)
        self.artifacts: list[dict] = []
        self.tmp: Path | None = None
        self.manifest: dict | None = None

    def __enter__(self) -> "BundleWriter":
        self._stage = staged_dir(self.out)
        self.tmp = self._stage.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None and self.manifest is None:  # never finished: nothing goes into place
            exc_type, exc = ExportError, ExportError(f"{self.out}: the bundle was not finished")
        return self._stage.__exit__(exc_type, exc, tb)

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
        f = FORMATS[fmt]
        self.artifacts.append(
            {
                "file": name,
                "format": fmt,
                "quantization": quantize,
                "runtime": {"name": f.runtime_package, "version": _version(f.runtime_package)},
                "converter": {pkg: _version(pkg) for pkg in f.converter_packages},
                "inputs": [
                    {"name": name, "dtype": opts.input_dtype, "shape": [1, opts.seq_len]} for name in opts.input_names
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
            "problem_type": ckpt.config.problem_type,
            **({"thresholds": ckpt.config.decision_thresholds()} if ckpt.config.multi_label else {}),
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


def bundle_file(bundle: Path, name: str, missing: str | None = None) -> Path:
    """The path of a file a bundle's manifest names, refused unless it is a regular file inside the bundle.

    ``name`` is a plain file name (the manifest's schema sees to that); a symbolic link is followed only
    as far as the bundle directory: one that leads outside it, or to something that is not a regular
    file (a FIFO, a device), is refused before anything reads it.
    """
    f = Path(bundle) / name
    if not f.exists() and not f.is_symlink():
        raise ArtifactError(missing or f"{f}: listed in the manifest but missing; copy the whole bundle")
    try:
        real, root = f.resolve(strict=True), Path(bundle).resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling link or a loop of links
        raise ArtifactError(f"{f}: a symbolic link that leads nowhere; copy the whole bundle") from None
    if root not in real.parents:
        raise ArtifactError(f"{f}: a symbolic link to {real}, outside the bundle; refused")
    if not real.is_file():
        raise ArtifactError(f"{f}: not a regular file; refused")
    return f


def load_manifest(bundle: Path, check_files: bool = True) -> dict:
    """Read ondevice.json, validate it against the schema, and check every listed file's size and sha256.

    The one way a bundle is read (``run``, ``inspect``, ``profile``, the benchmarks): the manifest is
    checked once, here, so its readers may index it freely. Every file name in it is confined to the
    bundle, every file the bundle uses must have a checksum, and with ``check_files`` the sizes (all
    of them first: a truncated copy says so at once), then the sha256s, then labels.json and the
    tokenizer settings are checked before anything runs or parses them.

    Args:
        bundle: the bundle directory.
        check_files: check the listed files' sizes and contents too (names and paths are always checked).

    Returns:
        The manifest as a dict, of the shape ``ondevice.manifest.validate`` guarantees.

    Raises:
        ArtifactError: one line naming the file and the field at fault.
    """
    bundle = Path(bundle)
    path = bundle_file(bundle, MANIFEST, f"{bundle} is not an ondevice bundle (no {MANIFEST})")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ArtifactError(f"{path}: {path.stat().st_size} bytes is far too large for a manifest; refused")
    manifest = validate(read_json(path, ArtifactError), str(path))
    files = {name: bundle_file(bundle, name) for name in manifest["files"]}
    if check_files:
        for name, f in files.items():
            size, want = f.stat().st_size, manifest["files"][name]["size_bytes"]
            if size != want:
                raise ArtifactError(
                    f"{f}: size {size} does not match the manifest's {want}; the file is truncated or was replaced"
                )
        for name, f in files.items():
            if sha256(f) != manifest["files"][name]["sha256"].lower():
                raise ArtifactError(f"{f}: sha256 does not match the manifest; the file is corrupt or was changed")
        _check_labels(bundle / LABELS_FILE, manifest["labels"])
        _read_settings(bundle / manifest["tokenizer"]["settings_file"])
    return manifest


def _check_labels(path: Path, labels: list[str]) -> None:
    """labels.json (what the app reads) must hold the manifest's labels."""
    found = read_json(path, ArtifactError)
    if not isinstance(found, list) or not all(isinstance(x, str) for x in found):
        raise ArtifactError(f"{path}: not a JSON list of label names; export the bundle again")
    if found != labels:
        raise ArtifactError(
            f"{path} lists {json.dumps(found)[:100]} but {MANIFEST} has {json.dumps(labels)[:100]}; "
            "export the bundle again"
        )


def _read_settings(path: Path) -> TokenizerSettings:
    from ondevice.model.tokenizer import TokenizerSettings

    return TokenizerSettings.from_dict(read_json(path, ArtifactError), str(path), ArtifactError, advice=_AGAIN)


def load_tokenizer(bundle: Path, manifest: dict) -> Tokenizer:
    """The bundle's tokenizer, from the files its manifest names and checks, and no others.

    ``manifest`` must come from ``load_manifest(bundle)`` (with its files checked): the settings file
    and the vocabulary it names, and tokenizer.json when ``files`` lists it (as the app reads it).
    """
    from ondevice.model.tokenizer import Tokenizer

    bundle = Path(bundle)
    tok = manifest["tokenizer"]
    settings = _read_settings(bundle / tok["settings_file"])
    tj = bundle / TOKENIZER_JSON if TOKENIZER_JSON in manifest["files"] else None
    return Tokenizer.from_files(settings, tj, bundle / tok["vocab_file"], str(bundle), ArtifactError)


def select_artifact(bundle: Path, manifest: dict, fmt: str | None = None, quantize: str | None = None) -> dict:
    """The first artifact of the bundle that matches the format and quantization asked for."""
    for a in manifest["artifacts"]:
        if (fmt is None or a["format"] == fmt) and (quantize is None or a["quantization"] == quantize):
            return a
    have = ", ".join(f"{a['format']} {a['quantization']}" for a in manifest["artifacts"])
    raise ArtifactError(f"{bundle} has no {fmt or 'any'} {quantize or ''} artifact (it has: {have})".replace("  ", " "))
