"""Fault table: the TOML files a user writes, compression recipes (`compress --recipe FILE`) and
target descriptions (`./profiles/targets/*.toml`), broken in the ways hand-written files break: not
TOML, not UTF-8, a wrong type, an unknown field or step, a value out of range. Each is refused in one
line naming the file, before any model is loaded or anything measured.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import SST2_SAMPLE, Case, check


def recipe(text: str | bytes):
    """``compress --recipe r.toml`` with ``text`` as the recipe."""

    def make(ws: Path) -> list[str]:
        data = text.encode() if isinstance(text, str) else text
        (ws / "r.toml").write_bytes(data)
        return ["compress", "--recipe", "r.toml", "--data", str(SST2_SAMPLE), "--out", "out"]

    return make


def target(text: str | bytes, name: str = "mine"):
    """``profile --target mine`` with ``text`` as ./profiles/targets/mine.toml."""

    def make(ws: Path) -> list[str]:
        data = text.encode() if isinstance(text, str) else text
        (ws / "profiles" / "targets").mkdir(parents=True, exist_ok=True)
        (ws / "profiles" / "targets" / f"{name}.toml").write_bytes(data)
        return ["profile", str(SST2_SAMPLE), "--target", name, "--out", "results"]

    return make


STEP = '[[step]]\nkind = "prune"\n'
CASES = [
    Case("settings", "recipe not TOML", recipe('name = "x"\n[[steps\n'), "not valid TOML"),
    Case("settings", "recipe not UTF-8", recipe(b"name = '\xff\xfe'\n"), "r.toml"),
    Case("settings", "recipe empty", recipe(""), "r.toml"),
    Case("settings", "recipe with no steps", recipe('name = "x"\n'), "r.toml"),
    Case("settings", "recipe step of an unknown kind", recipe('[[step]]\nkind = "quantum"\n'), "quantum"),
    Case("settings", "recipe step with an unknown field", recipe(STEP + "hedas = 0.5\n"), "hedas"),
    Case("settings", "vocab step with an unknown field", recipe('[[step]]\nkind = "vocab"\nextras = 9\n'), "extras"),
    Case("settings", "vocab step keeping -1 extra", recipe('[[step]]\nkind = "vocab"\nextra = -1\n'), "extra"),
    Case("settings", "recipe step with a string share", recipe(STEP + 'heads = "lots"\n'), "heads"),
    Case("settings", "recipe step sharing more than all", recipe(STEP + "heads = 1.5\n"), "heads"),
    Case(
        "settings",
        "recipe distill step selecting 'best'",
        recipe('[[step]]\nkind = "distill"\nselect = "best"\n'),
        "select",
    ),
    Case("settings", "recipe step a table, not a list", recipe('[step]\nkind = "prune"\n'), "r.toml"),
    Case("settings", "recipe with [[steps]] for [[step]]", recipe('[[steps]]\nkind = "prune"\n'), "[[step]]"),
    Case(
        "settings",
        "recipe missing",
        ["compress", "--recipe", "nope.toml", "--data", str(SST2_SAMPLE), "--out", "o"],
        "nope.toml",
    ),  # fmt: skip
    Case("settings", "target not TOML", target("kind = [\n"), "not valid TOML"),
    Case("settings", "target not UTF-8", target(b"kind = '\xff'\n"), "mine.toml"),
    Case("settings", "target threads a word", target('kind = "host"\nthreads = "two"\n'), "threads"),
    Case("settings", "target threads zero", target('kind = "host"\nthreads = 0\n'), "threads"),
    Case("settings", "target of an unknown kind", target('kind = "toaster"\n'), "toaster"),
    Case("settings", "target cpus not a list", target('kind = "host"\ncpus = "all"\n'), "cpus"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_settings_fault(case, workspace):
    check(case, workspace)
