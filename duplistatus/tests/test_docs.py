"""The project documents itself: every `docs/….md` the code or README cites exists, and nothing
points outside the repository (a clean clone has nothing beside it)."""

from __future__ import annotations

import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
CITED = re.compile(r"\bdocs/([\w.-]+\.md)")
OUTSIDE = re.compile(r"\.\./shared|\bshared/(?:docs|corpus)\b")


def sources() -> list[Path]:
    found = [REPOSITORY / "README.md", REPOSITORY / "conftest.py", REPOSITORY / ".ci" / "run"]
    for folder in ("duplistatus", "bench", "docs"):
        found += [
            path
            for path in (REPOSITORY / folder).rglob("*")
            if path.suffix in (".py", ".md", ".html", ".js", ".toml", ".css")
            and "node_modules" not in path.parts
        ]
    return found


def test_cited_docs_exist_and_nothing_points_outside_the_repository():
    cited = set()
    for path in sources():
        text = path.read_text(encoding="utf-8")
        cited.update(CITED.findall(text))
        assert not OUTSIDE.search(text), path
    assert {"compatibility.md", "report-format.md"} <= cited
    for name in cited:
        assert (REPOSITORY / "docs" / name).is_file(), name
