"""Compression as configuration: one in-place verb over a config object.

    compress_(model, LowRankConfig(energy=0.9))
    compress_(model, PruneConfig(heads=0.25, neurons=0.5), calibration=batches)

Each technique module registers its config type with ``@technique``; ``compress_`` dispatches on
the config's type. A technique changes the model in place *and* its ``model.config``, so that a
saved checkpoint rebuilds exactly the compressed shapes.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, Callable

from ondevice.errors import ConfigError
from ondevice.model.config import from_fields

_TECHNIQUES: dict[type, Callable[..., dict]] = {}
_BY_KIND: dict[str, type] = {}


def technique(config_type: type, kind: str):
    """Register ``fn(model, config, **context) -> report`` as the technique for ``config_type``."""

    def register(fn):
        _TECHNIQUES[config_type] = fn
        _BY_KIND[kind] = config_type
        config_type.kind = kind
        return fn

    return register


def compress_(model, config, **context: Any) -> dict:
    """Apply one technique to ``model`` in place; returns what it did (a JSON-able report)."""
    _load_techniques()
    fn = _TECHNIQUES.get(type(config))
    if fn is None:
        raise ConfigError(f"no compression technique for {type(config).__name__}")
    return fn(model, config, **context)


def config_to_dict(config) -> dict:
    _load_techniques()  # the registration sets ``kind``: a config unpickled in a fresh process needs it too
    return {"kind": config.kind, **asdict(config)}


def config_from_dict(d: dict):
    """A technique config from a dict such as a recipe's TOML table: ``{"kind": "lowrank", ...}``."""
    _load_techniques()
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _BY_KIND:
        raise ConfigError(f"unknown step kind {kind!r}; known: {', '.join(sorted(_BY_KIND))}")
    return from_fields(_BY_KIND[kind], d, ConfigError, f"{kind} step")


def config_fields(kind: str) -> list[str]:
    """The fields a step of ``kind`` takes, for naming the valid ones where a field is unknown."""
    _load_techniques()
    if kind not in _BY_KIND:
        raise ConfigError(f"unknown step kind {kind!r}; known: {', '.join(sorted(_BY_KIND))}")
    return sorted(f.name for f in fields(_BY_KIND[kind]))


def _load_techniques() -> None:
    # Importing the modules runs their @technique registrations.
    from ondevice.compress import distill, linformer, lowrank, precision, prune, sign_match, skim, vocab  # noqa: F401
