"""The ondevice checkpoint (config.json, model.safetensors, tokenizer files, labels.json) and model lookup.

A model spec is resolved in this order: nothing or "default" (the built-in SST-2 classifier), an
ondevice checkpoint directory, then anything the Hugging Face importer accepts (a directory, the
bundled all-MiniLM-L6-v2, or a hub id already in the local cache).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ondevice.errors import CheckpointError, ConfigError
from ondevice.model.config import EncoderConfig
from ondevice.model.encoder import Classifier
from ondevice.model.tokenizer import Tokenizer

FORMAT = "ondevice-checkpoint"
ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_SPEC = ASSETS / "default_model.json"


@dataclass
class Checkpoint:
    """A model with everything needed to feed it text and read its output."""

    model: Classifier
    tokenizer: Tokenizer
    labels: list[str]
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # provenance, training figures

    @property
    def config(self) -> EncoderConfig:
        return self.model.config


def is_ondevice_checkpoint(path: Path) -> bool:
    cfg = path / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("format") == FORMAT
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def save_checkpoint(ckpt: Checkpoint, out: Path, extra_files: dict[str, bytes] | None = None) -> Path:
    """Write a checkpoint directory atomically: a temporary sibling directory renamed into place.

    An existing directory at ``out`` is replaced only once the new one is complete.
    """
    from safetensors.torch import save_file

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would make the result private
    try:
        cfg = {"format": FORMAT, **ckpt.model.config.to_dict()}
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in ckpt.model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        ckpt.tokenizer.save(tmp)
        (tmp / "labels.json").write_text(json.dumps(ckpt.labels) + "\n")
        if ckpt.info:
            (tmp / "info.json").write_text(json.dumps(ckpt.info, indent=2) + "\n")
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def replace_dir(new: Path, out: Path) -> None:
    """Move a finished directory into place, replacing ``out`` only once ``new`` is complete."""
    if out.exists():
        if not out.is_dir():
            raise CheckpointError(f"{out} exists and is not a directory")
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.rename(out, old / "d")
        os.rename(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, out)


def load_checkpoint(path: Path) -> Checkpoint:
    """Load an ondevice checkpoint: built on the meta device, weights assigned from safetensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    cfg = json.loads((path / "config.json").read_text())
    cfg.pop("format", None)
    try:
        config = EncoderConfig.from_dict(cfg)
    except ConfigError as e:
        raise CheckpointError(f"{path}/config.json: {e}") from None
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{path} has no model.safetensors")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights} is corrupt or unreadable: {e}") from None
    with torch.device("meta"):
        model = Classifier(config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise CheckpointError(f"{weights} does not match its config.json: {str(e).splitlines()[1].strip()}") from None
    # Non-persistent buffers are not in the file; rebuild them on the CPU.
    model.embeddings.position_ids = torch.arange(config.max_position_embeddings)
    labels = _read_labels(path, config.num_labels)
    info = json.loads((path / "info.json").read_text()) if (path / "info.json").is_file() else {}
    return Checkpoint(model.eval(), Tokenizer.load(path), labels, str(path), info)


def _read_labels(path: Path, n: int) -> list[str]:
    f = path / "labels.json"
    if not f.is_file():
        return [f"LABEL_{i}" for i in range(n)]
    try:
        labels = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{f} is not valid JSON: {e}") from None
    if not isinstance(labels, list) or len(labels) != n or not all(isinstance(x, str) for x in labels):
        raise CheckpointError(f"{f} must be a list of {n} label names")
    return labels


def load_hf(source: str, num_labels: int | None = None, **overrides: Any) -> Checkpoint:
    """Import a Hugging Face checkpoint (directory, bundled MiniLM or cached hub id)."""
    from ondevice.model.hf import hf_labels, import_hf, resolve_source

    directory = resolve_source(source)
    if num_labels is not None:
        overrides["num_labels"] = num_labels
    torch.manual_seed(0)  # a fresh head, where the checkpoint has none, is initialised reproducibly
    model, hf, fresh = import_hf(directory, **overrides)
    labels = hf_labels(hf, model.config.num_labels)
    tokenizer = Tokenizer.load(directory)
    info = {"imported_from": source, "fresh_head": fresh}
    return Checkpoint(model, tokenizer, labels, str(directory), info)


def load_default() -> Checkpoint:
    """The built-in SST-2 classifier: all-MiniLM-L6-v2 with a trained head shipped in the package."""
    from safetensors.torch import load_file

    spec = json.loads(DEFAULT_SPEC.read_text())
    head_file = ASSETS / spec["head_file"]
    if not head_file.is_file():
        raise CheckpointError(f"the default model's head {head_file} is missing; build it with: {spec['command']}")
    ckpt = load_hf(spec["base"], **spec["config"])
    head = load_file(str(head_file))
    missing = set(ckpt.model.state_dict()) & set(spec["head_keys"]) - set(head)
    if missing:
        raise CheckpointError(f"{head_file} lacks {sorted(missing)}")
    with torch.no_grad():
        for k, v in head.items():
            target = ckpt.model.get_parameter(k)
            if target.shape != v.shape:
                raise CheckpointError(f"{head_file}: {k} has shape {tuple(v.shape)}, expected {tuple(target.shape)}")
            target.copy_(v)
    ckpt.labels = list(spec["labels"])
    ckpt.source = "default"
    ckpt.info = {"default_model": spec}
    return ckpt


def load_model(spec: str | None = None, **overrides: Any) -> Checkpoint:
    """Resolve a model spec (see the module docstring) into a Checkpoint in eval mode."""
    if spec is None or spec == "default":
        return load_default()
    path = Path(spec).expanduser()
    if path.is_dir() and is_ondevice_checkpoint(path):
        return load_checkpoint(path)
    if path.is_dir() and not (path / "config.json").is_file():
        raise CheckpointError(f"{spec} has no config.json; is it a model directory?")
    return load_hf(spec, **overrides)
