"""Search spaces: a recipe whose values may be choices or ranges, and the recipes drawn from it.

A space is a TOML file laid out like a recipe (``ondevice/compress/recipe.py``): ordered
``[[step]]`` tables of technique fields, plus an ``[export]`` table. Each value is one of

    heads = 0.25                                  fixed
    embedding_bits = [4, 8]                       a choice (any TOML values, lists included)
    neurons = {low = 0.0, high = 0.75, step = 0.05}   a range (integers if low, high and step are;
                                                  log = true for a log scale)

and a step with ``optional = true`` is itself a yes/no choice. A trial's draw is a plain recipe
(``Recipe.to_toml``) that ``ondevice compress --recipe`` takes as it is, and an export setting.
Every draw is named by parameters ``"<step>.<kind>.<field>"`` (``"2.prune.heads"``), so a study
file says what each trial tried.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ondevice.compress import config_fields, config_from_dict
from ondevice.compress.precision import LOW_BITS_QUANTIZATION, MixedPrecisionConfig, stores_low_bits
from ondevice.compress.recipe import Recipe
from ondevice.converters.common import QUANTIZATIONS
from ondevice.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT = Path(__file__).resolve().parent / "default.toml"
EXPORT_FIELDS = {"quantization": "int8-dynamic", "seq_lens": [128]}


def as_drawn(value: Any) -> Any:
    """A float as a stepped draw means it: 0.3, not Optuna's stored 0.30000000000000004."""
    return round(value, 10) if isinstance(value, float) else value


