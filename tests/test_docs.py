"""The API reference: pdoc builds it without a warning, and the docstrings it is made of exist and are not stale.

Three checks: every public module, class, function, method and property has a
docstring; every name a numpydoc ``Parameters`` section documents is a real
parameter of its function (a renamed argument leaves a stale entry behind);
and pdoc renders the whole package (skipped, with the reason, without the
``docs`` extra; ``.ci/run`` installs it).
"""

import importlib
import inspect
import pkgutil
import re
import warnings

import pytest

# numvae.plots, one of the documented modules, needs matplotlib (a runtime dependency).
pytest.importorskip("matplotlib", reason="matplotlib, a runtime dependency of numvae, is not installed: pip install -e '.[test,docs]'")
import numvae  # noqa: E402

MODULES = [importlib.import_module(f"numvae.{name}") for name in numvae._SUBMODULES]
# And the modules of the package numvae.data (numvae.data.search, ...), whose names
# numvae.data re-exports: each object is checked in the module that defines it.
MODULES += [importlib.import_module(f"numvae.data.{m.name}") for m in pkgutil.iter_modules(numvae.data.__path__)
            if not m.name.startswith("_")]
PARAM_LINE = re.compile(r"\*{0,2}[A-Za-z_]\w*(\s*,\s*\*{0,2}[A-Za-z_]\w*)*(\s+:(\s.*)?)?")


def _public_objects():
    """(qualified name, object) of every public module, class, function, method and property of numvae."""
    found = [("numvae", numvae)] + [(m.__name__, m) for m in MODULES]
    for module in MODULES:
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue   # private, or imported from elsewhere (checked where it is defined)
            if inspect.isfunction(obj):
                found.append((f"{module.__name__}.{name}", obj))
            elif inspect.isclass(obj):
                found.append((f"{module.__name__}.{name}", obj))
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(value, (staticmethod, classmethod)):
                        value = value.__func__
                    if inspect.isfunction(value) or isinstance(value, property):
                        found.append((f"{module.__name__}.{name}.{attr}", value))
    return found


OBJECTS = _public_objects()


def test_the_walk_finds_what_it_should():
    names = {name for name, _ in OBJECTS}
    assert {"numvae.cli.main", "numvae.cli.build_parser", "numvae.compare.Comparison.to_csv",
            "numvae.nn.Activation.backward", "numvae.gradcheck.GradcheckReport.passed",
            "numvae.history.History.append", "numvae.optim.Optimizer.step"} <= names


def test_every_public_object_has_a_docstring():
    missing = [name for name, obj in OBJECTS if not (inspect.getdoc(obj) or "").strip()]
    assert missing == [], f"no docstring: {missing}"


def _documented_parameters(doc):
    """Names listed in the numpydoc ``Parameters`` section of `doc`."""
    lines = doc.splitlines()
    names, inside = [], False
    for i, line in enumerate(lines):
        header = i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip()) and line.strip()
        if header:
            inside = line.strip() == "Parameters"
        elif inside and line[:1].strip() and PARAM_LINE.fullmatch(line) and not re.fullmatch(r"-{3,}", line):
            names += [n.strip().lstrip("*") for n in line.split(":")[0].split(",")]
    return names


def test_documented_parameters_exist():
    assert _documented_parameters("Parameters\n----------\nx, y : int\n    Two.\n*args\n\nReturns\n-------\nz : int\n") \
        == ["x", "y", "args"]
    stale = []
    for name, obj in OBJECTS:
        if not callable(obj) or isinstance(obj, property):
            continue
        try:
            params = set(inspect.signature(obj).parameters)
        except (TypeError, ValueError):   # no introspectable signature
            continue
        stale += [f"{name}: {p}" for p in _documented_parameters(inspect.getdoc(obj) or "") if p not in params]
    assert stale == [], f"documented but not parameters: {stale}"


def test_the_api_reference_builds_without_warnings(tmp_path):
    pdoc = pytest.importorskip("pdoc", reason="pdoc is the docs extra: pip install -e '.[docs]'")
    import pdoc.render

    pdoc.render.configure(docformat="numpy", math=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc("numvae", output_directory=tmp_path)
    from_pdoc = [str(w.message) for w in caught if "pdoc" in w.filename]
    assert from_pdoc == [], from_pdoc
    for module in MODULES:
        page = tmp_path.joinpath(*module.__name__.split(".")).with_suffix(".html")
        assert page.is_file(), page
    data_page = (tmp_path / "numvae" / "data.html").read_text()
    assert "load_digits" in data_page and "Pixel counts 0..16 divided by 16" in data_page
