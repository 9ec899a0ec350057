r"""The course as a static site: every lesson executed as a notebook, typeset, beside the API reference.

``numvae course build --out site/`` (or :func:`build`) runs each lesson of
``lessons/`` as a Jupyter notebook (jupytext reads the ``# %%`` script,
nbclient executes it, as ``tests/test_notebooks.py`` does) and writes a folder
that opens from disk with no network:

* ``index.html`` -- what the course is, the lessons in order with a one-line
  summary and the lecture decks they follow;
* ``NN_topic.html`` -- one page per lesson: its text with the mathematics
  typeset, its code (names imported from numvae link to the reference), every
  printed line and figure in place, the exercises with their worked solutions
  folded in ``<details>``, previous/next links;
* ``notebooks/`` -- the executed notebooks and their Python sources (with
  ``_lesson.py``, so the folder runs in Jupyter as it is);
* ``api/`` -- the API reference, built by pdoc with a front page;
* ``_static/`` -- the style sheet and MathJax 2.7, copied from the PyPI package
  ``jupyter-server-mathjax`` (a real MathJax distribution), never a CDN.

Nothing here is imported by the library itself; it needs the ``course`` extra
(``pip install -e '.[course]'``). The wheel ships no lessons, so a build
outside a checkout needs ``lessons=`` (``--lessons DIR``).
"""

import ast
import contextlib
import hashlib
import html
import importlib
import importlib.metadata
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numvae

# The modules the front page of the reference lists first, in reading order; the others are
# grouped under "internals" (input checks, files, progress lines, the speed wing, ...).
PUBLIC_MODULES = ("vae", "ppca", "train", "data", "distributions", "likelihoods", "posteriors",
                  "objectives", "nn", "optim", "gradcheck", "importance", "inference", "compare", "estimator",
                  "autoencoder", "plots", "history")
# Where a reader starts: (dotted name, why).
START_HERE = (("numvae.vae.VAE", "the model: encoder, reparameterization, decoder, ELBO and its gradient"),
              ("numvae.ppca.PPCA", "the exact baseline every VAE claim is measured against"),
              ("numvae.train.fit", "minibatch training with warm-up, free bits and checkpoints"),
              ("numvae.data.digits.load_digits", "the embedded 8x8 digits, no download needed"),
              ("numvae.gradcheck.gradcheck", "finite differences against any hand-written gradient"))
REQUIRES = ("jupytext", "nbclient", "ipykernel", "markdown_it", "mdit_py_plugins", "pygments", "pdoc")
MATHJAX_DIST = "jupyter-server-mathjax"
CELL_TIMEOUT = {"fast": 600, "full": 4 * 3600}   # seconds per cell: only stops a hang
MARKER = ".numvae-course"                        # names a folder this module built (and may replace)
LESSON = re.compile(r"[0-9][0-9]_\w+\.py")
DECK_FILE = re.compile(r"\b(\d{3})(?:_[0-9a-f]{16}\.txt)?\b")
# "## Exercise 2 — title", "## Lesson 4, exercise 1 — title", "## Lesson 6, exercises 1 and 2 — title"
EXERCISE_HEADING = re.compile(r"^(#{2,3})\s+(?:Lesson\s+(\d+),\s+)?[Ee]xercises?\s+(\d+(?:(?:\s*,\s*|\s+and\s+)\d+)*)"
                              r"\s*[—–:-]?\s*(.*)$", re.M)


def find_lessons(lessons=None):
    """The lessons folder: `lessons` if given, else ``lessons/`` beside the package in a checkout.

    Parameters
    ----------
    lessons : str or Path, optional
        A folder holding ``NN_topic.py`` lessons.

    Returns
    -------
    Path

    Raises
    ------
    FileNotFoundError
        When there is no such folder or it holds no lesson; the message says
        that the wheel ships none and how to point at a checkout's.
    """
    folder = Path(lessons) if lessons is not None else Path(numvae.__file__).resolve().parent.parent / "lessons"
    where = f"lessons {str(folder)!r}" if lessons is not None else (
        f"no --lessons given, and the checkout's folder {str(folder)!r}")
    if not folder.is_dir() or not any(LESSON.fullmatch(p.name) for p in folder.iterdir()):
        raise FileNotFoundError(f"{where} holds no lesson (NN_topic.py): the installed package ships no "
                                "lessons; pass --lessons DIR, the lessons/ folder of a numvae checkout")
    return folder


def check_requirements():
    """Import what a build needs, or raise ImportError naming the missing packages and the extra."""
    missing = [name for name in REQUIRES if importlib.util.find_spec(name) is None]
    if not _mathjax_root():
        missing.append(MATHJAX_DIST)
    if missing:
        raise ImportError(f"building the course needs {', '.join(missing)}: pip install -e '.[course]'")


def _mathjax_root():
    """The folder of MathJax.js inside the installed jupyter-server-mathjax, or None (without importing it)."""
    try:
        files = importlib.metadata.files(MATHJAX_DIST) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "MathJax.js" and f.parent.name == "static":
            return Path(f.locate()).parent
    return None


# -------------------------------------------------------------------- executing the notebooks

