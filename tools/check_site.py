#!/usr/bin/env python
"""Check the built course website in a real browser (headless Debian chromium via Playwright).

    python tools/check_site.py [--site _site] [--screenshots _site-check/screenshots]

Serves the site on 127.0.0.1 and opens every page. A page fails if

- the browser logs a console error or an uncaught exception;
- a request fails or answers >= 400, or a request leaves the machine (the site must read offline:
  MathJax, fonts and figures are shipped with it; every non-local request is blocked and counted);
- an image did not load (``naturalWidth == 0``);
- math was left unrendered: ``$...$`` or a TeX command (``\\frac``...) in the text outside code,
  or a MathJax error box; a font (MathJax's, shipped with the site) failed to load;
- a link inside the site points to a missing file or a missing ``#anchor``;
- the footer does not state the licenses; a notebook page has no download links; a page built
  from a notebook with a widget explorer does not say how to run it live;
- the landing page's download table has a row whose download cell holds no link;
- PUBLIC site only: a page shows a solution -- nbgrader's solution markers, a line of code that
  only a solution region of the course's notebooks contains, or a check cell's verdict
  ("✔ ... correct.") -- or ``downloads/`` holds a notebook with solution markers.

It also types into the search box: "conservation", "z+ rule" must find notebook 03, and
"LRP-epsilon" must find a page; hits' snippets must be prose (no ``In [..]:`` prompt). Before
all that, it runs itself on a copy of the landing page with one of each problem planted and
fails if it misses one. A full-page screenshot of every page goes to ``--screenshots`` (look at
them). It finds a Chromium-family browser itself (tools/find_browser.py) or takes
``--browser PATH``; it never downloads a browser (no ``playwright install``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from find_browser import HOW_TO_GET_ONE, find_browser  # noqa: E402

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
#: INSTRUCTORS.md explains the solution markers with an example: that page may show them
DOCUMENTS_THE_MARKERS = {"instructors.html"}
#: what a check cell prints when the exercise is solved (lrp_teach/exercises/_core.py)
CHECK_VERDICT = re.compile(r"✔ [\w.\-]+: correct\.")
#: search queries a reader types, and a page (file name start) the hits must include
SEARCHES = (("conservation", "03_"), ("z+ rule", "03_"), ("z⁺ rule", "03_"),
            ("LRP-epsilon", ""), ("epsilon rule", ""))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]

# Text of the page outside code, inputs and rendered math, for the unrendered-math check.
PROSE_TEXT_JS = """() => {
  const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA', 'MJX-CONTAINER', 'INPUT']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let el = node.parentElement; el; el = el.parentElement) {
        if (skip.has(el.tagName) || el.classList.contains('jp-InputArea') ||
            el.classList.contains('search-results')) return NodeFilter.FILTER_REJECT;
      }
      return NodeFilter.FILTER_ACCEPT;
    }});
  const parts = [];
  while (walker.nextNode()) parts.push(walker.currentNode.nodeValue);
  return parts.join(' ');
}"""

PAGE_FACTS_JS = """() => ({
  images: Array.from(document.images).map(img => ({
    src: img.currentSrc.slice(0, 80), ok: img.complete && img.naturalWidth > 0})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  ids: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name')),
  math: document.querySelectorAll('mjx-container').length,
  mathErrors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 120)),
  footer: (document.querySelector('.site-footer') || {textContent: ''}).textContent,
  downloads: Array.from(document.querySelectorAll('.page-downloads a')).map(a => a.getAttribute('href')),
  widgetNotes: document.querySelectorAll('.widget-note').length,
  downloadCells: Array.from(document.querySelectorAll('table.downloads tbody tr')).map(tr => ({
    row: tr.textContent.trim().slice(0, 60),
    links: Array.from((tr.lastElementChild || tr).querySelectorAll('a[href]')).map(a => a.getAttribute('href'))})),
  code: Array.from(document.querySelectorAll('pre, code')).map(e => e.textContent).join('\\n'),
  outputs: Array.from(document.querySelectorAll('.jp-OutputArea-output')).map(e => e.textContent).join('\\n'),
  text: document.body.innerText,
  navLinks: document.querySelectorAll('.site-nav a').length,
  fontErrors: Array.from(document.fonts).filter(f => f.status === 'error').map(f => f.family),
})"""

UNRENDERED = [
    ("a $...$ span", r"\$[^$\s][^$]{0,200}?\$"),
    ("a TeX command", r"\\(frac|sum|partial|mathbf|mathrm|mathbb|text|begin|end|cdot|odot|left|right"
                      r"|top|rho|alpha|epsilon|varepsilon|nabla|displaystyle|boldsymbol|operatorname)\b"),
]


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def solution_lines(notebooks: list[Path]) -> dict[str, str]:
    """Lines of code that only solution regions contain: line -> where it comes from.

    A line also written outside every solution region (in any cell of any notebook) is left out:
    it gives nothing away. Short lines (``return x``) are left out for the same reason."""
    import nbformat

    inside: dict[str, str] = {}
    outside: set[str] = set()
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for number, cell in enumerate(nb.cells):
            in_region = False
            for line in cell.source.splitlines():
                stripped = line.strip()
                if any(marker in line for marker in SOLUTION_MARKERS):
                    in_region = SOLUTION_MARKERS[0] in line
                    continue
                if in_region and len(stripped) >= 16 and not stripped.startswith("#"):
                    inside.setdefault(stripped, f"{path.name} cell {number}")
                else:
                    outside.add(stripped)
    return {line: where for line, where in inside.items() if line not in outside}


def solution_problems(facts: dict, secret_lines: dict[str, str]) -> list[str]:
    """What on a public page gives a solution away."""
    problems = [f"shows the solution marker {marker!r}" for marker in SOLUTION_MARKERS
                if marker in facts["text"]]
    code_lines = {line.strip() for line in facts["code"].splitlines()}
    problems += [f"shows a solution line ({where}): {line!r}"
                 for line, where in secret_lines.items() if line in code_lines][:5]
    verdict = CHECK_VERDICT.search(facts["outputs"])
    if verdict:
        problems.append(f"shows a check cell's verdict: {verdict.group(0)!r}")
    return problems


def check(site: Path, screenshots: Path | None, chromium: str | None, quiet: bool = False,
          notebooks: list[Path] | None = None) -> list[str]:

    from playwright.sync_api import sync_playwright

    if not (site / "index.html").exists():
        return [f"{site}/index.html does not exist: build the site first (course.py site)."]
    if not chromium or not Path(chromium).exists():
        return [f"no browser at {chromium}.\n{HOW_TO_GET_ONE}"]
    build_info = json.loads((site / "build-info.json").read_text())
    public = build_info.get("edition", "public") != "instructor"
    notebooks = notebooks or sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    secret_lines = solution_lines(notebooks) if public else {}
    failures: list[str] = []
    if public:
        import nbformat

        for path in sorted((site / "downloads").rglob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            if any(marker in cell.source for cell in nb.cells for marker in SOLUTION_MARKERS):
                failures.append(f"downloads/{path.relative_to(site / 'downloads').as_posix()}: "
                                "a notebook with solutions on the public site")
    widget_pages = {Path(name).stem + ".html" for name, count in
                    build_info["widget_outputs_replaced"].items() if count}
    notebook_pages = {Path(name).stem + ".html" for name in build_info["widget_outputs_replaced"]}
    pages = sorted(p.name for p in site.glob("*.html"))
    if screenshots:
        screenshots.mkdir(parents=True, exist_ok=True)

    server, base = serve(site)
    facts_by_page: dict[str, dict] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # generous: a 2-core CI machine running other jobs can take a minute to lay out a
            # page of 250 formulas; a real failure is reported by what is checked, not by this
            context.set_default_timeout(120_000)
            context.set_default_navigation_timeout(120_000)
            external: list[str] = []

            def route(route_, request):
                if request.url.startswith(base) or request.url.startswith("data:"):
                    route_.continue_()
                else:  # the site must not need the internet
                    external.append(request.url)
                    route_.abort()
            context.route("**/*", route)

            for name in pages:
                page = context.new_page()
                problems: list[str] = []
                page.on("console", lambda m, p=problems: p.append(f"console {m.type}: {m.text}")
                        if m.type == "error" else None)
                page.on("pageerror", lambda e, p=problems: p.append(f"uncaught exception: {e}"))
                page.on("requestfailed", lambda r, p=problems: p.append(
                    f"request failed: {r.url[:100]} ({r.failure})"))
                page.on("response", lambda r, p=problems: p.append(
                    f"HTTP {r.status}: {r.url[:100]}") if r.status >= 400 else None)
                external.clear()
                page.goto(base + name, wait_until="load")
                page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise",
                                       timeout=120_000)
                page.evaluate("() => MathJax.startup.promise")
                # every font MathJax asked for has loaded or failed (fonts are the only requests
                # after "load": the figures are inline)
                page.evaluate("() => document.fonts.ready.then(() => true)")
                facts = page.evaluate(PAGE_FACTS_JS)
                prose = page.evaluate(PROSE_TEXT_JS)
                facts_by_page[name] = facts
                for label, pattern in UNRENDERED:
                    for match in list(re.finditer(pattern, prose))[:3]:
                        context_text = prose[max(0, match.start() - 40):match.end() + 40]
                        problems.append(f"unrendered math ({label}): ...{context_text!r}...")
                problems += [f"MathJax error: {text}" for text in facts["mathErrors"]]
                problems += [f"font failed to load: {family}" for family in facts["fontErrors"]]
                problems += [f"image not loaded: {img['src']}" for img in facts["images"]
                             if not img["ok"]]
                problems += [f"request to outside the site (blocked): {url[:100]}"
                             for url in external]
                if "MIT" not in facts["footer"] or "CC BY 4.0" not in facts["footer"]:
                    problems.append("footer does not state the licenses (MIT, CC BY 4.0)")
                if facts["navLinks"] < len(pages):
                    problems.append(f"navigation lists {facts['navLinks']} of {len(pages)} pages")
                expected = (["downloads/student/"] if public
                            else ["downloads/", "downloads/student/"])
                if name in notebook_pages and [link.rsplit("/", 1)[0] + "/" for link in
                                               facts["downloads"]] != expected:
                    problems.append(f"expected the download links {expected} (student version"
                                    f"{'' if public else ', and the notebook with solutions'}), "
                                    f"found {facts['downloads']}")
                if name in widget_pages and not facts["widgetNotes"]:
                    problems.append("widget explorer without the line on how to run it live")
                if name == "index.html":
                    if not facts["downloadCells"]:
                        problems.append("the landing page has no download table")
                    problems += [f"download cell without a link: row {cell['row']!r}"
                                 for cell in facts["downloadCells"] if not cell["links"]]
                if public and name not in DOCUMENTS_THE_MARKERS:
                    problems += solution_problems(facts, secret_lines)
                if screenshots:
                    page.screenshot(path=str(screenshots / (Path(name).stem + ".png")),
                                    full_page=True)
                    if facts["widgetNotes"]:  # a closer look at what stands for the explorer
                        page.locator(".widget-note").first.scroll_into_view_if_needed()
                        page.mouse.wheel(0, -300)
                        page.wait_for_timeout(200)
                        page.screenshot(path=str(screenshots / (Path(name).stem + "-explorer.png")))
                if not quiet:
                    print(f"{name:34s} images {len(facts['images']):3d}  math {facts['math']:4d}  "
                          f"links {len(facts['links']):4d}  problems {len(problems)}")
                failures += [f"{name}: {problem}" for problem in problems]
                page.close()

            # The search box: what a reader types must find the page that treats it, with a
            # snippet of prose (not code, not an "In [20]:" prompt).
            page = context.new_page()
            page.goto(base + "index.html", wait_until="load")
            for number, (query, expected) in enumerate(SEARCHES, 1):
                page.fill("#site-search", query)
                hits = page.eval_on_selector_all(
                    ".search-results a.hit", "as => as.map(a => [a.href, a.textContent])")
                if screenshots:
                    slug = re.sub(r"\W+", "-", query.encode("ascii", "replace").decode()).strip("-")
                    page.screenshot(path=str(screenshots / f"search-{number}-{slug}.png"))
                pages_hit = [urlsplit(href).path.rsplit("/", 1)[-1] for href, _ in hits]
                if not hits or not any(p.startswith(expected) for p in pages_hit):
                    failures.append(f"search for {query!r} does not find "
                                    f"{expected + '*' if expected else 'any page'}: "
                                    f"{pages_hit[:5]}")
                failures += [f"search for {query!r}: a snippet shows a code prompt: {text[:80]!r}"
                             for _, text in hits if re.search(r"\b(In|Out)\s*\[\s*\d*\s*\]:", text)]
                facts_by_page[f"(search {query!r})"] = {"links": [h for h, _ in hits], "ids": []}
                if not quiet:
                    print(f"search {query!r}: {len(hits)} hits, first: "
                          f"{pages_hit[0] if pages_hit else None}")
            page.close()
            browser.close()
    finally:
        server.shutdown()

    # Every link inside the site resolves: the file exists and so does the #anchor.
    ids = {name: set(facts["ids"]) for name, facts in facts_by_page.items()}
    checked = 0
    for name, facts in facts_by_page.items():
        for href in facts["links"]:
            if not href.startswith(base):
                continue
            parts = urlsplit(href)
            target = unquote(parts.path[len(urlsplit(base).path):]) or "index.html"
            checked += 1
            if not (site / target).is_file():
                failures.append(f"{name}: link to missing file {target}")
            elif parts.fragment and target.endswith(".html"):
                # nbconvert writes percent-encoded ids; browsers try the fragment raw and decoded.
                known = ids.get(target, set())
                if parts.fragment not in known and unquote(parts.fragment) not in known:
                    failures.append(f"{name}: link to missing anchor {target}#{parts.fragment}")
    if not quiet:
        print(f"internal links checked: {checked}")
    return failures


# A page with one of each problem: the check must report every kind, or it proves nothing.
BROKEN_BITS = """
<p class="tex2jax_ignore">raw math $x^2 + y$ and a raw \\frac{1}{2}</p>
<img src="missing.png" alt="missing"> <img src="https://example.org/outside.png" alt="outside">
<a href="no-such-page.html">x</a> <a href="index.html#no-such-anchor">y</a>
<script>console.error("self-test: a console error");</script>
<pre>### BEGIN SOLUTION
### END SOLUTION</pre>
<pre>{solution_line}</pre>
<div class="jp-OutputArea-output"><pre>✔ planted_exercise: correct.</pre></div>
"""
PLANTED_DOWNLOAD_ROW = "<tr><td>99 · planted</td><td>page</td><td>student version</td></tr>"
EXPECTED_KINDS = ["unrendered math (a $...$ span", "unrendered math (a TeX command", "image not loaded",
                  "request to outside the site", "link to missing file no-such-page.html",
                  "link to missing anchor index.html#no-such-anchor", "console error",
                  "shows the solution marker", "shows a solution line", "shows a check cell's verdict",
                  "download cell without a link: row '99 · planted",
                  "a notebook with solutions on the public site"]


def self_test(site: Path, chromium: str) -> list[str]:
    """Run the check on a copy of the landing page with planted problems; say what it missed."""
    import html
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        broken = Path(tmp)
        shutil.copytree(site / "assets", broken / "assets")
        shutil.copy2(site / "build-info.json", broken / "build-info.json")
        shutil.copytree(site / "downloads", broken / "downloads")
        if (REPO / "notebooks").is_dir():  # an instructor notebook where only students' belong
            instructor_notebook = next((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
            shutil.copy2(instructor_notebook, broken / "downloads" / "student" / "planted.ipynb")
        info = json.loads((site / "build-info.json").read_text())
        info["edition"] = "public"  # the solution checks run on the public edition only
        (broken / "build-info.json").write_text(json.dumps(info))
        lines = solution_lines(sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")))
        planted = BROKEN_BITS.replace("{solution_line}", html.escape(next(iter(lines), "")))
        index = (site / "index.html").read_text()
        index = index.replace("</main>", planted + "</main>", 1)
        table = index.index('<table class="downloads">')
        index = index[:table] + index[table:].replace("</tbody>", PLANTED_DOWNLOAD_ROW + "</tbody>", 1)
        (broken / "index.html").write_text(index)
        found = check(broken, None, chromium, quiet=True)
    return [kind for kind in EXPECTED_KINDS if not any(kind in f for f in found)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=REPO / "_site")
    parser.add_argument("--screenshots", type=Path, default=REPO / "_site-check" / "screenshots")
    parser.add_argument("--browser", "--chromium", dest="browser", default=None,
                        help="a Chromium-family browser (chromium, chrome, msedge); default: the "
                             "first found on the PATH or in the usual places, or "
                             "$LRP_TEACH_CHROMIUM")
    parser.add_argument("--no-self-test", dest="self_test", action="store_false",
                        help="skip checking the check on a page with planted problems first")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    browser = find_browser(args.browser)
    if browser is None:
        print(f"site-check: {'no browser at ' + args.browser if args.browser else ''}\n"
              f"{HOW_TO_GET_ONE}")
        print("site-check: 0 passed, 1 failed")
        return 1
    if args.self_test and (site / "index.html").exists():
        missed = self_test(site, browser)
        if missed:
            print(f"site-check self-test FAILED: planted problems not reported: {missed}")
            print("site-check: 0 passed, 1 failed")
            return 1
        print(f"self-test: all {len(EXPECTED_KINDS)} kinds of planted problems were reported")
    failures = check(site, args.screenshots, browser)
    pages = sorted(p.name for p in site.glob("*.html"))
    failed = {f.split(":", 1)[0] for f in failures} & set(pages) or ({"(site)"} if failures else set())
    if failures:
        print(f"\nsite check FAILED ({len(failures)} problems):")
        for failure in failures:
            print("  " + failure)
    else:
        print(f"site check passed; screenshots in {args.screenshots}")
    print(f"site-check: {len(pages) - len(failed & set(pages))} passed, {len(failed)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
