"""The repository stands alone: nothing in it points at a file it does not have.

Scanned: every Markdown, Python and config file. A Markdown link ``[text](path)``
and a back-quoted path (``lessons/_lesson.py``, ``numvae/io.py``) must name a
file or folder of the repository, relative to the file that mentions it or to
the repository root. The lecture decks are cited as sources by their file names
(``002_b4c24ccd2e75c8da.txt``); they are not repository files and are allowed.
Folders that runs create (``lessons/figures/``, ``runs/``) are allowed where git
ignores them.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FILES = sorted(p for pattern in ("*.md", "*.py", "*.cfg", "*.toml") for p in REPO.rglob(pattern)
               if not any(part.startswith(".") or part in ("build", "dist") or part.endswith(".egg-info")
                          for part in p.relative_to(REPO).parts)
               and p.name != "test_references.py") + [REPO / ".ci" / "run"]
DECK = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")          # a lecture deck, cited by name
LINK = re.compile(r"\]\(([^)\s]+)\)")                   # [text](target)
QUOTED = re.compile(r"`([^`\s]+)`")                     # `path`
PATHLIKE = re.compile(r"^[\w.-]+(/[\w.-]*)+$|^[\w.-]+\.(py|md|cfg|toml|txt|csv|json|gz)$")
OUTSIDE = re.compile(r"\.\./shared|DESIGN\.md|STYLE\.md")
IGNORED = [line.strip().rstrip("/") for line in (REPO / ".gitignore").read_text().splitlines()
           if line.strip() and not line.startswith("#")]


def _exists(target, here):
    target = target.split("#")[0].rstrip("/")
    if not target or DECK.match(Path(target).name):
        return True
    if any(Path(target).match(g) or target.startswith(g + "/") or Path(target).parts[-1:] == (g,)
           or target.endswith("/" + g) for g in IGNORED):
        return True                                       # made by a run, ignored by git
    if "/" not in target and target in NAMES:
        return True                                       # a bare file name the repository has
    return (here.parent / target).exists() or (REPO / target).exists()


TOP = {p.name for p in REPO.iterdir() if not p.name.startswith(".")} | {".ci"}
NAMES = {p.name for p in FILES}
OUTPUTS = {"comparison.md"}                               # written by `numvae compare`, not shipped


def _references(text, markdown=True):
    """Markdown links; back-quoted paths into the repository's folders (``numvae/x.py``,
    ``../tests/``); back-quoted bare ``.py``/``.md`` names. Placeholders (``<x>``,
    ``NAME``, globs) are not references."""
    for m in LINK.finditer(text) if markdown else ():
        if not re.match(r"^(https?:|mailto:|#)", m.group(1)):
            yield m.group(1)
    for m in QUOTED.finditer(text):
        token = m.group(1).strip("'\"")
        if re.search(r"[<>*{}$]|\b[A-Z]{2,}|://", token) or token in OUTPUTS:
            continue
        first = token.split("/")[0]
        if "/" in token and (first in TOP or first in ("..", ".")):
            yield token
        elif "/" not in token and re.search(r"\.(py|md)$", token):
            yield token


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REPO)) for p in FILES])
def test_every_reference_is_to_a_repository_file(path):
    text = path.read_text(encoding="utf-8")
    outside = sorted(set(OUTSIDE.findall(text)))
    assert not outside, f"{path.relative_to(REPO)} points outside the repository: {outside}"
    missing = sorted({t for t in _references(text, path.suffix == ".md") if not _exists(t, path)})
    assert not missing, f"{path.relative_to(REPO)} refers to files the repository does not have: {missing}"


def test_the_scan_finds_a_missing_file(tmp_path):
    """The rule itself: a link to a missing file is caught, a deck citation is not."""
    here = REPO / "lessons" / "README.md"
    refs = list(_references("see [x](missing_file.md), `numvae/nowhere.py`, and 002_b4c24ccd2e75c8da.txt"))
    assert [t for t in refs if not _exists(t, here)] == ["missing_file.md", "numvae/nowhere.py"]
    assert _exists("002_b4c24ccd2e75c8da.txt", here) and _exists("../numvae/io.py", here)
