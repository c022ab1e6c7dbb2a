"""The ondevice checkpoint (config.json, model.safetensors, tokenizer files, labels.json) and model lookup.

A model spec is resolved in this order: nothing or "default" (the built-in SST-2 classifier), an
ondevice checkpoint directory, then anything the Hugging Face importer accepts (a directory, the
bundled all-MiniLM-L6-v2, or a hub id already in the local cache).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ondevice.errors import CheckpointError, ConfigError, OutputError
from ondevice.jsonfile import read_json
from ondevice.model.config import EncoderConfig
from ondevice.model.encoder import Classifier
from ondevice.model.tokenizer import Tokenizer
from ondevice.model.weights import check_tensors, expected_shapes, load_safetensors, meta_model, safetensors_info
from ondevice.output import staged_dir

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
    """Write a checkpoint directory atomically: a staged sibling directory renamed into place.

    An existing directory at ``out`` is replaced only once the new one is complete.
    """
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    out = Path(out)
    with staged_dir(out) as tmp:
        cfg = {"format": FORMAT, **ckpt.model.config.to_dict()}
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in ckpt.model.state_dict().items()}
        try:
            save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        except SafetensorError as e:  # an OSError inside safetensors' own writer (a full disk)
            raise OutputError(f"cannot write {out / 'model.safetensors'}: {e}") from None
        ckpt.tokenizer.save(tmp)
        (tmp / "labels.json").write_text(json.dumps(ckpt.labels) + "\n")
        if ckpt.info:
            (tmp / "info.json").write_text(json.dumps(ckpt.info, indent=2) + "\n")
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
    return out


def checkpoint_bytes(model: torch.nn.Module) -> int:
    """About how many bytes a checkpoint of ``model`` takes on disk (its weights dominate)."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values()) + (1 << 20)


def load_checkpoint(path: Path) -> Checkpoint:
    """Load an ondevice checkpoint: built on the meta device, every tensor's shape and dtype checked
    against the config from the safetensors header, then the weights assigned."""
    path = Path(path)
    cfg_path = path / "config.json"
    cfg = read_json(cfg_path, CheckpointError, f"{path} has no config.json; is it a model directory?")
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{cfg_path} is not a JSON object")
    cfg.pop("format", None)
    try:
        config = EncoderConfig.from_dict(cfg)
    except (ConfigError, CheckpointError) as e:
        raise CheckpointError(f"{cfg_path}: {e}") from None
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{path} has no model.safetensors")
    model = meta_model(config)
    check_tensors(safetensors_info(weights), expected_shapes(model), weights)
    try:
        model.load_state_dict(load_safetensors(weights), strict=True, assign=True)
    except RuntimeError as e:  # checked above; kept as the net under anything torch still refuses
        raise CheckpointError(f"{weights} does not match its config.json: {str(e).splitlines()[-1].strip()}") from None
    # Non-persistent buffers are not in the file; rebuild them on the CPU.
    model.embeddings.position_ids = torch.arange(config.max_position_embeddings)
    labels = _read_labels(path, config.num_labels)
    info = _read_info(path)
    return fit_tokenizer(Checkpoint(model.eval(), Tokenizer.load(path), labels, str(path), info))


def _read_labels(path: Path, n: int) -> list[str]:
    f = path / "labels.json"
    if not f.is_file():
        return [f"LABEL_{i}" for i in range(n)]
    labels = read_json(f, CheckpointError)
    if not isinstance(labels, list) or len(labels) != n or not all(isinstance(x, str) and x for x in labels):
        raise CheckpointError(f"{f} must be a list of {n} label names (config.json num_labels is {n})")
    if len(set(labels)) != n:
        raise CheckpointError(f"{f} names a label twice; the {n} names must differ")
    return labels


def _read_info(path: Path) -> dict[str, Any]:
    f = path / "info.json"
    if not f.is_file():
        return {}
    info = read_json(f, CheckpointError)
    if not isinstance(info, dict):
        raise CheckpointError(f"{f} is not a JSON object")
    return info


def fit_tokenizer(ckpt: Checkpoint) -> Checkpoint:
    """The check every load path ends with: the tokenizer must not give an id that the model's
    embedding table lacks, and its default length must fit the model's position table.

    Raises:
        CheckpointError: the tokenizer's vocabulary is larger than the embedding table.
    """
    config, tok = ckpt.config, ckpt.tokenizer
    top = tok.max_id
    if top >= config.vocab_size:
        raise CheckpointError(
            f"{ckpt.source}: the tokenizer gives ids up to {top}, but the model's embedding table has "
            f"{config.vocab_size} rows (config.json vocab_size); use the tokenizer the model was trained with"
        )
    # Truncation by default to the longest input the model takes; a length given on the command line
    # is checked where it is used (EncoderConfig.check_length).
    tok.settings.max_length = min(tok.settings.max_length, config.max_length)
    return ckpt


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
    return fit_tokenizer(Checkpoint(model, tokenizer, labels, str(directory), info))


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
