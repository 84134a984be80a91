"""The layers import downwards only: the background loop (worker.py) uses monitoring,
notifications and ingest, so none of them may import it back. Wake-ups go through
duplistatus/wakeup.py, which every layer may use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
LOWER_LAYERS = [
    "monitoring",
    "notifications",
    "anomaly",
    "ingest",
    "backups",
    "api",
    "web",
    "accounts",
]


def imported_modules(source: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_no_layer_below_the_worker_imports_it(layer):
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        if "tests" not in path.parts and "duplistatus.worker" in imported_modules(path)
    ]
    assert offenders == [], f"import duplistatus.wakeup instead of duplistatus.worker: {offenders}"


def test_wakeup_is_the_bottom_layer():
    # The bottom layer: it may use Django, never a module of ours that could import it back.
    ours = {m for m in imported_modules(PACKAGE / "wakeup.py") if m.startswith("duplistatus")}
    assert ours == set()
