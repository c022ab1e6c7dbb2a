"""Profiling targets as data: one TOML file per target in ``profiles/targets/``.

A target says where and how to run: its kind (``host``, ``qemu`` for the emulated ARM64 CPU,
``android`` for any adb device), the thread count, the cores to pin with ``taskset``, the ABI, and
which runners to use per artifact format. A user adds a target by adding a file, in the project's
``profiles/targets/``, in ``./profiles/targets/`` of the current directory, or in
``$XDG_CONFIG_HOME/ondevice/targets/`` (a later directory overrides an earlier one by name).

``--target NAME:SERIAL`` picks one adb device for an android target.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from ondevice.converters.formats import FORMATS
from ondevice.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KINDS = ("host", "qemu", "android")
RUNNERS = {
    "host": ("native", "python"),
    "qemu": ("native", "python"),
    "android": ("native", "benchmark_model", "app"),
}
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "profiles" / "targets"


@dataclass(frozen=True)
class Target:
    name: str
    kind: str
    description: str = ""
    threads: int = 2
    cpus: tuple[int, ...] = ()  # cores to pin with taskset; empty: no pinning
    abi: str | None = None  # arm64-v8a, x86_64 ...; None: whatever the host is
    warmup: int = 5  # defaults for --warmup / --runs
    runs: int = 30
    runners: dict[str, tuple[str, ...]] = field(default_factory=dict)  # format -> runner names, in order
    serial: str | None = None  # android: the adb serial (from NAME:SERIAL)
    source: str | None = None  # the TOML file it came from

    def __post_init__(self) -> None:
        where = f"target {self.name!r}" + (f" ({self.source})" if self.source else "")
        if self.kind not in KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"{where}: threads must be a positive integer")
        if any(not isinstance(c, int) or c < 0 for c in self.cpus):
            raise ConfigError(f"{where}: cpus must be a list of core numbers, e.g. [4, 5]")
        if not isinstance(self.warmup, int) or self.warmup < 0 or not isinstance(self.runs, int) or self.runs < 1:
            raise ConfigError(f"{where}: warmup must be >= 0 and runs >= 1")
        for fmt, names in self.runners.items():
            if fmt not in FORMATS:
                raise ConfigError(f"{where}: runners.{fmt}: unknown format; use {', '.join(FORMATS)}")
            bad = [n for n in names if n not in RUNNERS[self.kind]]
            if bad:
                raise ConfigError(
                    f"{where}: runners.{fmt}: {', '.join(bad)} cannot run on a {self.kind} target "
                    f"(use {', '.join(RUNNERS[self.kind])})"
                )

    @property
    def emulated(self) -> bool:
        return self.kind == "qemu"

    @property
    def cpu_mask(self) -> str | None:
        """The cores as a hexadecimal mask, as ``taskset`` takes it (cores 4,5 -> "30")."""
        return format(sum(1 << c for c in self.cpus), "x") if self.cpus else None

    def runners_for(self, fmt: str) -> tuple[str, ...]:
        return self.runners.get(fmt, ())

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "abi": self.abi,
            "serial": self.serial,
            "source": self.source,
        }


def search_dirs() -> list[Path]:
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    dirs = [BUILTIN_DIR, Path.cwd() / "profiles" / "targets", config / "ondevice" / "targets"]
    unique = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def parse(path: Path) -> Target:
    """One target file."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    known = {"name", "kind", "description", "threads", "cpus", "abi", "warmup", "runs", "runners"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if "kind" not in data:
        raise ConfigError(f'{path}: needs kind = "host", "qemu" or "android"')
    runners = data.get("runners", {})
    if not isinstance(runners, dict) or not all(isinstance(v, list) for v in runners.values()):
        raise ConfigError(f"{path}: [runners] maps a format to a list of runner names")
    return Target(
        name=data.get("name", Path(path).stem),
        kind=data["kind"],
        description=data.get("description", ""),
        threads=data.get("threads", 2),
        cpus=tuple(data.get("cpus", ())),
        abi=data.get("abi"),
        warmup=data.get("warmup", 5),
        runs=data.get("runs", 30),
        runners={fmt: tuple(names) for fmt, names in runners.items()},
        source=str(path),
    )


def available() -> dict[str, Target]:
    """Every target on the search path, by name."""
    found: dict[str, Target] = {}
    for d in search_dirs():
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                t = parse(f)
                found[t.name] = t
    return found


def resolve(spec: str) -> Target:
    """A target by ``NAME`` or ``NAME:SERIAL`` (android kinds only)."""
    name, _, serial = spec.partition(":")
    targets = available()
    if name not in targets:
        raise ConfigError(f"unknown target {name!r}; known: {', '.join(sorted(targets)) or 'none'}")
    target = targets[name]
    if serial:
        if target.kind != "android":
            raise ConfigError(f"target {name!r} is not an android target; a :SERIAL suffix applies to adb devices")
        target = replace(target, serial=serial)
    return target
