#!/usr/bin/env python
"""Build the course website from the committed, executed notebooks (nothing is re-executed).

    python course.py site                  # = make site: the public site in _site/
    python course.py site --instructor     # = make site-instructor: with solutions, in
                                           #   _site-instructor/ (never publish this one)

Writes a static site that reads offline (open ``_site/index.html`` in a browser, or serve it):

- ``index.html``: the README's introduction and notebook table, then the downloads;
- one page per ``notebooks/NN_*.ipynb`` (every one that exists: a new notebook appears by
  itself): prose, code, outputs and figures as committed, rendered by nbconvert (Jupyter's own
  renderer, JupyterLab's styles). The PUBLIC site shows the student version of each exercise:
  the stub instead of the solution, the check cell without its output (tools/make_student.py
  ``public_notebook``); its downloads are the student versions only. The instructor site
  (``--instructor``) shows the notebooks as committed, solutions included, and offers both;
- ``instructors.html`` (INSTRUCTORS.md), ``data.html`` (data/README.md: the photos' licenses),
  ``license.html`` (the two license texts);
- ``downloads/``: each notebook as committed and its student version (tools/make_student.py);
- ``assets/``: the styles, the search (``search.js`` + an index built here), and MathJax 3
  with its fonts, copied from the ``django-static-mathjax`` package: nothing is loaded from a CDN.

Widget explorers cannot run in a static page (no kernel). Their output is replaced by the static
figure the output carries (if any) and one line saying how to run the explorer live.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune

REPO = Path(__file__).resolve().parent.parent
SITE_SRC = REPO / "site"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Richest static representation first: what a widget output may carry besides its view.
STATIC_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "text/html")
LIVE_LINE = ("Interactive explorer: its controls need a running kernel, so this page shows it "
             "still. To use it, run the notebook in JupyterLab: <code>make lab</code> (Windows: "
             "<code>py -3.11 course.py lab</code>).")
NO_FIGURE_LINE = ("The saved notebook stores no picture of this explorer (its widget state is "
                  "stripped), so there is no figure to show here.")
FOOTER_LICENSE = (
    'Code: <a href="license.html#mit">MIT License</a>. Course text, notebooks\' prose and figures: '
    '<a href="license.html#cc-by-40">CC BY 4.0</a>. The photos and data files in '
    '<code>data/</code> keep their own licenses (<a href="data.html">data/README.md</a>).')


def github_slug(text: str) -> str:
    """The anchor GitHub gives a Markdown heading (so that links written for GitHub work here)."""
    text = re.sub(r"<[^>]+>", "", html.unescape(text)).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def markdown_page_html(markdown: str) -> str:
    """Markdown (README, INSTRUCTORS.md) to HTML, headings with GitHub's anchors."""
    body = markdown2html_mistune(markdown)

    def heading(match: re.Match) -> str:
        level, inner = match.group(1), match.group(3)
        inner = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", inner)
        return f'<h{level} id="{github_slug(inner)}">{inner}</h{level}>'

    return re.sub(r'<h([1-6]) id="([^"]*)">(.*?)</h\1>', heading, body, flags=re.S)


def rewrite_repo_links(body: str, link_map: dict[str, str],
                       site_files: frozenset[str] = frozenset()) -> str:
    """Links to repository files: to their page on the site, else to plain text (not on the site).
    Links to the site's own files (``site_files``: pages, downloads) stay as they are."""
    def fix(match: re.Match) -> str:
        href, text = match.group(1), match.group(2)
        target = href.split("#")[0]
        if re.match(r"^(https?:|mailto:|#)", href) or target in site_files:
            return match.group(0)
        if target in link_map:
            fragment = href[len(target):]
            return f'<a href="{link_map[target]}{fragment}">{text}</a>'
        return text  # a file of the repository that the site does not carry
    return re.sub(r'<a href="([^"]*)">(.*?)</a>', fix, body, flags=re.S)


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return fallback


