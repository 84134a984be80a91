"""The corpus the tests replay lives in the repository, whole and as its manifest describes it:
a clean clone runs the suite with nothing beside it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import CORPUS

REPOSITORY = Path(__file__).resolve().parents[3]


def test_corpus_is_inside_the_repository():
    assert CORPUS.is_relative_to(REPOSITORY)
    assert (CORPUS / "SOURCES.md").is_file()


def test_manifest_lists_every_file_with_its_checksum():
    manifest = json.loads((CORPUS / "manifest.json").read_text())["files"]
    listed = {entry["file"]: entry["sha256"] for entry in manifest}
    on_disk = {
        path.relative_to(CORPUS).as_posix()
        for path in CORPUS.rglob("*")
        if path.is_file() and path.name not in ("manifest.json", "SOURCES.md")
    }
    assert on_disk == set(listed)
    for name, sha256 in listed.items():
        assert hashlib.sha256((CORPUS / name).read_bytes()).hexdigest() == sha256, name
