"""The course as a static website: `course book` (or `make book`) -> _build/book/index.html.

Built from the committed, executed notebooks (nothing is re-executed) with nbconvert's
"lab" HTML template: one page per lesson (notebooks/) and per exercise notebook
(exercises/), a landing page from README.md whose day table links every page, the
contributor docs it links (ARCHITECTURE.md, CONTRIBUTING.md) as pages, and a bar on each
page to the home page and the previous and next day.

Self-contained: every script, style and font a page loads is in the built folder, so the
book opens from disk or from `python -m http.server`. Images, audio and video are already
inline in the notebooks (base64); the concept figures are copied beside the pages.
Vendored at build time from the package registries (pinned, checked against their
published sha512) into _build/book/_static/:

- MathJax 3 (npm `mathjax`, its one-file TeX-to-SVG build) typesets the math;
- require.js and `@jupyter-widgets/html-manager` (npm) render the saved widget views.

The npm tarballs are cached under artifacts/vendor/, so a second build needs no network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from course_lib.runtime import artifacts_dir

__all__ = ["NPM_VENDOR", "Page", "pages", "build_book"]

ROOT = Path(__file__).resolve().parents[2]

# npm package -> (version, integrity from the registry, {path in the tarball: path under _static/})
NPM_VENDOR = {
    "requirejs": ("2.3.8", "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
                  {"package/require.js": "require.js"}),
    "mathjax": ("3.2.2", "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
                {"package/es5/tex-svg-full.js": "mathjax/tex-svg-full.js"}),
    "@jupyter-widgets/html-manager": (
        "1.0.15", "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        {"package/dist/": "html-manager/"}),
}
# MathJax 3, TeX in and SVG out: one file with its glyphs inside, so no font is fetched.
# nbconvert's template configures MathJax 2; its block is replaced by this one. The widget
# manager still calls MathJax 2's `MathJax.Hub.Queue(["Typeset", hub, node])`: a small shim
# answers it with MathJax 3's typesetPromise.
MATHJAX = """<script>
(function () {
  var hub = {Queue: function () {
    for (var i = 0; i < arguments.length; i++) {
      var job = arguments[i];
      if (typeof job === "function") { job(); }
      else if (Array.isArray(job) && job[0] === "Typeset" && window.MathJax.typesetPromise) {
        window.MathJax.typesetPromise(job[2] ? [job[2]] : undefined);
      }
    }
  }};
  window.MathJax = {
    tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
          processEscapes: true, processEnvironments: true, tags: "ams"},
    svg: {fontCache: "global"},
    startup: {ready: function () { window.MathJax.startup.defaultReady(); window.MathJax.Hub = hub; }},
    Hub: hub
  };
})();
</script>
<script src="{up}_static/mathjax/tex-svg-full.js"></script>"""

STYLE = """
.course-nav{position:sticky;top:0;z-index:100;display:flex;gap:1.2em;align-items:center;
  padding:.5em 1.2em;background:#f4f4f6;border-bottom:1px solid #ddd;font:14px system-ui,sans-serif}
.course-nav a{text-decoration:none;color:#1a5fb4}.course-nav .title{flex:1;color:#333;font-weight:600}
body.course-home{max-width:1100px;margin:0 auto;padding:0 1.5em 3em;font:16px/1.55 system-ui,sans-serif;color:#222}
body.course-home table{border-collapse:collapse;font-size:14px}
body.course-home td,body.course-home th{border:1px solid #ddd;padding:.3em .5em;vertical-align:top}
body.course-home code{background:#f4f4f6;padding:0 .2em;border-radius:3px}
body.course-home pre{background:#f4f4f6;padding:.8em;overflow:auto}
"""


@dataclass(frozen=True)
class Page:
    """One page of the book: the notebook it comes from and the page's path (relative)."""
    source: Path            # notebooks/day11_fast_tts.ipynb
    target: str             # notebooks/day11_fast_tts.html
    day: str                # "11"
    kind: str               # "lesson" | "exercises"


DOCS = ("ARCHITECTURE.md", "CONTRIBUTING.md")          # the contributor docs, pages beside the index


def pages(root: Path = ROOT) -> list[Page]:
    """Every lesson and exercise notebook, in day order (a day's lesson before its exercises)."""
    found = []
    for kind, folder in (("lesson", "notebooks"), ("exercises", "exercises")):
        for nb in sorted((root / folder).glob("day[0-9][0-9]_*.ipynb")):
            found.append(Page(nb, f"{folder}/{nb.stem}.html", nb.name[3:5], kind))
    return sorted(found, key=lambda p: (p.day, p.kind != "lesson"))


# ---------------------------------------------------------------- vendored assets

def _npm_tarball(name: str, version: str, integrity: str) -> bytes:
    """The npm tarball of name@version, from artifacts/vendor/ or the registry, checked
    against its sha512 integrity."""
    cache = artifacts_dir("vendor") / f"{name.replace('/', '+')}-{version}.tgz"
    data = cache.read_bytes() if cache.exists() else None
    if data is None:
        url = f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-{version}.tgz"
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except OSError as exc:
            raise RuntimeError(f"the book vendors {name}@{version} from the npm registry and could not "
                               f"fetch {url}: {exc}. Put the tarball at {cache} to build offline.") from exc
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != integrity:
        raise RuntimeError(f"{name}@{version}: sha512 {digest} is not the registry's {integrity}")
    if not cache.exists():
        tmp = cache.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(cache)
    return data


def _vendor(static: Path) -> None:
    """Copy MathJax, require.js and the widget manager into `static`."""
    for name, (version, integrity, files) in NPM_VENDOR.items():
        with tarfile.open(fileobj=io.BytesIO(_npm_tarball(name, version, integrity))) as tar:
            for member in tar.getmembers():
                for src, dst in files.items():
                    if member.isfile() and (member.name == src or (src.endswith("/") and member.name.startswith(src))):
                        out = static / (dst + member.name[len(src):] if src.endswith("/") else dst)
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(tar.extractfile(member).read())


# ---------------------------------------------------------------- pages

def _nav(page_target: str, title: str, prev: Page | None, nxt: Page | None, partner: Page | None) -> str:
    up = "../" * page_target.count("/")
    link = lambda p, text: f'<a href="{up}{p.target}">{text}</a>' if p else ""          # noqa: E731
    other = link(partner, "exercises" if partner and partner.kind == "exercises" else "lesson")
    return (f'<nav class="course-nav"><a href="{up}index.html">⌂ Generative Audio &amp; Video from Scratch</a>'
            f'<span class="title">{html.escape(title)}</span>{other}{link(prev, "← previous")}'
            f'{link(nxt, "next →")}</nav>')


def _link_pages(text: str, known: set[str], here: str) -> str:
    """href="...dayNN_x.ipynb" (or "DOC.md") -> .html where that page is built (relative
    to `here`)."""
    base = Path(here).parent

    def fix(match: re.Match) -> str:
        href = match.group(2)
        target = (base / href).as_posix() if not href.startswith(("http:", "https:", "/")) else None
        if target is not None:
            parts = []
            for piece in target.split("/"):
                if piece == "..":
                    parts = parts[:-1]
                elif piece not in ("", "."):
                    parts.append(piece)
            stem = "/".join(parts).rsplit(".", 1)[0]
            if stem + ".html" in known:
                href = href.rsplit(".", 1)[0] + ".html"
        return f'{match.group(1)}"{href}"'
    return re.sub(r'(href=)"([^"#?]+\.(?:ipynb|md))"', fix, text)


def _lesson_html(page: Page, exporter, nav: str, known: set[str]) -> str:
    import nbformat

    nb = nbformat.read(page.source, as_version=4)
    body, _ = exporter.from_notebook_node(nb)
    body = body.replace("</head>", f"<style>{STYLE}</style></head>", 1)
    up = "../" * page.target.count("/")
    body, n = re.subn(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->",
                      lambda _: MATHJAX.replace("{up}", up), body, count=1, flags=re.S)
    if n != 1:
        raise RuntimeError(f"{page.source.name}: nbconvert's MathJax block was not found; the template changed")
    # the widget manager loads its icon fonts from beside its AMD modules ("@jupyter-widgets/...")
    require_js = f'<script src="{up}_static/require.js"></script>'
    if require_js not in body:
        raise RuntimeError(f"{page.source.name}: require.js is not loaded where expected; the template changed")
    body = body.replace(require_js, require_js + '<script>require.config({paths: {"@jupyter-widgets": '
                        f'"{up}_static/html-manager"}}}});</script>', 1)
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)
    return _link_pages(body, known, page.target)


def _markdown_html(text: str, title: str, known: set[str], home: bool = False) -> str:
    """A page of the book from markdown (the README, the contributor docs)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    body = _link_pages(markdown2html_mistune(text), known, "index.html")
    nav = "" if home else (f'<nav class="course-nav"><a href="index.html">⌂ Generative Audio &amp; Video from '
                           f'Scratch</a><span class="title">{html.escape(title)}</span></nav>')
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body class='course-home'>{nav}{body}</body></html>")


def _home_html(book_pages: list[Page], known: set[str]) -> str:
    """README.md as the landing page, each lesson name in the day table linked to its page."""
    text = (ROOT / "README.md").read_text()
    lessons = {p.source.stem: p for p in book_pages if p.kind == "lesson"}

    def day_link(match: re.Match) -> str:
        stem = match.group(1)
        lesson = lessons.get(stem)
        if lesson is None:
            return match.group(0)
        links = f"[`{stem}`]({lesson.target})"
        if f"exercises/{stem}.html" in known:
            links += f" · [exercises](exercises/{stem}.html)"
        return links
    text = re.sub(r"`(day\d\d_[a-z0-9_]+)`", day_link, text)
    return _markdown_html(text, "Generative Audio & Video from Scratch", known, home=True)


def build_book(out: Path | str | None = None, only: list[str] | None = None, progress: bool = True) -> Path:
    """Build the book into `out` (default _build/book/) and return the path of its
    index.html. only: limit the pages to these days ("11" or "day11"), for a quick look.
    The folder is written beside and swapped in at the end: a failed build leaves the
    previous book in place."""
    from nbconvert import HTMLExporter
    from tqdm.auto import tqdm

    out = Path(out) if out is not None else ROOT / "_build" / "book"
    book_pages = pages()
    if only:
        days = {d.removeprefix("day").zfill(2) for d in only}
        book_pages = [p for p in book_pages if p.day in days]
        if not book_pages:
            raise ValueError(f"no lesson or exercise notebook for days {sorted(days)}")
    known = {p.target for p in book_pages} | {doc.replace(".md", ".html") for doc in DOCS}
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "_static").mkdir(parents=True)
    _vendor(staging / "_static")
    shutil.copytree(ROOT / "notebooks" / "figures", staging / "notebooks" / "figures")
    for i, page in enumerate(tqdm(book_pages, desc="book", disable=not progress)):
        up = "../" * page.target.count("/")
        exporter = HTMLExporter(template_name="lab", require_js_url=f"{up}_static/require.js",
                                widget_renderer_url=f"{up}_static/html-manager/embed-amd.js")
        lessons = [p for p in book_pages if p.kind == "lesson"]
        prev = next((p for p in reversed(lessons) if p.day < page.day), None)
        nxt = next((p for p in lessons if p.day > page.day), None)
        partner = next((p for p in book_pages if p.day == page.day and p.kind != page.kind), None)
        title = f"Day {page.day}: {page.source.stem[6:].replace('_', ' ')}" + (" (exercises)" if page.kind == "exercises" else "")
        target = staging / page.target
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_lesson_html(page, exporter, _nav(page.target, title, prev, nxt, partner), known))
    (staging / "index.html").write_text(_home_html(book_pages, known))
    for doc in DOCS:                                   # the README links them
        (staging / doc.replace(".md", ".html")).write_text(
            _markdown_html((ROOT / doc).read_text(), doc.removesuffix(".md").title(), known))
    shutil.rmtree(out, ignore_errors=True)
    staging.replace(out)
    return out / "index.html"