def static_widget_outputs(nb: nbformat.NotebookNode) -> int:
    """Replace each widget view output by its static fallback (if any) and the live-run line.

    Returns the number of widget outputs replaced.
    """
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        cell_has_figure = any(m in o.get("data", {}) for o in outputs for m in STATIC_MIMES[:3]
                              if WIDGET_MIME not in o.get("data", {}))
        for index, output in enumerate(outputs):
            data = output.get("data", {})
            if WIDGET_MIME not in data:
                continue
            parts = []
            for mime in STATIC_MIMES:
                if mime in data:
                    value = data[mime]
                    value = "".join(value) if isinstance(value, list) else value
                    if mime.startswith("image/svg"):
                        parts.append(value)
                    elif mime.startswith("image/"):
                        parts.append(f'<img src="data:{mime};base64,{value.strip()}" '
                                     f'alt="the explorer\'s initial figure">')
                    else:
                        parts.append(value)
                    break
            note = LIVE_LINE if (parts or cell_has_figure) else f"{LIVE_LINE} {NO_FIGURE_LINE}"
            parts.append(f'<p class="widget-note">{note}</p>')
            outputs[index] = nbformat.v4.new_output(
                "display_data", data={"text/html": "\n".join(parts)})
            replaced += 1
    return replaced


class _SectionCollector(HTMLParser):
    """Splits a rendered page into (heading id, heading text, prose) sections for the search.

    Only prose is indexed: code cells (their input area with the ``In [20]:`` prompt) and cell
    outputs are skipped, so a hit's snippet is a sentence a reader can use."""

    SKIP = {"script", "style", "svg", "mjx-container", "nav", "header", "footer"}
    SKIP_CLASSES = {"jp-InputPrompt", "jp-OutputPrompt", "jp-CodeMirrorEditor", "highlight",
                    "jp-OutputArea", "jp-Cell-outputWrapper", "page-downloads"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections = [["", "", []]]
        self._skip_depth = 0
        self._open: list[tuple[str, bool]] = []  # open elements: (tag, starts a skipped region)
        self._heading = None

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        skipping = tag in self.SKIP or bool(classes & self.SKIP_CLASSES)
        self._open.append((tag, skipping))
        if skipping:
            self._skip_depth += 1
        elif re.fullmatch(r"h[1-4]", tag) and not self._skip_depth:
            self._heading = [dict(attrs).get("id", ""), []]

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if any(name == tag for name, _ in self._open):  # closes it (and any left unclosed)
            while self._open:
                name, skipping = self._open.pop()
                self._skip_depth -= skipping
                if name == tag:
                    break
        if (self._heading is not None and not self._skip_depth
                and re.fullmatch(r"h[1-4]", tag)):
            anchor, words = self._heading
            self.sections.append([anchor, " ".join("".join(words).split()).rstrip("¶"), []])
            self._heading = None

    def handle_data(self, data):
        if self._skip_depth:
            return
        if self._heading is not None:
            self._heading[1].append(data)
        else:
            self.sections[-1][2].append(data)


def search_entries(page: str, title: str, rendered: str) -> list[dict]:
    main = rendered.split("<main", 1)[-1]
    collector = _SectionCollector()
    collector.feed(main)
    entries = []
    for anchor, heading, words in collector.sections:
        text = " ".join("".join(words).split())
        if not (heading or text):
            continue
        entries.append({"page": page, "title": title, "anchor": anchor, "heading": heading,
                        "text": text[:3000]})
    return entries


def copy_mathjax(dest: Path) -> None:
    import mathjax  # the django-static-mathjax package: MathJax 3.2.2's es5 build, no Django

    source = Path(mathjax.__file__).parent / "static" / "mathjax"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "LICENSE", dest / "LICENSE")
    shutil.copy2(source / "es5" / "tex-chtml-full.js", dest / "tex-chtml-full.js")
    shutil.copytree(source / "es5" / "output" / "chtml" / "fonts" / "woff-v2",
                    dest / "output" / "chtml" / "fonts" / "woff-v2")


def notebook_css() -> str:
    """JupyterLab's styles as nbconvert ships them (light theme), for the notebook pages."""
    exporter = HTMLExporter(template_name="lab")
    static = None
    for base in exporter.template_paths:
        if (Path(base) / "static" / "index.css").exists():
            static = Path(base) / "static"
            break
    if static is None:
        raise SystemExit("nbconvert's lab template (static/index.css) was not found: "
                         "reinstall nbconvert (pip install 'nbconvert>=7').")
    return (static / "index.css").read_text() + "\n" + (static / "theme-light.css").read_text()


PUBLIC, INSTRUCTOR = "public", "instructor"