@dataclass
class Param:
    """One searched value: its study name and how it is drawn."""

    name: str
    choices: list | None = None  # a choice
    low: float | None = None  # or a range
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.step or 1))

    def suggest(self, trial) -> Any:
        """Draw from an Optuna trial (or anything with its suggest_* methods)."""
        if self.choices is not None:
            # Optuna stores scalar choices as they are; a list (sequence-length buckets) goes as its JSON.
            encoded = [json.dumps(c) if isinstance(c, list) else c for c in self.choices]
            value = trial.suggest_categorical(self.name, encoded)
            return json.loads(value) if isinstance(value, str) and value.startswith("[") else value
        if self.integer:
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        value = trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)
        return as_drawn(value) if self.step else value

    def corners(self) -> list:
        """Values at the edges of the range, or every choice: what checking a space tries."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]


@dataclass
class StepSpace:
    index: int
    kind: str
    fixed: dict = field(default_factory=dict)
    params: dict[str, Param] = field(default_factory=dict)  # field -> how it is drawn
    optional: Param | None = None


@dataclass
class Space:
    name: str
    path: str
    steps: list[StepSpace]
    export: dict[str, Any]  # field -> fixed value or Param
    seq_len: int = 128
    description: str = ""
    text: str = ""  # the file as read: what a resumed search must find again

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def params(self) -> list[Param]:
        out = []
        for s in self.steps:
            out += ([s.optional] if s.optional else []) + list(s.params.values())
        out += [p for p in self.export.values() if isinstance(p, Param)]
        return out

    def draw(self, trial, name: str) -> tuple[Recipe, dict]:
        """A recipe and its export settings (``quantization``, ``seq_lens``) drawn from ``trial``."""
        configs = []
        for s in self.steps:
            if s.optional is not None and not s.optional.suggest(trial):
                continue
            values = {**s.fixed, **{k: p.suggest(trial) for k, p in s.params.items()}}
            configs.append(_config(s, values, self.path))
        low_bits = any(isinstance(c, MixedPrecisionConfig) and stores_low_bits(c) for c in configs)
        export = {}
        for k, v in self.export.items():
            if k == "quantization" and low_bits:  # 4-bit weights export with int8-dynamic only: not drawn,
                export[k] = LOW_BITS_QUANTIZATION  # so that no trial is built only to fail at its export
            else:
                export[k] = v.suggest(trial) if isinstance(v, Param) else v
        if not configs:
            raise ConfigError(f"search space {self.path}: a draw with every optional step off has no steps")
        recipe = Recipe(name=name, steps=configs, description=f"drawn from search space {self.name!r}")
        recipe.seq_len = self.seq_len
        return recipe, export


def _config(s: StepSpace, values: dict, path: str):
    try:
        return config_from_dict({"kind": s.kind, **values})
    except ConfigError as e:
        raise ConfigError(f"search space {path}, step {s.index}: {e}") from None


def _field_names(kind: str, path: str, index: int) -> list[str]:
    try:
        return config_fields(kind)
    except ConfigError as e:
        raise ConfigError(f"search space {path}, step {index}: {e}") from None


def _refuse_unknown(given: dict, known: list[str], where: str) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown field {', '.join(unknown)}; valid fields: {', '.join(known)}")


def _value(raw: Any, name: str, where: str):
    """A fixed value, or the Param a choice or range table makes."""
    if isinstance(raw, list):
        if not raw:
            raise ConfigError(f"{where}: {name} lists no choices")
        return Param(name, choices=raw)
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - {"low", "high", "step", "log"})
        if unknown or "low" not in raw or "high" not in raw:
            raise ConfigError(
                f"{where}: a range is {{low = A, high = B}} with optional step and log; got keys {', '.join(raw)}"
            )
        low, high, step = raw["low"], raw["high"], raw.get("step")
        numbers = [v for v in (low, high, step) if v is not None]
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in numbers) or not low <= high:
            raise ConfigError(f"{where}: a range needs numbers with low <= high, not {raw}")
        if step is not None and step <= 0:
            raise ConfigError(f"{where}: a range's step must be positive")
        return Param(name, low=low, high=high, step=step, log=bool(raw.get("log", False)))
    return raw


def load_space(path: str | Path | None = None) -> Space:
    """Read and check a search space file (None: the shipped default).

    Raises:
        ConfigError: not TOML, an unknown step kind or field (naming the valid ones), a malformed range,
            or a corner of the space that the technique itself refuses.
    """
    p = Path(path).expanduser() if path else DEFAULT
    try:
        text = p.read_text()
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"search space {p}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"search space {p} is a directory, not a TOML file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"search space {p} is not valid TOML: {e}") from None
    steps_raw = data.pop("step", None)
    if not isinstance(steps_raw, list) or not steps_raw or not all(isinstance(s, dict) for s in steps_raw):
        raise ConfigError(f"search space {p} has no [[step]] tables")
    export_raw = data.pop("export", {})
    name, description, seq_len = data.pop("name", p.stem), data.pop("description", ""), data.pop("seq_len", 128)
    if data:
        raise ConfigError(
            f"search space {p}: unknown top-level keys {', '.join(sorted(data))} "
            "(known: name, description, seq_len, step, export)"
        )
    if not isinstance(seq_len, int) or isinstance(seq_len, bool) or seq_len < 8:
        raise ConfigError(f"search space {p}: seq_len must be an integer of at least 8")
    steps = []
    for i, raw in enumerate(steps_raw, 1):
        where = f"search space {p}, step {i}"
        raw = dict(raw)
        kind = raw.pop("kind", None)
        known = _field_names(kind, str(p), i)
        optional = raw.pop("optional", False)
        if not isinstance(optional, bool):
            raise ConfigError(f"{where}: optional must be true or false")
        _refuse_unknown(raw, ["optional", *known], f"{where} ({kind})")
        s = StepSpace(i, kind, optional=Param(f"{i}.{kind}.on", choices=[True, False]) if optional else None)
        for k, v in raw.items():
            value = _value(v, f"{i}.{kind}.{k}", f"{where} ({kind}) {k}")
            if isinstance(value, Param):
                s.params[k] = value
            else:
                s.fixed[k] = value
        steps.append(s)
    if not isinstance(export_raw, dict):
        raise ConfigError(f"search space {p}: [export] must be a table")
    _refuse_unknown(export_raw, list(EXPORT_FIELDS), f"search space {p} [export]")
    export = {}
    for k, default in EXPORT_FIELDS.items():
        raw = export_raw.get(k, default)
        # seq_lens' value is itself a list: a list of lists is its choice
        is_choice = isinstance(raw, list) and (k != "seq_lens" or any(isinstance(v, list) for v in raw))
        export[k] = Param(f"export.{k}", choices=raw) if is_choice else raw
    space = Space(str(name), str(p), steps, export, seq_len, str(description), text)
    _check(space)
    return space


def _check(space: Space) -> None:
    """Build every step at each corner of its ranges and each of its choices, so that a value the
    technique refuses is named now, not by a failed trial an hour in."""
    for s in space.steps:
        low = {k: p.corners()[0] for k, p in s.params.items()}
        _config(s, {**s.fixed, **low}, space.path)
        for k, p in s.params.items():
            for v in p.corners():
                _config(s, {**s.fixed, **low, k: v}, space.path)
    where = f"search space {space.path} [export]"
    q = space.export["quantization"]
    offered = q.choices if isinstance(q, Param) else [q]
    for v in offered:
        if v not in QUANTIZATIONS:
            raise ConfigError(f"{where}: quantization {v!r} is not one of {', '.join(QUANTIZATIONS)}")
    for s in space.steps:
        if s.kind != "mixed_precision" or LOW_BITS_QUANTIZATION in offered:
            continue
        names = list(s.params)
        for values in itertools.product(*(s.params[k].corners() for k in names)):
            c = _config(s, {**s.fixed, **dict(zip(names, values, strict=True))}, space.path)
            if stores_low_bits(c):
                raise ConfigError(
                    f"search space {space.path}, step {s.index}: mixed_precision can leave weights below 8 bits "
                    f"(embedding_bits {c.embedding_bits}, size_budget {c.size_budget}), and those export with "
                    f"quantization {LOW_BITS_QUANTIZATION} only, which [export] does not offer ({', '.join(offered)})"
                )
    lens = space.export["seq_lens"]
    for v in lens.choices if isinstance(lens, Param) else [lens]:
        if not isinstance(v, list) or not v or any(not isinstance(n, int) or n < 8 for n in v):
            raise ConfigError(f"{where}: seq_lens must be a list of lengths of at least 8 (or a list of such lists)")
        if max(v) != space.seq_len:
            raise ConfigError(
                f"{where}: the longest of seq_lens {v} must be the space's seq_len ({space.seq_len}), "
                "the length trials are measured at"
            )


def to_toml(recipe: Recipe, export: dict | None = None) -> str:
    """A recipe as TOML that ``load_recipe`` reads back: its steps with every field set (None omitted)."""
    lines = [
        f"name = {_toml(recipe.name)}",
        f"description = {_toml(recipe.description)}",
        f"seq_len = {recipe.seq_len}",
    ]
    for step in recipe.to_dict()["steps"]:
        lines += ["", "[[step]]"] + [f"{k} = {_toml(v)}" for k, v in step.items() if v is not None]
    if export:
        lines += ["", "# how the trial exported it (ondevice export --quantize, --seq-len); compress ignores it"]
        lines += [f"# {k} = {_toml(v)}" for k, v in export.items()]
    return "\n".join(lines) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    raise ConfigError(f"cannot write {v!r} into a recipe")
