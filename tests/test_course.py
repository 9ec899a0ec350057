"""The course site: what ``numvae course build`` reads from the lessons, and the site in a real browser.

The browser test builds the site from two real lessons and the worked
solutions of the first (copied into a temporary lessons folder, executed once
in fast mode for the whole module), then opens every page in headless
Chromium with the network off (every request goes to a proxy on a closed
port) and every request logged. It needs the ``course`` extra, Debian's
``chromium`` and ``chromium-driver``, and selenium (the ``test`` extra);
``.ci/run`` installs them, and the test skips with the reason where they
cannot be had.
"""

import json
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from numvae import cli, course

REPO = Path(__file__).resolve().parent.parent
LESSONS = REPO / "lessons"
SCREENS = ("index.html", "01_latent_variable_models.html", "api/numvae/vae.html")


def test_a_folder_without_lessons_is_refused_by_name_and_says_the_wheel_ships_none(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="ships no lessons; pass --lessons DIR"):
        course.find_lessons(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("not a site")
    assert course.find_lessons(LESSONS) == LESSONS
    status = cli.main(["course", "build", "--out", str(tmp_path / "site"), "--lessons", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "holds no lesson" in err and "--lessons DIR" in err and "Traceback" not in err


def test_a_folder_that_is_not_a_previous_site_is_never_overwritten(tmp_path):
    pytest.importorskip("jupytext", reason="the course build needs the 'course' extra")
    pytest.importorskip("markdown_it", reason="the course build needs the 'course' extra")
    if course._mathjax_root() is None:
        pytest.skip("the course build needs the 'course' extra: jupyter-server-mathjax")
    (tmp_path / "mine.txt").write_text("not a site")
    with pytest.raises(FileExistsError, match="is not a course site"):
        course.build(tmp_path, lessons=LESSONS, log=lambda *a: None)
    assert (tmp_path / "mine.txt").read_text() == "not a site"


def test_the_lecture_citations_are_read_as_the_lessons_write_them():
    decks = {"002": ("Comminiello, *Generative latent variable models: the VAE*", "002_b4c24ccd2e75c8da.txt"),
             "004": ("CS109B Lecture 19, *Variational Autoencoders*", "004_67c18b03ad8f58f7.txt")}
    text = ("**Lectures followed.**\n- 004_67c18b03ad8f58f7.txt, *Generative models*: z ~ Unif(0, 1), *not a slide*.\n"
            "- Comminiello, *Generative latent variable models: the VAE*,\n  002_b4c24ccd2e75c8da.txt, slide "
            "*Advantages of the VAE: amortized\n  inference*: one model.\n- 002, *Change of variables*\n\nAfter.")
    assert course.lectures_followed(text, decks) == [
        ("004", ["Generative models"]), ("002", ["Advantages of the VAE: amortized inference", "Change of variables"])]


def test_every_real_lesson_has_a_title_a_summary_and_a_cited_deck():
    jupytext = pytest.importorskip("jupytext", reason="the course build needs the 'course' extra")
    decks = course.read_decks(LESSONS / "README.md")
    summaries = course.read_summaries(LESSONS / "README.md")
    assert len(decks) >= 5
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.py")):
        info = course._lesson_info(path, jupytext.read(path), decks, summaries)
        assert info["title"].startswith(f"Lesson {int(path.name[:2])}"), info["title"]
        assert info["summary"] and info["cited"], path.name
        assert all(number in decks for number, _ in info["cited"]), path.name


def test_the_worked_solutions_are_split_by_lesson_and_exercise():
    jupytext = pytest.importorskip("jupytext", reason="the course build needs the 'course' extra")
    for path in sorted(LESSONS.glob("solutions_*.py")):
        sections, preamble = course.split_solutions(jupytext.read(path), path, range(1, 11))
        numbers = [int(n) for n in re.findall(r"\d+", path.stem)]
        assert set(sections) == set(range(numbers[0], numbers[-1] + 1)), path.name
        for items in sections.values():
            solved = sorted(n for exercises, _, _ in items for n in exercises)
            assert solved == list(range(1, len(solved) + 1)) and len(solved) >= 3, path.name
        assert preamble and not any(course.EXERCISE_HEADING.search(course._cell_text(c)) for c in preamble)


def test_names_a_lesson_uses_link_to_the_page_and_anchor_that_document_them():
    names = course.imported_names(["from numvae.ppca import PPCA\nfrom numvae.data import load_digits\n"
                                   "import numvae.vae as V\nfrom numvae.distributions import _private\n"])
    assert set(names) == {"PPCA", "load_digits", "V"}
    assert course.resolve("PPCA.fit", names) == ("numvae.ppca", "PPCA.fit")
    assert course.resolve("load_digits", names) == ("numvae.data.digits", "load_digits")
    assert course.resolve("V.VAE", names) == ("numvae.vae", "VAE")
    assert course.resolve("numvae.vae.VAE.log_likelihood", names) == ("numvae.vae", "VAE.log_likelihood")
    assert course.resolve("numvae.data", names) == ("numvae.data", "")
    assert course.resolve("numpy.exp", names) is None and course.resolve("PPCA.nothing", names) is None


# ---------------------------------------------------------------- the site in a real browser

def _browser():
    """(chromium, chromedriver) paths, or skip with the reason."""
    pytest.importorskip("selenium", reason="the browser test needs selenium (the 'test' extra)")
    for name in course.REQUIRES:
        pytest.importorskip(name, reason=f"the course build needs the 'course' extra: {name}")
    if course._mathjax_root() is None:
        pytest.skip("the course build needs the 'course' extra: jupyter-server-mathjax")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("no headless browser: apt-get install chromium chromium-driver (.ci/run does)")
    return chromium, driver


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site built from lessons 1 and 2 and the solutions of lesson 1, each executed once (fast mode),
    with the student version of the two lessons."""
    _browser()
    lessons = tmp_path_factory.mktemp("lessons")
    for name in ("01_latent_variable_models.py", "02_kl_divergence.py", "solutions_01.py", "_lesson.py",
                 "README.md", "make_student_version.py"):
        shutil.copy2(LESSONS / name, lessons / name)
    out = tmp_path_factory.mktemp("built") / "site"
    course.build(out, lessons=lessons, log=lambda *a: None)
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                "--window-size=1280,900", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def _requests(driver):
    """The URL of every request the browser made since the last call."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


# What a page shows once MathJax has run, outside code: rendered text, typeset and source math, images, links.
INSPECT = """
const done = arguments[0];
const report = () => {
  const body = (document.body || document.createElement("body")).cloneNode(true);   // a redirect has none
  body.querySelectorAll("pre, code, script, style, .MathJax_Preview").forEach(e => e.remove());
  done({text: body.innerText,
        scripts: document.querySelectorAll('script[type^="math/tex"]').length,
        typeset: document.querySelectorAll("span.MathJax").length,
        errors: Array.from(document.querySelectorAll(".MathJax_Error, merror")).map(e => e.textContent),
        images: Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0]),
        links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href)});
};
if (window.MathJax && MathJax.Hub) { MathJax.Hub.Queue(report); } else { report(); }
"""


def test_every_page_opens_offline_typeset_with_its_images_and_links_and_asks_nothing_outside(site, browser, tmp_path):
    root = site.resolve().as_uri() + "/"
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert {"index.html", "01_latent_variable_models.html", "02_kl_divergence.html", "api/numvae.html",
            "api/numvae/vae.html", "notebooks/index.html"} <= set(pages)
    _requests(browser)
    # Inside the folder, inline data, or the browser's own resources (chrome://, its built-in icons).
    outside, links, typeset, untypeset = [], set(), {}, []
    for page in pages:
        browser.get(root + page)
        seen = browser.execute_async_script(INSPECT)
        outside += [(page, url) for url in _requests(browser)
                    if not (url.startswith(root) or url.startswith(("data:", "chrome://")) or url == "about:blank")]
        if page.startswith("api/") and "numvae" not in page:   # pdoc's redirecting index and search page
            continue
        for raw in ("$$", "\\(", "\\[", "\\mathcal"):
            if raw in seen["text"]:
                at = seen["text"].index(raw)
                untypeset.append(f"{page}: raw {raw!r} in {seen['text'][max(0, at - 40):at + 40]!r}")
        if seen["errors"]:
            untypeset.append(f"{page}: MathJax could not typeset {seen['errors']}")
        assert seen["typeset"] >= seen["scripts"], f"{page}: {seen['scripts']} formulas, {seen['typeset']} typeset"
        typeset[page] = seen["typeset"]
        broken = [src for src, ok in seen["images"] if not ok]
        assert not broken, f"{page}: images not loaded: {broken}"
        links |= {url for url in seen["links"] if url.startswith(root)}
        if page in SCREENS:
            browser.set_window_size(1280, 900)
            shot = tmp_path / (page.replace("/", "_").removesuffix(".html") + ".png")
            browser.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
    assert untypeset == [], "\n".join(map(str, untypeset))
    assert outside == [], f"requests that left the site folder: {outside[:5]}"
    for page, least in (("01_latent_variable_models.html", 5), ("02_kl_divergence.html", 2),
                        ("api/numvae/vae.html", 10), ("api/numvae/distributions.html", 10), ("index.html", 0)):
        assert typeset[page] >= least, f"{page}: only {typeset[page]} typeset formulas"
    lesson = (site / "01_latent_variable_models.html").read_text()
    assert lesson.count("<details>") >= 4 and "<img " in lesson and "[ok]" in lesson
    assert 'href="02_kl_divergence.html"' in lesson and 'href="api/numvae/ppca.html#PPCA"' in lesson
    assert 'href="notebooks/01_latent_variable_models.ipynb"' in lesson
    # The student version beside it: the your-turn cells as stubs, linked from the page.
    assert 'href="student/01_latent_variable_models.ipynb"' in lesson
    student = (site / "student" / "01_latent_variable_models.ipynb").read_text(encoding="utf-8")
    assert "raise YourTurn(" in student and "### BEGIN SOLUTION" not in student
    assert (site / "student" / "_lesson.py").is_file()
    dead = []
    for url in sorted(links):
        parts = urlsplit(url)
        target = Path(unquote(parts.path))
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            dead.append(url)
        elif parts.fragment and target.suffix == ".html" and \
                f'id="{parts.fragment}"' not in target.read_text(encoding="utf-8"):
            dead.append(url)
    assert dead == [], f"{len(dead)} links inside the site lead nowhere: {dead[:5]}"
    assert len(links) > 100
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert shots == sorted(p.replace("/", "_").removesuffix(".html") + ".png" for p in SCREENS)
    keep = Path(tempfile.gettempdir()) / "numvae-course-screens"   # where a person can look at them
    keep.mkdir(exist_ok=True)
    for p in tmp_path.glob("*.png"):
        shutil.copy2(p, keep / p.name)
