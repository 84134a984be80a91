"""Languages: which one a deployment defaults to (DUPLISTATUS_LANGUAGE), and the compiled
message catalogues.

Catalogues are kept as text (`locale/<lang>/LC_MESSAGES/django.po`, in the repository) and
compiled to `.mo` (what gettext reads) on start-up, with babel: no GNU gettext on the server
or in the image. A start-up on an unchanged install costs one stat per catalogue.

This module is imported by settings, so it must not import Django settings itself.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# The project's one catalogue (settings.LOCALE_PATHS). Django's own strings (form errors,
# password rules) come translated from Django's catalogues.
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

# Common names for a language that differ from ours by more than case and `_`/`-`.
_ALIASES = {"zh-cn": "zh-hans", "zh-sg": "zh-hans", "zh": "zh-hans", "pt": "pt-br"}


def normalize_language(value: str, languages: Sequence[tuple[str, str]]) -> str | None:
    """Our code for a language as people write it (`de`, `DE`, `de-AT`, `pt-BR`, `pt_BR`,
    `zh-Hans`, `zh_CN`), or None when it is none of ours. A region or script we have no
    catalogue for falls back to the plain language only when we have the plain language
    (`de-AT` is `de`, but `pt-PT` is not Brazilian Portuguese and `zh-Hant` is not
    Simplified Chinese)."""
    codes = [code for code, _name in languages]
    wanted = value.strip().replace("_", "-").lower()
    wanted = _ALIASES.get(wanted, wanted)
    if wanted in codes:
        return wanted
    base = wanted.split("-", 1)[0]
    return base if base in codes else None


def language_from_env(
    value: str | None, languages: Sequence[tuple[str, str]], default: str = "en"
) -> tuple[str, str | None]:
    """LANGUAGE_CODE from DUPLISTATUS_LANGUAGE: (code, None), or (default, the problem to
    tell the operator) when the value names no language we have."""
    if not value or not value.strip():
        return default, None
    code = normalize_language(value, languages)
    if code is None:
        known = ", ".join(code for code, _name in languages)
        return default, (
            f"DUPLISTATUS_LANGUAGE={value!r} is not a language duplistatus has "
            f"(one of: {known}); using {default!r}."
        )
    return code, None


def compile_catalogues(locale_dirs: Iterable[Path] = (LOCALE_DIR,)) -> list[Path]:
    """Compile every `<dir>/<lang>/LC_MESSAGES/*.po` whose `.mo` is missing or older than
    it. Fuzzy entries (a guess that nobody checked) are left out, as msgfmt does. Returns
    the `.mo` files written. A catalogue that cannot be read or written is logged and
    skipped: a page in English beats a service that does not start."""
    written = []
    for locale_dir in locale_dirs:
        for po in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
            mo = po.with_suffix(".mo")
            try:
                if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                    continue
                _compile(po, mo)
            except (OSError, ValueError) as exc:
                log.warning("Could not compile the catalogue %s: %s", po, exc)
                continue
            written.append(mo)
    return written


def _compile(po: Path, mo: Path) -> None:
    # Imported here: babel is only needed when a catalogue changed.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import PoFileError, read_po

    with po.open("rb") as source:
        try:
            catalog = read_po(source, abort_invalid=True)
        except PoFileError as exc:
            raise ValueError(str(exc)) from exc
    # Written beside and renamed over: several workers of `serve` may start at once, and
    # none must read half a file.
    fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".", suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, mo)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