def _source_hash(path, helper):
    """sha256 of a lesson and the shared helper: the key under which its executed notebook is reused."""
    h = hashlib.sha256(path.read_bytes())
    if helper.is_file():
        h.update(helper.read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def _kernel_environment(mode, out):
    """os.environ as the kernel must inherit it (mode, figures folder, this numvae first), restored after."""
    saved = dict(os.environ)
    root = str(Path(numvae.__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, saved.get("PYTHONPATH")]))
    os.environ["NUMVAE_OUT"] = str(out)
    if mode == "fast":
        os.environ["NUMVAE_FAST"] = "1"
    else:
        os.environ.pop("NUMVAE_FAST", None)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.pop("MPLBACKEND", None)   # the kernel keeps its inline backend, as for a student
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path, mode, reuse=None, log=print):
    """The notebook of the lesson script `path`, executed in `mode` ("fast" or "full").

    Parameters
    ----------
    path : Path
        A jupytext percent script in the lessons folder (run from that folder).
    mode : {"fast", "full"}
    reuse : Path, optional
        A folder of notebooks a previous build wrote (its ``notebooks/``): one
        whose recorded source hash and mode match is returned as it is.
    log : callable

    Returns
    -------
    nbformat.NotebookNode
        With ``metadata.numvae_course`` = {source_sha256, mode, out}.
    """
    import jupytext
    import nbclient
    import nbformat

    key = _source_hash(path, path.parent / "_lesson.py")
    if reuse is not None and (Path(reuse) / f"{path.stem}.ipynb").is_file():
        nb = nbformat.read(Path(reuse) / f"{path.stem}.ipynb", as_version=4)
        meta = nb.metadata.get("numvae_course", {})
        if meta.get("source_sha256") == key and meta.get("mode") == mode:
            log(f"  {path.name}: reused the executed notebook in {reuse}")
            return nb
    nb = jupytext.read(path)
    with tempfile.TemporaryDirectory(prefix="numvae-course-figures-") as out, _kernel_environment(mode, out):
        log(f"  {path.name}: executing ({mode} mode)")
        client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT[mode], kernel_name="python3",
                                         resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as exc:
            raise RuntimeError(f"lesson {path.name} failed as a notebook: "
                               f"{str(exc).strip().splitlines()[-1]}") from None
    nb.metadata["numvae_course"] = {"source_sha256": key, "mode": mode, "out": out}
    return nb


# -------------------------------------------------------------------- reading the lessons

def _cell_text(cell):
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _paragraph_after(text, label):
    """The paragraph that starts with ``**label`` (the lessons' "**What this lesson derives.**")."""
    m = re.search(r"^\*\*" + label + r"[^*]*\*\*\s*(.*?)(?:\n\s*\n|\Z)", text, re.S | re.M)
    return m.group(1).strip() if m else ""


def read_decks(readme):
    """{number: (course and title, file name)} from the decks table of ``lessons/README.md``."""
    decks = {}
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 3 and re.fullmatch(r"\d{3}", cells[0]) and cells[2].endswith(".txt"):
                decks[cells[0]] = (cells[1], cells[2])
    return decks


def read_summaries(readme):
    """{lesson file name: what it derives} from the lessons table of ``lessons/README.md``."""
    found = {}
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8").splitlines():
            m = re.match(r"\|\s*\[([0-9][0-9]_\w+\.py)\]\([^)]*\)\s*\|((?:[^|\\]|\\.)*)\|", line)
            if m:
                found[m.group(1)] = m.group(2).strip().replace("\\|", "|")
    return found


def lectures_followed(text, decks):
    """[(deck number, [slide titles])] of the "**Lectures followed.**" list, in the lesson's order.

    A bullet names a deck by its file name (or its number) and its slides in
    italics before the first colon outside them; the deck's own title, where
    the bullet repeats it, is not a slide.
    """
    m = re.search(r"^\*\*Lectures followed\.?\*\*(.*?)(?:\n\s*\n|\Z)", text, re.S | re.M)
    cited = []
    for bullet in re.split(r"\n-\s+", "\n" + m.group(1)) if m else []:
        bullet = " ".join(bullet.split())
        number = next((n for n in DECK_FILE.findall(bullet) if n in decks), None)
        if number is None:
            continue
        deck_title = re.search(r"\*([^*]+)\*", decks[number][0])
        slides = []
        for it in re.finditer(r"(?<!\*)\*([^*]+)\*(?!\*)|:", bullet):   # italics up to the first bare colon
            if it.group(0) == ":":
                break
            if not (deck_title and it.group(1).strip() == deck_title.group(1).strip()):
                slides.append(it.group(1).strip())
        for entry in cited:
            if entry[0] == number:
                entry[1].extend(s for s in slides if s not in entry[1])
                break
        else:
            cited.append((number, slides))
    return cited


