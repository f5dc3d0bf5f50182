"""The rendered book (`make book`) in a real browser: every page opens without a missing
image, a broken internal link or anchor, a JavaScript error, a request to another host or
unrendered math; search finds pages; notebook pages carry the Binder and Colab buttons.

Headless Chromium is Debian's package (`make browser` installs it), driven by playwright
from the lock; the book is served from a local http.server on 127.0.0.1 and every request
to any other host is refused and reported. A full-page screenshot of each page is saved in
book/_build/screenshots (git-ignored) to look at. `make test` builds the book first; run
these alone with `make book-test` (or `pytest -m book` after `make book browser`).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"
SHOTS = ROOT / "book" / "_build" / "screenshots"
CHROMIUM = os.environ.get("BOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO_GET_IT = (
    "run `make browser` (as root on Debian it installs the chromium package; elsewhere it "
    "says what to install) and `make env` (playwright is in the lock); never "
    "`playwright install`"
)
# TeX left as text: display or inline delimiters, environments, or a dollar pair around a
# TeX command. Prices ("$5") and shell prompts in prose do not match.
RAW_MATH = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")


def _toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    return [f"{name}.html" for name in files]


# The toc's pages in reading order, the redirect that opens the book, and Sphinx's own pages.
PAGES = ["index.html", *_toc_pages(), "search.html", "genindex.html"]


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self.ids.add(value)


@functools.cache
def _ids(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def _local_file(url_path: str) -> Path:
    path = HTML / unquote(url_path).lstrip("/")
    return path / "index.html" if path.is_dir() else path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def book_url():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"the book is not built ({HTML} has no index.html): run `make book`")
    handler = functools.partial(_Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"the browser test needs the playwright package: {HOW_TO_GET_IT}")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"the browser test needs Chromium at {CHROMIUM}: {HOW_TO_GET_IT}")
    profile = tempfile.mkdtemp(prefix="book-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900},
                service_workers="block",
            )
            yield context
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class _Visit:
    """One page load: what the page asked for and what went wrong while it loaded."""

    def __init__(self, context, url: str):
        self.problems: list[str] = []
        self.page = context.new_page()
        host = urlsplit(url).netloc
        self.page.route("**/*", functools.partial(self._only_local, host))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"JS error: {error}"))
        self.page.on("response", self._response)
        self.page.on(
            "requestfailed",
            lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"),
        )

    def _only_local(self, host, route):
        url = route.request.url
        if urlsplit(url).netloc == host:
            route.continue_()
        else:
            self.problems.append(f"request to another host: {url}")
            route.abort()

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")


def _check_math(page) -> list[str]:
    """MathJax typeset every math element of the page, without errors, and left no TeX text."""
    count = page.locator(".math").count()
    problems = []
    if count:
        try:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                timeout=15000,
            )
            page.evaluate("() => MathJax.startup.promise")
        except Exception as error:  # a timeout: MathJax never loaded
            return [f"{count} math elements but MathJax did not start: {error}"]
        untypeset = page.evaluate(
            "() => [...document.querySelectorAll('.math')]"
            ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))"
        )
        if untypeset:
            problems.append(f"math not typeset ({len(untypeset)} of {count}): {untypeset[:3]}")
        errors = page.evaluate(
            "() => [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]"
            ".map(e => e.getAttribute('data-mjx-error') || e.textContent)"
        )
        if errors:
            problems.append(f"MathJax errors: {errors[:3]}")
    # Text outside code, scripts and typeset math that still reads as TeX.
    texts = page.evaluate(
        """() => {
          const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          const out = [];
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            if (n.parentElement && !n.parentElement.closest(skip)) out.push(n.textContent);
          }
          return out;
        }"""
    )
    raw = [t.strip()[:100] for t in texts if RAW_MATH.search(t)]
    if raw:
        problems.append(f"unrendered math text: {raw[:3]}")
    return problems


def _check_images(page) -> list[str]:
    broken = page.evaluate(
        """async () => {
          const images = [...document.images];
          images.forEach(i => { i.loading = 'eager'; });
          await Promise.all(images.map(i => i.complete ? null :
              new Promise(r => {
                i.addEventListener('load', r);
                i.addEventListener('error', r);
              })));
          return images.filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute('src'));
        }"""
    )
    return [f"missing image: {src}" for src in broken]


def _check_links(page, book_url: str) -> list[str]:
    """Every link into the book points at a file that exists, and its anchor at an id there."""
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
    here = urlsplit(page.url)
    problems = []
    for href in sorted(set(hrefs)):
        parts = urlsplit(href)
        if parts.scheme not in ("http", "https") or parts.netloc != here.netloc:
            continue  # another site (Binder, Colab, papers), mailto: or javascript:
        target = _local_file(parts.path)
        if not target.is_file():
            problems.append(f"broken link: {href}")
            continue
        fragment = unquote(parts.fragment)
        if fragment and target.suffix == ".html" and fragment not in _ids(target):
            if target == _local_file(here.path) and page.locator(f"[id='{fragment}']").count():
                continue  # an id made by the page's scripts
            problems.append(f"broken anchor: {href}")
    return problems


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_cleanly(name, book_url, browser):
    visit = _Visit(browser, book_url)
    page = visit.page
    try:
        page.goto(book_url + name, wait_until="load", timeout=30000)
        page.wait_for_load_state("networkidle", timeout=30000)
        checks = _check_images(page) + _check_math(page) + _check_links(page, book_url)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{Path(name).stem}.png"), full_page=True)
        # What the browser reported while loading, typesetting and scrolling, then the checks.
        problems = list(dict.fromkeys(visit.problems + checks))
        assert not problems, f"{name}:\n" + "\n".join(problems)
    finally:
        page.close()


def test_every_built_page_is_checked():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"the book is not built ({HTML} has no index.html): run `make book`")
    built = {
        str(p.relative_to(HTML))
        for p in HTML.rglob("*.html")
        if not p.relative_to(HTML).parts[0].startswith("_")
    }
    assert built == set(PAGES), (
        f"pages not checked: {built - set(PAGES)}; missing: {set(PAGES) - built}"
    )


def test_search_finds_pages(book_url, browser):
    visit = _Visit(browser, book_url)
    page = visit.page
    try:
        page.goto(book_url + "search.html?q=convolution", wait_until="load")
        page.wait_for_selector("ul.search li a", timeout=20000)
        found = page.evaluate(
            "() => [...document.querySelectorAll('ul.search li a')].map(a => a.href)"
        )
        assert any("02_cnn_math" in href for href in found), found
        assert not visit.problems, visit.problems
    finally:
        page.close()


def test_notebook_pages_have_launch_buttons(book_url, browser):
    """Binder and Colab links on every notebook page, built from book/_config.yml."""
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text(encoding="utf-8"))
    repo = urlsplit(config["repository"]["url"]).path.strip("/")
    for name in [p for p in PAGES if p.startswith("notebooks/")]:
        visit = _Visit(browser, book_url)
        try:
            visit.page.goto(book_url + name, wait_until="load")
            hrefs = visit.page.evaluate(
                "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"
            )
        finally:
            visit.page.close()
        notebook = name.replace(".html", ".ipynb")
        binder = [h for h in hrefs if h.startswith("https://mybinder.org/v2/gh/" + repo)]
        colab = [h for h in hrefs if h.startswith("https://colab.research.google.com/github/")]
        assert binder and notebook in binder[0], f"{name}: no Binder button for {notebook}"
        assert colab and colab[0].endswith(notebook), f"{name}: no Colab button for {notebook}"
