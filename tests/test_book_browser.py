"""The static book (`make book`) opened in a real browser: Playwright driving Chromium.

Every page must load with no console error and no failed or outside request; every image
decodes; every audio and video element has a source the browser can play; the math is
typeset (no raw `$$` left); every link between pages resolves. Screenshots of three pages
(the day table, a saved widget, a video player) go to _build/book/screenshots/ for a
person to look at.

Chromium comes from the distribution (`apt-get install chromium`; Playwright's own
browser download is not used). Without it these tests skip with the reason, unless
COURSE_REQUIRE_BROWSER=1 (CI sets it), which turns a missing browser into a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from course_lib.tools.book import ROOT, build_book, pages

BOOK = ROOT / "_build" / "book"
# page -> what its screenshot scrolls to: the day table, a saved widget, a video player
SCREENSHOTS = {"index.html": "table", "notebooks/day11_fast_tts.html": ".jupyter-widgets",
               "notebooks/day05_video_diffusion.html": "video"}


def chromium_path() -> str | None:
    """The distribution's Chromium, or $COURSE_CHROMIUM."""
    for candidate in (os.environ.get("COURSE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def _browser_or_skip():
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright is not installed (pip install playwright)"
    if problem is None and chromium_path() is None:
        problem = "no Chromium found (apt-get install chromium, or set COURSE_CHROMIUM)"
    if problem:
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"COURSE_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)


@pytest.fixture(scope="module")
def book_server():
    """The book built once into _build/book/ and served on a free loopback port."""
    _browser_or_skip()
    build_book(BOOK, progress=False)
    handler = functools.partial(_QuietHandler, directory=str(BOOK))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


PAGE_CHECKS = """async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  const imgs = [...document.images].map(i => ({src: i.src.slice(0, 80), ok: i.complete && i.naturalWidth > 0}));
  const media = [...document.querySelectorAll('audio, video')].map(m => {
    const src = m.currentSrc || m.src || (m.querySelector('source') || {}).src || '';
    const type = (m.querySelector('source') || {}).type || (src.match(/^data:([^;,]+)/) || [])[1] || '';
    return {tag: m.tagName, ok: m.readyState >= 1 || (type !== '' && m.canPlayType(type) !== ''), type};
  });
  const text = document.body.innerText;
  return {imgs, media, rawMath: text.includes('$$'), mathNodes: document.querySelectorAll('mjx-container').length,
          widgets: document.querySelectorAll('.widget-slider, .widget-dropdown, .widget-box, .jupyter-widgets').length,
          hasWidgetState: !!document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]'),
          links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))};
}"""


def _has_math(target: str) -> bool:
    """Whether the page's notebook has TeX in its markdown ($...$ or $$...$$)."""
    import nbformat
    source = ROOT / target.replace(".html", ".ipynb")
    if not source.exists():
        return False
    nb = nbformat.read(source, as_version=4)
    return any(re.search(r"\$[^$\s][^$]*\$", c.source) for c in nb.cells if c.cell_type == "markdown")


def _check_page(page, base: str, target: str) -> tuple[dict, list[str]]:
    """Load one page; return what PAGE_CHECKS saw and the problems found."""
    problems: list[str] = []
    host = urlparse(base).netloc
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text[:200]}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {str(e)[:200]}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:120]} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url[:120]}"))

    def outside(route):
        problems.append(f"outside request: {route.request.url[:120]}")
        route.abort()
    page.route(re.compile(r"^(?!(data:|blob:|about:|http://" + re.escape(host) + r")).*"), outside)
    page.goto(urljoin(base, target), wait_until="load", timeout=60_000)
    page.wait_for_timeout(300)
    seen = page.evaluate(PAGE_CHECKS)
    problems += [f"image does not decode: {i['src']}" for i in seen["imgs"] if not i["ok"]]
    problems += [f"{m['tag'].lower()} cannot play ({m['type'] or 'no type'})" for m in seen["media"] if not m["ok"]]
    if seen["rawMath"]:
        problems.append("raw $$ left in the text: math was not typeset")
    if seen["mathNodes"] == 0 and _has_math(target):
        problems.append("the notebook has math but nothing was typeset")
    if seen["hasWidgetState"] and seen["widgets"] == 0:
        problems.append("saved widget state but no widget rendered")
    return seen, problems


def test_every_page_of_the_book_renders_in_chromium(book_server):
    from playwright.sync_api import sync_playwright

    targets = ["index.html"] + [p.target for p in pages()]
    shots = BOOK / "screenshots"
    shots.mkdir(exist_ok=True)
    report, links = {}, set()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            for target in targets:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                seen, problems = _check_page(page, book_server, target)
                if problems:
                    report[target] = problems
                links |= {urljoin(urljoin(book_server, target), href).split("#")[0] for href in seen["links"]
                          if not href.startswith(("http:", "https:", "mailto:", "#", "data:"))}
                if target in SCREENSHOTS:
                    page.locator(SCREENSHOTS[target]).first.scroll_into_view_if_needed()
                    page.wait_for_timeout(300)
                    page.screenshot(path=str(shots / (target.replace("/", "_").replace(".html", ".png"))), full_page=False)
                page.close()
            request = browser.new_context().request
            broken = sorted(u for u in links if request.get(u).status != 200)
        finally:
            browser.close()
    assert not report, "\n".join(f"{t}: {p}" for t, ps in report.items() for p in ps)
    assert not broken, f"links that do not resolve: {broken[:20]}"
    assert all((shots / s.replace("/", "_").replace(".html", ".png")).stat().st_size > 10_000 for s in SCREENSHOTS)


def test_the_landing_page_links_every_lesson_and_exercise(book_server):
    index = (BOOK / "index.html").read_text()
    for p in pages():
        assert f'href="{p.target}"' in index, f"the landing page does not link {p.target}"
    assert "make book" in index and "make test" in index