def split_solutions(nb, path, lesson_numbers):
    """The worked solutions of `nb` by exercise: ({lesson: [(label, title, cells)]}, preamble cells).

    A section starts at a markdown heading ``## Exercise N — title``,
    ``## Lesson L, exercise N — title`` or ``## Lesson L, exercises N and M —
    title`` and holds every cell up to the next; a ``###`` heading of an
    exercise the open section already covers stays inside it. Without "Lesson
    L" the exercise belongs to the lesson of the previous section, or to the
    first lesson the file's name covers. Each lesson's sections are sorted by
    their first exercise.
    """
    numbers = [int(n) for n in re.findall(r"\d+", path.stem)]
    covered = list(range(numbers[0], numbers[-1] + 1)) if numbers else list(lesson_numbers)
    current = covered[0] if covered else None
    sections, preamble, open_section = {}, [], None
    for cell in nb.cells:
        m = EXERCISE_HEADING.search(_cell_text(cell)) if cell.cell_type == "markdown" else None
        exercises = [int(n) for n in re.findall(r"\d+", m.group(3))] if m else []
        if m and not (open_section and len(m.group(1)) == 3 and set(exercises) <= set(open_section[0])):
            current = int(m.group(2)) if m.group(2) else current
            open_section = [exercises, m.group(4).strip(), [cell]]
            sections.setdefault(current, []).append(open_section)
        elif open_section is None:
            preamble.append(cell)
        else:
            open_section[2].append(cell)
    return {n: sorted(((e, t, c) for e, t, c in items), key=lambda s: s[0]) for n, items in sections.items()}, preamble


# -------------------------------------------------------------------- links to the reference

def _api_target(obj, fallback_module, name):
    """(module name, anchor) of the reference page that documents `obj`, found as `name` in `fallback_module`."""
    if inspect.ismodule(obj):
        return obj.__name__, ""
    home = getattr(obj, "__module__", None) or fallback_module
    if not (home.startswith("numvae") and home in sys.modules and not any(
            part.startswith("_") for part in home.split("."))):
        home = fallback_module
    return home, getattr(obj, "__qualname__", name) if (inspect.isclass(obj) or inspect.isfunction(obj)) else name


def api_href(module, anchor, prefix="api/"):
    """The site-relative address of `module`'s reference page (and `anchor` on it)."""
    return prefix + module.replace(".", "/") + ".html" + (f"#{anchor}" if anchor else "")


def imported_names(sources):
    """{local name: (module, anchor)} of everything the code cells import from numvae (public names only)."""
    names = {}
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("numvae"):
                try:
                    module = importlib.import_module(node.module)
                except ImportError:
                    continue
                for alias in node.names:
                    obj = getattr(module, alias.name, None)
                    if obj is not None and not alias.name.startswith("_"):
                        names[alias.asname or alias.name] = (_api_target(obj, node.module, alias.name), obj)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("numvae") and alias.asname:
                        with contextlib.suppress(ImportError):
                            module = importlib.import_module(alias.name)
                            names[alias.asname] = ((alias.name, ""), module)
    return names


