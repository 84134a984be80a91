"""One spelling per user name: NFKC (full-width `ｖ` is `v`, ligatures come apart) and case
folded (`Victim` is `victim`). Names are stored so, and what is typed at sign-in, in the
command line and for the lockout is normalised the same way, so look-alike spellings of a
name are that name: they share its password and its failed sign-ins, never fresh guesses."""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 150  # Django's User.username


def normalize(name: str) -> str:
    # NFKC once more after folding: case folding can undo the normal form.
    folded = unicodedata.normalize("NFKC", name.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)[:MAX_LENGTH]


def normalized_renames(names: dict[int, str]) -> dict[int, str]:
    """The renames that make every stored name (by user id) normal without two users ending
    up with one name: the user whose name already is the normal one keeps it (else the oldest
    user gets it); the others become `<name>-<id>`."""
    groups: dict[str, list[int]] = {}
    for pk in sorted(names):
        groups.setdefault(normalize(names[pk]), []).append(pk)
    taken = set(groups)
    renames: dict[int, str] = {}
    for normal, pks in groups.items():
        keeper = next((pk for pk in pks if names[pk] == normal), pks[0])
        for pk in pks:
            new = normal if pk == keeper else f"{normal[: MAX_LENGTH - 12]}-{pk}"
            while pk != keeper and new in taken:
                new += "x"
            taken.add(new)
            if new != names[pk]:
                renames[pk] = new
    return renames
