"""`ondevice report` on the headline benchmark's result: the results page and the README's summary are
generated from the JSON."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.profile import headline

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "profiles" / "results" / "headline.json"
PLOT = ROOT / "profiles" / "results" / "headline.png"


@pytest.fixture(scope="module")
def result() -> dict:
    return headline.load(RESULT)


def test_committed_results_page_is_what_report_makes_of_the_committed_json(result):
    page = (ROOT / "docs" / "results.md").read_text()
    assert headline.markdown(result, "../profiles/results/headline.png") in page


def test_committed_readme_summary_is_what_report_makes_of_the_committed_json(result):
    readme = (ROOT / "README.md").read_text()
    assert headline.summary_markdown(result) in readme


def test_result_has_every_tool_regime_and_field(result):
    assert {r["tool"] for r in result["runs"]} == set(headline.TOOLS)
    assert {r["regime"] for r in result["runs"]} == {"fixed-128", "fixed-64", "sentences"}
    for r in result["runs"]:
        assert r["p50_ms"] <= r["p90_ms"]
        assert len(r["samples_ms"]) >= 50
        assert 0.5 < r["dev_accuracy"] <= 1.0
        assert r["size_bytes"] > 0 and r["peak_rss_bytes"] > 0
    assert {"machine", "versions", "goals"} <= set(result)


def test_result_has_the_emulated_arm64_table_of_the_same_artifacts(result):
    em = result["emulated"]
    assert em["target"] == "linux-arm64-qemu"
    host = {r["name"] for r in result["runs"] if r["tool"] != "pytorch-eager"}
    assert {r["name"] for r in em["runs"]} == host
    timed = [r for r in em["runs"] if "p50_ms" in r]
    assert any(r["name"] == em["reference"] for r in timed)
    for r in timed:
        assert r["p50_ms"] > 0 and r["samples_ms"]
        assert r["logits_match_host"] is not None
    assert all(r["logits_match_host"] for r in timed if "fp32" in r["name"])  # fp32 must compute the host's logits


def test_report_writes_page_section_and_plot(tmp_path, result):
    page = tmp_path / "results.md"
    page.write_text(
        "# Title\n\nintro\n\n## Benchmarks\n\n" + headline.START + "\nSTALE-TEXT\n" + headline.END + "\n\n## After\n"
    )
    plot = tmp_path / "plots" / "headline.png"
    args = ["report", str(RESULT), "--page", str(page), "--plot", str(plot)]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    text = page.read_text()
    assert "STALE-TEXT" not in text and text.startswith("# Title") and text.rstrip().endswith("## After")
    assert "](plots/headline.png)" in text
    for r in result["runs"]:
        assert f"| {r['name']} | {r['tool']} |" in text
    assert text.count(headline.END) == 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = CliRunner().invoke(cli, args)  # regenerating changes nothing
    assert again.exit_code == 0 and page.read_text() == text


def test_report_writes_the_readme_summary_beside_the_page(tmp_path, result):
    docs = tmp_path / "docs"
    docs.mkdir()
    readme, page = tmp_path / "README.md", docs / "results.md"
    readme.write_text(
        "# Title\n\n" + headline.SUMMARY_START + "\nSTALE-TEXT\n" + headline.SUMMARY_END + "\n\n## After\n"
    )
    plot = tmp_path / "plots" / "headline.png"
    args = ["report", str(RESULT), "--page", str(page), "--readme", str(readme), "--plot", str(plot)]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    text = readme.read_text()
    assert "STALE-TEXT" not in text and text.startswith("# Title") and text.rstrip().endswith("## After")
    assert headline.summary_markdown(result) in text and headline.START.split(" (")[0] not in text
    assert "| pytorch eager fp32 |" in text and f"| {result['goals']['sentences']['best']} |" in text
    assert "](../plots/headline.png)" in page.read_text()  # relative to the page, not to the README
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and readme.read_text() == text


def test_peer_winning_a_column_is_said(tmp_path, result):
    data = json.loads(RESULT.read_text())
    fixed = [r for r in data["runs"] if r["regime"] == "fixed-128"]
    peer = next(r for r in fixed if r["tool"] == "onnxruntime")
    peer["p50_ms"] = min(r["p50_ms"] for r in fixed) / 2
    text = headline.markdown(data)
    section = text[text.index("#### fixed-128") : text.index("#### fixed-64")]
    assert f"A peer wins p50: {peer['name']}" in section


def test_the_searchs_stricter_goals_are_marked_beside_the_headline_goals(tmp_path, result):
    data = json.loads(RESULT.read_text())
    for goal in data["goals"].values():  # a result from before the search judged them
        for key in headline.SEARCH_GOALS_MET:
            goal["met"].pop(key, None)
    path = tmp_path / "headline.json"
    path.write_text(json.dumps(data))
    older = headline.markdown(headline.load(path))
    assert "6x:" not in older and "stricter goals" not in older
    data["goals"]["fixed-128"]["met"].update(
        {
            "4x_faster_than_eager": True,
            "6x_faster_than_eager": False,
            "10x_smaller_than_fp32": False,
            "16x_smaller_than_fp32": True,
        }  # fmt: skip
    )
    path = tmp_path / "headline.json"
    path.write_text(json.dumps(data))
    goals = headline.markdown(headline.load(path)).split("#### Where ondevice stands")[1].split("####")[0]
    row = next(line for line in goals.splitlines() if line.startswith("| fixed-128 "))
    assert "(4x: met; 6x: NOT met)" in row and "(10x: NOT met; 16x: met)" in row
    assert "stricter goals" in goals


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["runs"][0].pop("p50_ms"), "lacks p50_ms"),
        (lambda d: d["runs"][0].update(tool="mystery"), "unknown tool"),
        (lambda d: d.update(runs=[r for r in d["runs"] if r["tool"] != "pytorch-eager"]), "no pytorch-eager run"),
        (lambda d: d.update(runs=[]), "has no runs"),
    ],
)
def test_bad_headline_result_is_one_line_error(tmp_path, mutate, message):
    data = json.loads(RESULT.read_text())
    mutate(data)
    bad = tmp_path / "headline.json"
    bad.write_text(json.dumps(data))
    readme, page = tmp_path / "README.md", tmp_path / "results.md"
    readme.write_text("keep\n")
    page.write_text("keep\n")
    out = CliRunner().invoke(cli, ["report", str(bad), "--readme", str(readme), "--page", str(page)])
    assert out.exit_code != 0
    assert message in out.output and "Traceback" not in out.output
    assert readme.read_text() == "keep\n" and page.read_text() == "keep\n"


@pytest.mark.parametrize("option", ["--readme", "--page"])
def test_readme_needs_a_headline_result(tmp_path, option):
    out = CliRunner().invoke(
        cli, ["report", str(ROOT / "profiles" / "results" / "host"), option, str(tmp_path / "R.md")]
    )
    assert out.exit_code != 0 and f"{option} takes a headline" in out.output
    assert not (tmp_path / "R.md").exists()


def test_emulated_table_shows_ratios_and_the_host_check_but_no_times():
    em = {
        "target": "linux-arm64-qemu",
        "reference": "onnxruntime fp32",
        "regime": "fixed-128",
        "note": "emulated",
        "runs": [
            {"name": "onnxruntime fp32", "p50_ms": 4000.0, "logits_match_host": True, "max_abs_diff_vs_host": 2e-6},
            {
                "name": "ondevice base int8 .pte",
                "p50_ms": 1000.0,
                "logits_match_host": False,
                "max_abs_diff_vs_host": 0.31,
                "same_label_as_host": True,
            },
            {"name": "litert stock int8", "error": "Error: the runner crashed; record: /tmp/x.json"},
        ],
    }
    text = "\n".join(headline.emulated_markdown(em))
    assert "| ondevice base int8 .pte | 4.00x | differ (max 3.1e-01), same label |" in text
    assert "| onnxruntime fp32 | 1.00x | match (max 2.0e-06) |" in text
    assert "| litert stock int8 | not timed: the runner crashed | |" in text
    assert "4000" not in text and "1000" not in text and " ms" not in text
    em["runs"] = em["runs"][1:]
    assert "did not run under emulation, so there are no ratios" in "\n".join(headline.emulated_markdown(em))