def resolve(dotted, names):
    """(module, anchor) of a dotted name as a lesson writes it (``PPCA.fit``, ``numvae.vae.VAE``), or None."""
    parts = dotted.split(".")
    if any(not p.isidentifier() or p.startswith("_") for p in parts):
        return None
    if parts[0] == "numvae":
        obj, module, rest = numvae, "numvae", []
        for part in parts[1:]:
            child = getattr(obj, part, None)
            if child is None and inspect.ismodule(obj) and not rest:
                with contextlib.suppress(ImportError):
                    child = importlib.import_module(f"{module}.{part}")
            if child is None:
                return None
            if inspect.ismodule(child) and not rest:
                module = child.__name__
            else:
                rest.append(part)
            obj = child
        if not rest:
            return module, ""
        home, anchor = _api_target(getattr(sys.modules[module], rest[0]), module, rest[0])
        return home, ".".join([anchor, *rest[1:]])
    if parts[0] not in names:
        return None
    (module, anchor), obj = names[parts[0]]
    for part in parts[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
        if inspect.ismodule(obj):
            module, anchor = obj.__name__, ""
        else:
            anchor = f"{anchor}.{part}" if anchor else part
    return module, anchor


# -------------------------------------------------------------------- HTML of one cell

def _markdown():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    def math(content, options):   # MathJax typesets \( \) and \[ \]; the TeX is left as the lesson wrote it
        if options.get("display_mode"):
            return f'<div class="math display">\\[{html.escape(content)}\\]</div>'
        return f'<span class="math">\\({html.escape(content)}\\)</span>'

    return MarkdownIt("commonmark", {"html": False}).enable("table").use(dollarmath_plugin, renderer=math,
                                                                          double_inline=True)


def _link_inline_code(rendered, names, prefix):
    """Wrap ``<code>name</code>`` in a link to the reference where `name` resolves to a numvae object."""
    def link(m):
        target = resolve(html.unescape(m.group(1)).rstrip("()"), names)
        if target is None:
            return m.group(0)
        return f'<a class="api" href="{api_href(*target, prefix=prefix)}">{m.group(0)}</a>'
    return re.sub(r"<code>([A-Za-z_][\w.]*(?:\(\))?)</code>", link, rendered)


def highlight(code, names, prefix):
    """The HTML of a code cell: Pygments' token classes, and links on the names imported from numvae."""
    from pygments.lexers import PythonLexer
    from pygments.token import STANDARD_TYPES, Name

    out, previous = [], ""
    for kind, text in PythonLexer().get_tokens(code):
        cls = STANDARD_TYPES.get(kind) or STANDARD_TYPES.get(kind.parent, "")
        piece = html.escape(text)
        if kind in Name and text in names and previous != ".":
            (module, anchor), _ = names[text]
            piece = f'<a class="api" href="{api_href(module, anchor, prefix=prefix)}">{piece}</a>'
        out.append(f'<span class="{cls}">{piece}</span>' if cls else piece)
        if text.strip():
            previous = text
    return "".join(out).rstrip("\n")


class Page:
    """The HTML body of one lesson page, built cell by cell; figures are written beside it."""

    def __init__(self, site, stem, names, out_dir):
        self.site, self.stem, self.names, self.out_dir = site, stem, names, out_dir
        self.md = _markdown()
        self.parts, self.figures = [], 0

    def markdown(self, text):
        """Append a markdown cell's HTML (formulas left for MathJax, library names linked)."""
        self.parts.append('<div class="md">' + _link_inline_code(self.md.render(text), self.names, "api/")
                          + "</div>")

    def figure(self, data):
        """Write a base64 PNG output under ``figures/`` and return its ``<figure>``."""
        import base64

        self.figures += 1
        name = f"{self.stem}-{self.figures}.png"
        (self.site / "figures" / name).write_bytes(base64.b64decode(data))
        return (f'<figure><img src="figures/{name}" alt="figure {self.figures} of {self.stem}">'
                f'</figure>')

    def stream(self, text, kind):
        """Append printed text (`kind`: stdout, stderr or result), the ``[ok]`` claims marked."""
        if self.out_dir:   # the folder the lesson wrote its files to existed only while it ran
            text = text.replace(self.out_dir.rstrip("/") + "/", "")
        lines = []
        for line in html.escape(text).splitlines():
            if line.lstrip().startswith("[ok]"):
                line = f'<span class="claim">{line}</span>'
            elif line.lstrip().startswith("[FAIL]"):
                line = f'<span class="fail">{line}</span>'
            lines.append(line)
        self.parts.append(f'<pre class="output {kind}">' + "\n".join(lines) + "</pre>")

    def code(self, cell):
        """Append a code cell, highlighted, and its outputs in place."""
        self.parts.append('<pre class="code highlight">' + highlight(_cell_text(cell), self.names, "api/")
                          + "</pre>")
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                self.stream(o.text, o.name)
            elif o.output_type in ("display_data", "execute_result"):
                if "image/png" in o.data:
                    self.parts.append(self.figure(o.data["image/png"]))
                elif "text/plain" in o.data:
                    self.stream(o.data["text/plain"], "result")
            elif o.output_type == "error":
                self.stream(f"{o.ename}: {o.evalue}", "stderr")

    def cells(self, cells, drop_heading=False):
        """Append `cells` in order; with `drop_heading` the first exercise heading is left out (a summary shows it)."""
        for cell in cells:
            if cell.cell_type == "markdown":
                text = _cell_text(cell)
                if drop_heading:
                    text = EXERCISE_HEADING.sub("", text, count=1)
                    drop_heading = False
                self.markdown(text)
            elif cell.cell_type == "code":
                self.code(cell)


# -------------------------------------------------------------------- the whole site

_STYLE = """
:root { --fg: #1d1f21; --muted: #5b6168; --accent: #1f5fa8; --bg-code: #f6f8fa; --line: #d8dee4; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); font: 17px/1.6 Georgia, "DejaVu Serif", serif; display: flex; }
nav.side { flex: 0 0 16rem; padding: 1.2rem 1rem; border-right: 1px solid var(--line); font: 14px/1.45 sans-serif;
           position: sticky; top: 0; height: 100vh; overflow-y: auto; background: #fbfcfd; }
nav.side a { color: var(--fg); text-decoration: none; display: block; padding: .15rem 0; }
nav.side a.here { color: var(--accent); font-weight: bold; }
nav.side h2 { font-size: 13px; text-transform: uppercase; color: var(--muted); margin: 1.2rem 0 .3rem; }
main { flex: 1; max-width: 52rem; padding: 1.5rem 2.5rem 4rem; min-width: 0; }
a { color: var(--accent); }
h1 { font-size: 1.9rem; line-height: 1.25; } h2 { margin-top: 2.2rem; border-bottom: 1px solid var(--line); }
pre { background: var(--bg-code); padding: .7rem .9rem; overflow-x: auto; font: 13.5px/1.45 "DejaVu Sans Mono",
      monospace; border-radius: 4px; margin: .6rem 0; }
pre.output { background: #fff; border-left: 3px solid var(--line); border-radius: 0; white-space: pre-wrap; }
pre.output.stderr { border-left-color: #d9a400; color: #6b5200; }
code { font: 14px "DejaVu Sans Mono", monospace; background: var(--bg-code); padding: 0 .2rem; }
pre code { background: none; padding: 0; }
a.api { text-decoration: none; border-bottom: 1px dotted var(--accent); }
.claim { color: #17692f; } .fail { color: #b00020; font-weight: bold; }
figure { margin: 1rem 0; text-align: center; } figure img { max-width: 100%; height: auto; }
div.math.display { overflow-x: auto; }
details { border: 1px solid var(--line); border-radius: 4px; padding: .4rem .9rem; margin: .7rem 0; }
details > summary { cursor: pointer; font-weight: bold; }
.prevnext { display: flex; justify-content: space-between; font: 14px sans-serif; margin: 1rem 0; gap: 1rem; }
.links { font: 14px sans-serif; color: var(--muted); }
table { border-collapse: collapse; } td, th { border: 1px solid var(--line); padding: .2rem .5rem; }
ol.lessons > li { margin-bottom: 1rem; } .summary { display: block; } .cites { color: var(--muted); font-size: 15px; }
"""

# MathJax 2.7's combined configuration (the package ships the output jax only inside it): TeX in,
# HTML-CSS with the STIX web fonts the package ships out; \( \) and \[ \] in the lessons, and the $ $ / $$ $$ pdoc leaves in docstrings.
_MATHJAX = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({{
  config: ["TeX-AMS-MML_HTMLorMML-full.js"],
  TeX: {{ extensions: ["AMSmath.js", "AMSsymbols.js", "noErrors.js", "noUndefined.js"] }},
  tex2jax: {{ inlineMath: [["\\\\(", "\\\\)"]{dollar}], displayMath: [["\\\\[", "\\\\]"], ["$$", "$$"]],
             processEscapes: true, skipTags: ["script", "noscript", "style", "textarea", "pre", "code"] }},
  "HTML-CSS": {{ availableFonts: [], webFont: "STIX-Web", imageFont: null, preferredFont: null }},
  showMathMenu: false, messageStyle: "none"
}});
</script>
<script src="{root}_static/mathjax/MathJax.js"></script>"""


def _frame(title, body, nav, root=""):
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title>"
            f'<link rel="stylesheet" href="{root}_static/course.css">'
            f'<link rel="stylesheet" href="{root}_static/pygments.css">'
            + _MATHJAX.format(root=root, dollar="") +
            f'</head><body><nav class="side">{nav}</nav><main>{body}</main></body></html>\n')


def _nav(lessons, here=None):
    items = "".join(f'<a href="{ls["stem"]}.html"' + (' class="here"' if ls["stem"] == here else "")
                    + f'>{ls["number"]}. {html.escape(ls["short"])}</a>' for ls in lessons)
    return (f'<a href="index.html"><b>numvae: the course</b></a><h2>Lessons</h2>{items}'
            f'<h2>Reference</h2><a href="api/numvae.html">API reference</a>'
            f'<a href="notebooks/">Notebooks folder</a>')


def _cite_html(cited, decks):
    parts = []
    for number, slides in cited:
        course_title, file_name = decks[number]
        titles = ", ".join(f"<i>{html.escape(s)}</i>" for s in slides)
        deck = html.escape(course_title).replace("*", "")
        parts.append(f"{html.escape(file_name)} ({deck})" + (f": {titles}" if titles else ""))
    return "; ".join(parts)


def _first_line(doc):
    """The first sentence of a docstring, with reST's ``:math:`x``` and ````x```` as the site shows them."""
    line = " ".join((doc or "").strip().split("\n\n")[0].split())
    line = html.escape(line)
    line = re.sub(r":math:`([^`]+)`", r"\\(\1\\)", line)
    line = re.sub(r":\w+:`~?([^`]+)`", r"<code>\1</code>", line)
    return re.sub(r"``([^`]+)``", r"<code>\1</code>", line)


def _front_page():
    """The HTML the reference's numvae page starts with: what it is, where to start, modules, families."""
    from numvae.likelihoods import LIKELIHOODS
    from numvae.nn import ACTIVATIONS
    from numvae.posteriors import POSTERIORS

    def href(dotted):
        module, _, anchor = dotted.rpartition(".")
        return "numvae.html" if dotted == "numvae" else api_href(module, anchor, prefix="")

    start = "".join(f'<li><a href="{href(d)}"><code>{d}</code></a>: {html.escape(why)}</li>'
                    for d, why in START_HERE)
    public = [m for m in PUBLIC_MODULES if m in numvae._SUBMODULES]
    internal = [m for m in numvae._SUBMODULES if m not in public]

    def rows(mods):
        return "".join(f'<li><a href="numvae/{m}.html"><code>numvae.{m}</code></a>: '
                       f"{_first_line(importlib.import_module(f'numvae.{m}').__doc__)}</li>" for m in mods)

    fams = ""
    for title, registry in (("Decoder likelihoods p(x|z), --decoder", LIKELIHOODS),
                            ("Posteriors q(z|x), --posterior", POSTERIORS),
                            ("Activations, --activation", ACTIVATIONS)):
        fams += f"<dt>{html.escape(title)}</dt><dd><ul>" + "".join(
            f'<li><code>{name}</code>: <a href="{href(cls.__module__ + "." + cls.__qualname__)}">'
            f"<code>{cls.__qualname__}</code></a>, {_first_line(cls.__doc__)}</li>"
            for name, cls in registry.items()) + "</ul></dd>"
    return f"""<div class="front">
<p><b>Where to start.</b> Read the <a href="../index.html">course</a>: ten lessons that derive each
formula, compute it and check it, every one linked to the functions here. Then, in the library:</p>
<ul>{start}</ul>
<h2 id="modules">Modules</h2><ul>{rows(public)}</ul>
<h2 id="families">Families</h2>
<p>Each family is a small class registered by name; the command line's choices are these names.</p><dl>{fams}</dl>
<details><summary>Internals: input checks, files, progress, the command line, the speed wing</summary>
<ul>{rows(internal)}</ul></details>
<h2 id="package">The package</h2></div>"""


_PDOC_MODULE = """{% extends "default/module.html.jinja2" %}
{% block nav_submodules %}
  {% if module.submodules %}
    <h2>Modules</h2><ul>
    {% for s in module.submodules if is_public(s) | trim and s.name not in course_internal %}
      <li>{{ s.taken_from | link(text=s.name) }}</li>{% endfor %}</ul>
    {% set internals = module.submodules | selectattr("name", "in", course_internal) | list %}
    {% if internals %}<h2>Internals</h2><ul>
    {% for s in internals if is_public(s) | trim %}<li>{{ s.taken_from | link(text=s.name) }}</li>{% endfor %}
    </ul>{% endif %}
  {% endif %}
{% endblock %}
{% block module_list_link %}
  <a class="pdoc-button module-list-button" href="{{ "../" * (module.modulename.count(".") + 1) }}index.html">
  &larr; the course</a>
  {{ super() }}
{% endblock %}
{% block module_info %}
  {% if module.modulename == "numvae" %}<h1 class="front-title">numvae: the API reference</h1>
  {{ course_front | safe }}{% endif %}
  {{ super() }}
{% endblock %}
"""
_PDOC_MATH = ('{% set root = "../" * ((module.modulename.count(".") + 1) if module else 1) %}\n'
             + _MATHJAX.format(root="{{ root }}", dollar=', ["$", "$"]'))


# pdoc writes :math:`x` as \\( x \\) in markdown (markdown would unescape it to \( x \)).
_MATH_SPAN = re.compile(r"\$\$.+?\$\$|\\{1,2}\((.+?)\\{1,2}\)|\\{1,2}\[(.+?)\\{1,2}\]", re.S)


def _math_safe(to_html):
    """pdoc's markdown-to-HTML filter with the formulas kept out of markdown's reach.

    Markdown reads the ``*`` of ``q^*`` as emphasis and ``\\`` as an escaped
    backslash, which breaks a formula before MathJax sees it; each formula is
    set aside under a placeholder and put back, HTML-escaped, after.
    """
    def render(text):
        spans = []

        def keep(m):
            inline, display = m.group(1), m.group(2)
            block = m.group(0)[2:-2] if inline is None and display is None else None
            if block is not None and "&" in block and "\\begin" not in block:
                block = f"\\begin{{aligned}}{block}\\end{{aligned}}"   # reST's math:: aligns on & as Sphinx does
            spans.append(f"\\({inline}\\)" if inline is not None else
                         f"\\[{display}\\]" if display is not None else f"$${block}$$")
            return f"NUMVAEMATH{len(spans) - 1}X"
        result = to_html(_MATH_SPAN.sub(keep, text))
        restored = re.sub(r"NUMVAEMATH(\d+)X", lambda m: html.escape(spans[int(m.group(1))]), str(result))
        out = type(result)(restored)
        for attr in ("toc_html", "metadata"):
            if hasattr(result, attr):
                setattr(out, attr, getattr(result, attr))
        return out
    return render


def build_api(site, log=print):
    """The API reference under ``site/api/`` (pdoc, numpy docstrings, math through the site's MathJax)."""
    import pdoc
    import pdoc.render

    with tempfile.TemporaryDirectory(prefix="numvae-pdoc-") as templates:
        Path(templates, "module.html.jinja2").write_text(_PDOC_MODULE, encoding="utf-8")
        Path(templates, "math.html.jinja2").write_text(_PDOC_MATH, encoding="utf-8")
        pdoc.render.configure(docformat="numpy", math=True, template_directory=Path(templates),
                              footer_text=f"numvae {numvae.__version__}")
        pdoc.render.env.globals["course_internal"] = [m for m in numvae._SUBMODULES if m not in PUBLIC_MODULES]
        pdoc.render.env.globals["course_front"] = _front_page()
        plain_to_html = pdoc.render.env.filters["to_html"]
        pdoc.render.env.filters["to_html"] = _math_safe(plain_to_html)
        try:
            pdoc.pdoc("numvae", output_directory=site / "api")
        finally:
            pdoc.render.env.filters["to_html"] = plain_to_html
            pdoc.render.configure()   # pdoc's settings are global: leave them as found
    log(f"  api/: {sum(1 for _ in (site / 'api').rglob('*.html'))} pages")


def _lesson_info(path, nb, decks, summaries):
    first = next((_cell_text(c) for c in nb.cells if c.cell_type == "markdown"), "")
    heading = re.search(r"^#\s+(.*)$", first, re.M)
    title = heading.group(1).strip() if heading else path.stem
    short = re.split(r"\s+[—–-]\s+", title, maxsplit=1)[-1].split(":")[0].strip()
    summary = summaries.get(path.name) or _paragraph_after(first, "What this lesson derives").split(". ")[0]
    return {"stem": path.stem, "number": int(path.name[:2]), "title": title, "short": short,
            "summary": summary, "cited": lectures_followed(first, decks), "path": path}


def _student_versions(folder, site, log):
    """{stem: file name} of the student version, when the lessons have a script that writes it."""
    script = folder / "make_student_version.py"
    if not script.is_file():
        return {}
    import jupytext

    with tempfile.TemporaryDirectory(prefix="numvae-student-") as tmp:
        subprocess.run([sys.executable, str(script), tmp], cwd=folder, check=True, capture_output=True)
        (site / "student").mkdir()
        found = {}
        for p in sorted(Path(tmp).glob("*.py")):
            shutil.copy2(p, site / "student" / p.name)
            if LESSON.fullmatch(p.name):
                jupytext.write(jupytext.read(p), site / "student" / f"{p.stem}.ipynb")
                found[p.stem] = f"student/{p.stem}.ipynb"
    log(f"  student/: {len(found)} lessons")
    return found


def build(out, lessons=None, full=False, reuse=None, log=print):
    """Build the course site into the folder `out` (replaced whole if a previous build made it).

    Parameters
    ----------
    out : str or Path
        The site's folder. It must not exist, be empty, or hold a previous
        build (marked by a ``.numvae-course`` file); the new site is written
        beside it and moved in place at the end, so a failed build leaves the
        old one intact.
    lessons : str or Path, optional
        The lessons folder (default: ``lessons/`` of the checkout, see
        :func:`find_lessons`).
    full : bool
        Run the lessons at full size (minutes each) instead of fast mode.
    reuse : str or Path, optional
        A ``notebooks/`` folder of a previous build: lessons whose source and
        mode are unchanged are not executed again.
    log : callable

    Returns
    -------
    Path
        The site's ``index.html``.
    """
    folder = find_lessons(lessons)     # first: a wheel without lessons is the more basic problem
    check_requirements()
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise FileExistsError(f"out {str(out)!r} exists and is not a course site a previous build wrote "
                              f"(no {MARKER} in it); choose a new or empty folder")
    mode = "full" if full else "fast"
    scripts = sorted(p for p in folder.iterdir() if LESSON.fullmatch(p.name))
    solutions = sorted(folder.glob("solutions_*.py"))
    out.parent.mkdir(parents=True, exist_ok=True)
    site = Path(tempfile.mkdtemp(prefix=f".{out.name}-building-", dir=out.parent))
    try:
        for sub in ("notebooks", "figures", "_static"):
            (site / sub).mkdir()
        log(f"building the course from {folder} into {out} ({mode} mode)")
        books = {p: execute(p, mode, reuse, log) for p in scripts + solutions}
        import nbformat

        for p, nb in books.items():
            nbformat.write(nb, site / "notebooks" / f"{p.stem}.ipynb")
            shutil.copy2(p, site / "notebooks" / p.name)
        if (folder / "_lesson.py").is_file():
            shutil.copy2(folder / "_lesson.py", site / "notebooks" / "_lesson.py")
        _copy_static(site)
        build_api(site, log)
        decks = read_decks(folder / "README.md")
        info = [_lesson_info(p, books[p], decks, read_summaries(folder / "README.md")) for p in scripts]
        student = _student_versions(folder, site, log)
        worked = {}
        for p in solutions:
            sections, preamble = split_solutions(books[p], p, [ls["number"] for ls in info])
            for number, items in sections.items():
                worked.setdefault(number, []).append((p, preamble, items))
        for i, ls in enumerate(info):
            _write_lesson(site, ls, books[ls["path"]], info, i, worked.get(ls["number"], []), decks, student)
        _write_index(site, info, folder, decks, mode)
        _write_notebooks_index(site, scripts + solutions, student)
        (site / MARKER).write_text(json.dumps({"mode": mode, "lessons": str(folder)}) + "\n", encoding="utf-8")
        if out.exists():
            old = out.with_name(f".{out.name}-old-{os.getpid()}")
            out.rename(old)
            site.rename(out)
            shutil.rmtree(old)
        else:
            site.rename(out)
    finally:
        if site.exists():
            shutil.rmtree(site)
    log(f"wrote {out / 'index.html'}")
    return out / "index.html"


def _copy_static(site):
    from pygments.formatters import HtmlFormatter

    root = _mathjax_root()
    shutil.copytree(root, site / "_static" / "mathjax", ignore=shutil.ignore_patterns(
        "localization", "*.py", "__pycache__"))
    (site / "_static" / "course.css").write_text(_STYLE, encoding="utf-8")
    (site / "_static" / "pygments.css").write_text(HtmlFormatter().get_style_defs(".highlight"), encoding="utf-8")


def _links(ls, student):
    links = [f'<a href="notebooks/{ls["stem"]}.ipynb">executed notebook</a>',
             f'<a href="notebooks/{ls["path"].name}">source ({ls["path"].name})</a>']
    if ls["stem"] in student:
        links.append(f'<a href="{student[ls["stem"]]}">student version (your turn)</a>')
    return '<p class="links">' + " · ".join(links) + "</p>"


def _prevnext(info, i):
    prev = (f'<a href="{info[i - 1]["stem"]}.html">&larr; {info[i - 1]["number"]}. '
            f'{html.escape(info[i - 1]["short"])}</a>') if i > 0 else '<a href="index.html">&larr; the course</a>'
    nxt = (f'<a href="{info[i + 1]["stem"]}.html">{info[i + 1]["number"]}. '
           f'{html.escape(info[i + 1]["short"])} &rarr;</a>') if i + 1 < len(info) else \
        '<a href="api/numvae.html">the API reference &rarr;</a>'
    return f'<div class="prevnext">{prev}{nxt}</div>'


def _write_lesson(site, ls, nb, info, i, worked, decks, student):
    sources = [_cell_text(c) for c in nb.cells if c.cell_type == "code"]
    for p, preamble, items in worked:
        sources += [_cell_text(c) for c in preamble + [c for _, _, cells in items for c in cells]
                    if c.cell_type == "code"]
    page = Page(site, ls["stem"], imported_names(sources), nb.metadata.get("numvae_course", {}).get("out"))
    page.parts.append(_prevnext(info, i) + _links(ls, student))
    cells = list(nb.cells)
    at = next((k for k, c in enumerate(cells) if c.cell_type == "markdown"
               and re.search(r"^##\s+Exercises", _cell_text(c), re.M)), len(cells) - 1)
    page.cells(cells[:at + 1])
    for p, preamble, items in worked:
        book = page.parts
        book.append(f'<h3>Worked solutions</h3><p class="links">From <a href="notebooks/{p.name}">{p.name}</a> '
                    f'(<a href="notebooks/{p.stem}.ipynb">executed notebook</a>); try the exercise first.</p>')
        book.append("<details><summary>The setup the solutions share</summary>")
        page.cells(preamble)
        book.append("</details>")
        for exercises, title, section in items:
            label = ("Exercise " if len(exercises) == 1 else "Exercises ") + " and ".join(map(str, exercises))
            book.append(f"<details><summary>{label}"
                        + (f" — {html.escape(title)}" if title else "") + "</summary>")
            page.cells(section, drop_heading=True)
            book.append("</details>")
    page.cells(cells[at + 1:])
    page.parts.append(_prevnext(info, i))
    (site / f"{ls['stem']}.html").write_text(
        _frame(f"{ls['title']} · numvae", "\n".join(page.parts), _nav(info, ls["stem"])), encoding="utf-8")


def _write_index(site, info, folder, decks, mode):
    md = _markdown()
    readme = (folder / "README.md").read_text(encoding="utf-8") if (folder / "README.md").is_file() else ""
    intro = re.split(r"^## ", re.sub(r"^# .*\n", "", readme, count=1), maxsplit=1, flags=re.M)[0].strip()
    rows = "".join(
        f'<li><a href="{ls["stem"]}.html"><b>{html.escape(ls["title"])}</b></a>'
        f'<span class="summary">{md.renderInline(ls["summary"])}</span>'
        + (f'<span class="cites">Follows {_cite_html(ls["cited"], decks)}</span>' if ls["cited"] else "")
        + "</li>" for ls in info)
    deck_rows = "".join(f"<tr><td>{n}</td><td>{md.renderInline(t)}</td><td>{html.escape(f)}</td></tr>"
                        for n, (t, f) in sorted(decks.items()))
    body = (f"<h1>numvae: variational autoencoders, derived and checked</h1>"
            f'<div class="md">{md.render(intro)}</div>'
            f"<p>Every page shows the lesson's text, its code and everything it printed and drew when this "
            f"site was built ({mode} mode); each <code>[ok]</code> line is a claim the lesson asserted. "
            f'Names from the library link to the <a href="api/numvae.html">API reference</a>. '
            f'The executed notebooks are in <a href="notebooks/">notebooks/</a>.</p>'
            f'<h2>The lessons, in order</h2><ol class="lessons">{rows}</ol>'
            + (f"<h2>The lecture decks</h2><table><tr><th>no.</th><th>course and title</th><th>file name</th></tr>"
               f"{deck_rows}</table>" if decks else ""))
    (site / "index.html").write_text(_frame("numvae: the course", body, _nav(info)), encoding="utf-8")


def _write_notebooks_index(site, paths, student):
    items = "".join(f'<li><a href="{p.stem}.ipynb">{p.stem}.ipynb</a> (<a href="{p.name}">{p.name}</a>)</li>'
                    for p in paths)
    body = (f"<h1>The notebooks</h1><p>Executed when the site was built. To run them, open this folder in "
            f"Jupyter (it holds <code>_lesson.py</code>, which they import) with numvae installed.</p>"
            f"<ul>{items}</ul>")
    (site / "notebooks" / "index.html").write_text(
        _frame("numvae: notebooks", body, '<a href="../index.html"><b>numvae: the course</b></a>', root="../"),
        encoding="utf-8")
