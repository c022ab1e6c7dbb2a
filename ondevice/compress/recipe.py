"""Recipes: an ordered list of compression steps in a TOML file, run one after another.

    name = "mobile"
    description = "..."
    [[step]]
    kind = "prune"
    heads = 0.25
    [[step]]
    kind = "distill"
    epochs = 1

After every step the model's parameters, FLOPs at the recipe's sequence length and dev accuracy
are recorded, so a user sees what each step cost and saved. Shipped recipes live in
``ondevice/recipes/``; a path to any TOML file works the same way.
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ondevice.compress import compress_, config_from_dict, config_to_dict
from ondevice.compress.significance import Calibration
from ondevice.compress.stats import summary
from ondevice.errors import ConfigError
from ondevice.train import dev_accuracy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SHIPPED = Path(__file__).resolve().parent.parent / "recipes"


@dataclass
class Recipe:
    name: str
    steps: list = field(default_factory=list)  # technique configs, in order
    description: str = ""
    seq_len: int = 128  # where FLOPs are counted

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "seq_len": self.seq_len,
            "steps": [config_to_dict(s) for s in self.steps],
        }


def shipped_recipes() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SHIPPED.glob("*.toml"))}


def load_recipe(name_or_path: str) -> Recipe:
    """A shipped recipe by name, or a recipe TOML file by path."""
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        shipped = shipped_recipes()
        if name_or_path not in shipped:
            raise ConfigError(
                f"no recipe {name_or_path!r}: not a file, and the shipped recipes are {', '.join(shipped)}"
            )
        path = shipped[name_or_path]
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"recipe {path} is not valid TOML: {e}") from None
    steps = data.pop("step", None)
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f"recipe {path} has no [[step]] tables")
    name = data.pop("name", path.stem)
    description = data.pop("description", "")
    seq_len = data.pop("seq_len", 128)
    if data:
        raise ConfigError(f"recipe {path}: unknown top-level keys {', '.join(sorted(data))}")
    configs = []
    for i, step in enumerate(steps, 1):
        try:
            configs.append(config_from_dict(step))
        except ConfigError as e:
            raise ConfigError(f"recipe {path}, step {i}: {e}") from None
    if not isinstance(seq_len, int) or seq_len < 1:
        raise ConfigError(f"recipe {path}: seq_len must be a positive integer")
    return Recipe(name=str(name), steps=configs, description=str(description), seq_len=seq_len)


def run_recipe(
    ckpt,
    recipe: Recipe,
    train,
    dev,
    *,
    calibration_size: int | None = None,
    seed: int = 0,
    on_step: Callable[[dict], None] | None = None,
    teacher_logits: np.ndarray | None = None,
    select=None,
) -> list[dict]:
    """Compress ``ckpt`` in place, step by step; returns one record per step (the input first).

    The teacher for distillation is the model as it came in. Calibration examples for significance
    are a fixed random sample of the training data. A distillation step keeps the weights chosen on a
    split of ``train``, or on ``select`` where given (``ondevice.train.distill``), or its last ones
    (``select = "last"``); ``dev`` is only measured and recorded.
    ``teacher_logits``: the teacher's logits on ``train`` (``ondevice.train.teacher_logits`` at the
    distillation steps' ``max_length``), so that the steps need not compute them.
    """
    teacher = copy.deepcopy(ckpt)
    teacher.model.eval()
    rng = np.random.default_rng(seed)
    size = calibration_size or max((getattr(s, "calibration_size", 0) for s in recipe.steps), default=0) or 512
    pick = rng.choice(len(train), size=min(size, len(train)), replace=False)
    texts, targets = train.texts, train.multi_hot() if train.multi_label else train.targets
    calibration = Calibration.from_data(
        ckpt.tokenizer, [texts[i] for i in pick], [targets[i] for i in pick], recipe.seq_len
    )

    def record(step: int, kind: str, config: dict | None, report: dict | None, seconds: float) -> dict:
        r = {
            "step": step,
            "kind": kind,
            "config": config,
            **summary(ckpt.model, recipe.seq_len),
            "dev_accuracy": dev_accuracy(ckpt, dev, recipe.seq_len),
            "seconds": round(seconds, 1),
            "report": report,
        }
        if on_step:
            on_step(r)
        return r

    records = [record(0, "input", None, None, 0.0)]
    for i, cfg in enumerate(recipe.steps, 1):
        t0 = time.monotonic()
        ckpt.model.eval()
        report = compress_(
            ckpt.model,
            cfg,
            calibration=calibration,
            student=ckpt,
            teacher=teacher,
            train=train,
            dev=dev,
            teacher_logits=teacher_logits,
            select=select,
        )
        ckpt.model.eval()
        records.append(record(i, cfg.kind, config_to_dict(cfg), report, time.monotonic() - t0))
    ckpt.info = {
        **ckpt.info,
        "compression": {
            "recipe": recipe.to_dict(),
            "steps": [{k: v for k, v in r.items() if k != "report"} for r in records],
        },
    }
    return records
