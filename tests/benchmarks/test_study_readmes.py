"""The sequence-length and token-skimming tables of docs/compression.md are what the studies' renderers make of
the committed JSON."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import seq_length  # noqa: E402
import skim  # noqa: E402


def test_seq_length_section_is_generated_from_the_committed_json():
    data = json.loads((ROOT / "profiles" / "results" / "seq-length-host.json").read_text())
    assert {r["seq_len"] for r in data["rows"]} == {64, 128, 256, 512}
    assert {r["model"] for r in data["rows"]} == {"dense", "low-rank", "linformer-k64"}
    assert all(len(r["samples_ms"]) == data["settings"]["runs"] for r in data["rows"])
    section = seq_length.page_section(data, "../profiles/results/seq-length-host.png")
    assert section in (ROOT / "docs" / "compression.md").read_text()


def test_crossover_is_the_first_length_where_linformer_is_faster():
    rows = [{"model": m, "seq_len": n, "p50_ms": ms} for m, n, ms in [
        ("low-rank", 128, 10.0), ("lin", 128, 12.0), ("low-rank", 256, 30.0), ("lin", 256, 25.0),
        ("low-rank", 512, 90.0), ("lin", 512, 60.0)]]  # fmt: skip
    assert seq_length.crossover(rows, "low-rank", "lin") == 256
    assert seq_length.crossover(rows, "lin", "low-rank") == 128  # low-rank is faster at the start
    assert seq_length.crossover(rows[:2], "low-rank", "lin") is None


def test_skim_section_is_generated_from_the_committed_json():
    data = json.loads((ROOT / "profiles" / "results" / "skim-host.json").read_text())
    assert list(data["models"]) == ["dense", "attention-50", "attention-taper", "learned"]
    for m in data["models"].values():
        for regime in ("fixed-128", "buckets"):
            assert 0.5 < m["accuracy"][regime]["pte"] <= 1.0 and m["accuracy"][regime]["label_agreement"] >= 0.98
    assert skim.page_section(data) in (ROOT / "docs" / "compression.md").read_text()
