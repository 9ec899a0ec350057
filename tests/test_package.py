"""`import numvae` is enough: every submodule is reachable, the shortcuts are the real objects, no name hides a module.

The module list is read from the files on disk, independently of numvae's own
discovery, so a module numvae forgot to expose fails here.
"""

import ast
import subprocess
import sys
import types
from pathlib import Path

import numvae

PACKAGE = Path(numvae.__file__).resolve().parent
# Modules (``vae.py``) and packages (``data/``, a folder holding an ``__init__.py``).
ON_DISK = sorted(name for name in ({p.stem for p in PACKAGE.glob("*.py")}
                                   | {p.parent.name for p in PACKAGE.glob("*/__init__.py")})
                 if not name.startswith("_"))


def test_every_module_on_disk_is_an_attribute_and_a_module():
    assert {"data", "vae", "ppca", "train", "gradcheck", "cli"} <= set(ON_DISK)
    for name in ON_DISK:
        module = getattr(numvae, name)
        assert isinstance(module, types.ModuleType) and module.__name__ == f"numvae.{name}", name
        assert name in dir(numvae) and name in numvae.__all__


def test_shortcuts_are_the_objects_of_their_modules():
    from numvae.ppca import PPCA
    from numvae.train import fit
    from numvae.vae import VAE

    assert numvae.VAE is VAE and numvae.PPCA is PPCA and numvae.fit is fit
    assert {"VAE", "PPCA", "fit"} <= set(dir(numvae))


def test_no_top_level_name_shadows_a_module():
    for name in numvae.__all__:
        if name in ON_DISK:
            assert isinstance(getattr(numvae, name), types.ModuleType), name
    assert callable(numvae.gradcheck.gradcheck)


def test_unknown_attribute_is_an_attribute_error():
    try:
        numvae.no_such_thing
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("numvae.no_such_thing did not raise")


def test_import_numvae_alone_reaches_the_data_in_a_fresh_interpreter(tmp_path):
    code = ("import numvae; X, y = numvae.data.load_digits(); m = numvae.VAE(64, z_dim=2); "
            "print(X.shape, type(m).__name__, numvae.fit.__module__)")
    env = {"PYTHONPATH": str(PACKAGE.parent), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1797, 64) VAE numvae.train"


def _module_imports():
    """``{module: set of numvae modules it imports}`` for every module of the package, read from the source."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):   # function-level imports too
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_the_modules_imports_form_layers_without_a_cycle():
    graph = _module_imports()
    assert "numvae.fast.bench" in graph and "numvae.vae" in graph["numvae.fast.bench"]   # the reader sees imports
    done, path = set(), []

    def visit(name):
        assert name not in path, f"import cycle: {' -> '.join(path[path.index(name):] + [name])}"
        if name in done:
            return
        path.append(name)
        for other in sorted(graph[name]):
            visit(other)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_teaching_modules_reach_the_fast_wing_only_through_the_vaes_one_switch():
    """The plain path never imports numvae.fast: only vae.py (VAE(fast=True)) and the command line (bench) do."""
    graph = _module_imports()
    users = {m for m, imports in graph.items()
             if not m.startswith("numvae.fast") and any(i.startswith("numvae.fast") for i in imports)}
    assert users == {"numvae.vae", "numvae.cli"}
    assert {i for i in graph["numvae.vae"] if i.startswith("numvae.fast")} == {"numvae.fast"}


def _setup_cfg():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(PACKAGE.parent / "setup.cfg")
    return cfg


def test_any_current_python_may_install_it_and_the_tested_one_is_named():
    # An upper bound makes pip refuse every newer Python, although numvae is pure Python.
    cfg = _setup_cfg()
    assert cfg["options"]["python_requires"].strip() == ">=3.11"
    classifiers = cfg["metadata"]["classifiers"].split("\n")
    assert "Programming Language :: Python :: 3.11" in classifiers
    tested = [c.rsplit(" :: ", 1)[1] for c in classifiers if c.startswith("Programming Language :: Python :: 3.")]
    readme = " ".join((PACKAGE.parent / "README.md").read_text().split())
    assert tested and all(f"CI tests it on Python {version}" in readme for version in tested)


def test_the_ci_script_still_reads_the_floors_from_setup_cfg():
    # .ci/run turns install_requires into `name==floor` for its oldest-versions run; run its
    # own Python code on the real setup.cfg.
    import re

    ci = (PACKAGE.parent / ".ci" / "run").read_text()
    code = re.search(r"python3 - <<'PY'\n(.*?)\nPY\n", ci, flags=re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["numpy==1.23.2", "scipy==1.9.2", "matplotlib==3.6.0"]


def test_the_changelog_has_dated_releases_and_the_newest_is_the_version_the_package_and_readme_say():
    import re
    from datetime import date

    root = PACKAGE.parent
    changelog = (root / "CHANGELOG.md").read_text()
    heads = re.findall(r"^## \[([^\]]+)\](.*)$", changelog, flags=re.M)
    assert heads[0] == ("Unreleased", ""), "ongoing work goes under [Unreleased], on top"
    releases = heads[1:]
    assert len(releases) >= 2
    dates = []
    for version, rest in releases:
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
        m = re.fullmatch(r" - (\d{4}-\d{2}-\d{2})", rest)
        assert m, f"release {version} has no ' - YYYY-MM-DD' date: {rest!r}"
        dates.append(date.fromisoformat(m.group(1)))
    # Newest first, in version and in date.
    as_tuples = [tuple(map(int, v.split("."))) for v, _ in releases]
    assert as_tuples == sorted(as_tuples, reverse=True) and dates == sorted(dates, reverse=True)
    assert releases[0][0] == numvae.__version__
    readme = " ".join((root / "README.md").read_text().split())
    assert f"This README documents numvae {numvae.__version__}" in readme
