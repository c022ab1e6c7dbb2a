"""The README and the pages under docs/: generated blocks match their generators, links resolve.

Every block between generator markers (``<!-- NAME:start ... -->`` ... ``<!-- NAME:end -->``) must be
exactly what its generator makes of the committed JSON, so a table is never edited by hand nor left
behind by a new measurement; and every relative link must lead to a file (and heading) that exists.
"""

import json
import re
import sys
from pathlib import Path

import pytest

from ondevice.profile import headline

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "profiles" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))
import seq_length  # noqa: E402
import skim  # noqa: E402

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!-- ([a-z0-9-]+):start\b")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _json(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


# Each generated block: the page it lives in, and what its generator makes of the committed JSON.
# The image links are relative to the page (docs/ is one level below the plots' profiles/results/).
BLOCKS = {
    "headline-summary": ("README.md", lambda: headline.summary_markdown(headline.load(RESULTS / "headline.json"))),
    "headline": (
        "docs/results.md",
        lambda: headline.markdown(headline.load(RESULTS / "headline.json"), "../profiles/results/headline.png"),
    ),
    "seq-length": (
        "docs/compression.md",
        lambda: seq_length.page_section(_json("seq-length-host.json"), "../profiles/results/seq-length-host.png"),
    ),
    "skim": ("docs/compression.md", lambda: skim.page_section(_json("skim-host.json"))),
}


def _prose(text: str) -> str:
    """The text outside fenced code blocks (a link or heading in a code example is not one)."""
    return "".join(part for i, part in enumerate(re.split(r"^```.*$", text, flags=re.M)) if i % 2 == 0)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+?)\s*$", _prose(page.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_readme_is_a_front_door_under_15_kb():
    assert (ROOT / "README.md").stat().st_size < 15 * 1024


def test_every_generated_block_has_a_generator_and_sits_in_its_page():
    found = {(m, str(p.relative_to(ROOT))) for p in PAGES for m in MARKER.findall(p.read_text())}
    assert found == {(name, page) for name, (page, _) in BLOCKS.items()}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_generated_block_is_what_its_generator_makes_of_the_committed_json(name):
    page, make = BLOCKS[name]
    assert make() in (ROOT / page).read_text()


def test_relative_links_lead_to_files_and_headings_that_exist():
    checked, broken = 0, []
    for page in PAGES:
        for link in LINK.findall(_prose(page.read_text())):
            if re.match(r"[a-z]+:", link):
                continue  # http(s), mailto: not checked offline
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            checked += 1
            if not target.exists() or (anchor and target.suffix == ".md" and anchor not in _anchors(target)):
                broken.append(f"{page.relative_to(ROOT)}: {link}")
    assert checked > 10, "the link pattern finds the pages' links"
    assert not broken, f"broken links: {broken}"


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in PAGES[1:] if f"](docs/{p.name}" not in readme]
    assert not missing, f"README.md does not link {missing}"


def test_ci_runs_exactly_the_readmes_test_command():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Two commands") :]
    test_command = re.findall(r"^```bash\n(.+?)\n```", section, flags=re.M)[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == test_command