def course_notebooks(repo: Path = REPO) -> list[Path]:
    """Every ``notebooks/NN_*.ipynb``: a new notebook gets its page without editing this script."""
    return sorted((repo / "notebooks").glob(NOTEBOOK_PATTERN))


def build(out: Path, notebooks: list[Path] | None = None, instructor: bool = False) -> dict:
    """Write the site into ``out``. The public site (default) carries no solution anywhere:
    its notebook pages are ``make_student.public_notebook`` and its downloads the student
    versions. ``instructor=True`` builds the pages from the notebooks as committed."""
    started = time.perf_counter()
    edition = INSTRUCTOR if instructor else PUBLIC
    notebooks = notebooks or course_notebooks()
    if not notebooks:
        raise SystemExit("no notebooks/NN_*.ipynb found: run this from a clone of the course.")
    if out.exists():
        if not (out / ".lrp-teach-site").exists():
            raise SystemExit(f"{out} exists and was not written by this script; "
                             "choose another --out or remove it.")
        shutil.rmtree(out)
    assets = out / "assets"
    (out / "downloads" / "student").mkdir(parents=True)
    assets.mkdir()
    (out / ".lrp-teach-site").write_text("written by tools/build_site.py\n")
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve files as they are

    shutil.copy2(SITE_SRC / "site.css", assets / "site.css")
    shutil.copy2(SITE_SRC / "search.js", assets / "search.js")
    (assets / "notebook.css").write_text(notebook_css())
    copy_mathjax(assets / "mathjax")

    # Student versions, with the course's own tool (solutions removed, outputs cleared).
    if str(REPO / "tools") not in sys.path:
        sys.path.insert(0, str(REPO / "tools"))
    from make_student import make_student, public_notebook
    with tempfile.TemporaryDirectory() as tmp:
        student_dir = Path(tmp) / "student"
        make_student(notebooks, student_dir)
        for path in notebooks:
            shutil.copy2(student_dir / path.name, out / "downloads" / "student" / path.name)
    if instructor:
        for path in notebooks:
            shutil.copy2(path, out / "downloads" / path.name)

    loaded = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        loaded.append((path, nb if instructor else public_notebook(nb)))
    pages = [{"file": "index.html", "label": "Home", "title": "lrp-teach"}]
    for path, nb in loaded:
        title = notebook_title(nb, path.stem)
        number = path.stem[:2]
        label = title if title.startswith(number) else f"{number} · {title}"
        pages.append({"file": path.stem + ".html", "label": label, "title": title,
                      "notebook": path.name})
    pages += [{"file": "instructors.html", "label": "For instructors", "title": "For instructors"},
              {"file": "data.html", "label": "Data and its licenses", "title": "Data files"},
              {"file": "license.html", "label": "License", "title": "License"}]
    link_map = {f"notebooks/{p.name}": p.stem + ".html" for p in notebooks}
    link_map.update({"INSTRUCTORS.md": "instructors.html", "data/README.md": "data.html",
                     "LICENSE": "license.html#mit", "LICENSE-CC-BY-4.0": "license.html#cc-by-40"})
    site_files = frozenset([page["file"] for page in pages]
                           + [str(p.relative_to(out).as_posix())
                              for p in (out / "downloads").rglob("*.ipynb")])

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(SITE_SRC)), autoescape=False)
    layout = env.get_template("page.html.j2")
    search_index: list[dict] = []

    def write(page: dict, body: str) -> None:
        position = pages.index(page)
        rendered = layout.render(
            page=page, pages=pages, body=body, footer=FOOTER_LICENSE, edition=edition,
            previous=pages[position - 1] if position > 0 else None,
            next=pages[position + 1] if position + 1 < len(pages) else None)
        (out / page["file"]).write_text(rendered)
        search_index.extend(search_entries(page["file"], page["title"], rendered))

    # Landing page: the README's introduction and notebook table (up to its setup instructions).
    readme = (REPO / "README.md").read_text()
    intro = readme.split("\n## Two commands", 1)[0]
    landing = intro + "\n\n" + (SITE_SRC / "landing_extra.md").read_text().replace(
        "{{downloads}}", downloads_table(pages, instructor))
    write(pages[0], rewrite_repo_links(markdown_page_html(landing), link_map, site_files))

    exporter = HTMLExporter(template_name="lab", extra_template_paths=[str(SITE_SRC)],
                            template_file="notebook_body.html.j2")
    exporter.exclude_input_prompt = False
    widgets_replaced = {}
    highlight_css: set[str] = set()  # pygments' styles for the code cells, as nbconvert inlines them
    for (path, nb), page in zip(loaded, pages[1:]):
        widgets_replaced[path.name] = static_widget_outputs(nb)
        body, resources = exporter.from_notebook_node(
            nb, resources={"metadata": {"name": path.stem}})
        highlight_css.update(resources.get("inlining", {}).get("css", []))
        write(page, page_downloads(path.name, instructor)
              + rewrite_repo_links(body, link_map, site_files))

    (assets / "highlight.css").write_text("\n".join(sorted(highlight_css)))
    for source, page in ((REPO / "INSTRUCTORS.md", pages[-3]), (REPO / "data" / "README.md",
                                                                 pages[-2])):
        write(page, rewrite_repo_links(markdown_page_html(source.read_text()), link_map,
                                       site_files))
    license_body = (SITE_SRC / "license.md").read_text()
    license_html = markdown_page_html(license_body)
    for name, anchor in (("LICENSE", "mit-text"), ("LICENSE-CC-BY-4.0", "cc-by-40-text")):
        # The texts verbatim; hard-wrapped lines joined into paragraphs so that they reflow.
        paragraphs = re.split(r"\n\s*\n", (REPO / name).read_text().strip())
        text = "\n".join(f"<p>{html.escape(' '.join(p.split()))}</p>" for p in paragraphs)
        license_html = license_html.replace(
            f"<p>{{{{{name}}}}}</p>", f'<div class="license-text" id="{anchor}">{text}</div>')
    write(pages[-1], rewrite_repo_links(license_html, link_map, site_files))

    (assets / "search-index.js").write_text(
        "window.LRP_SEARCH_INDEX = " + json.dumps(search_index, ensure_ascii=False) + ";\n")
    summary = {"edition": edition, "pages": [p["file"] for p in pages],
               "notebooks": [p.name for p in notebooks],
               "widget_outputs_replaced": widgets_replaced,
               "seconds": round(time.perf_counter() - started, 1)}
    (out / "build-info.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def downloads_table(pages: list[dict], instructor: bool) -> str:
    """The landing page's table: each notebook's page and its download(s), as HTML links (an
    HTML block inside the Markdown, so that no Markdown step can lose a link)."""
    head = "<th>download</th>"
    rows = []
    for page in pages:
        if "notebook" not in page:
            continue
        name = page["notebook"]
        links = [f'<a href="downloads/student/{name}">student version</a> (exercises to solve)']
        if instructor:
            links.insert(0, f'<a href="downloads/{name}">with solutions and outputs</a>')
        rows.append(f'<tr><td>{html.escape(page["label"])}</td>'
                    f'<td><a href="{page["file"]}">page</a></td><td>{" · ".join(links)}</td></tr>')
    return ('<table class="downloads">\n<thead><tr><th>notebook</th><th>read it here</th>'
            f"{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>")


def page_downloads(name: str, instructor: bool) -> str:
    student = f'<a href="downloads/student/{name}">student version</a> (exercises to solve)'
    if instructor:
        return (f'<p class="page-downloads">Download: <a href="downloads/{name}">this notebook'
                f"</a> (with solutions and outputs) · {student}. Instructor edition: this page "
                "shows the solutions; do not publish it.</p>")
    return (f'<p class="page-downloads">Download: {student}. This page shows the saved outputs '
            "(nothing was re-run to make it); each exercise shows the task, not its solution: "
            "solve it in JupyterLab and run the check cell under it.</p>")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructor", action="store_true",
                        help="the instructor edition: pages WITH solutions (default folder "
                             "_site-instructor). Never publish it.")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: _site, or _site-instructor; git-ignored)")
    args = parser.parse_args(argv)
    args.out = args.out or REPO / ("_site-instructor" if args.instructor else "_site")
    summary = build(args.out.resolve(), instructor=args.instructor)
    print(f"site ({summary['edition']} edition): {len(summary['pages'])} pages in {args.out} ({summary['seconds']} s); "
          f"widget outputs shown statically: {summary['widget_outputs_replaced']}")
    print(f"open {args.out / 'index.html'} in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
