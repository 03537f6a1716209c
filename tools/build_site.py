#!/usr/bin/env python
"""Build the course website from the committed, executed notebooks (nothing is re-executed).

    python tools/build_site.py [--out _site]          # what `make site` runs

Writes a static site that reads offline (open ``_site/index.html`` in a browser, or serve it):

- ``index.html``: the README's introduction and notebook table, then the downloads;
- one page per ``notebooks/NN_*.ipynb``: prose, code, outputs and figures exactly as committed,
  rendered by nbconvert (Jupyter's own renderer, JupyterLab's styles);
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


def rewrite_repo_links(body: str, link_map: dict[str, str]) -> str:
    """Links to repository files: to their page on the site, else to plain text (not on the site)."""
    def fix(match: re.Match) -> str:
        href, text = match.group(1), match.group(2)
        if re.match(r"^(https?:|mailto:|#)", href):
            return match.group(0)
        target = href.split("#")[0]
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
    """Splits a rendered page into (heading id, heading text, text) sections for the search."""

    SKIP = {"script", "style", "svg", "mjx-container", "nav", "header", "footer"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections = [["", "", []]]
        self._skip_depth = 0
        self._heading = None

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip_depth += 1
        elif re.fullmatch(r"h[1-4]", tag) and not self._skip_depth:
            self._heading = [dict(attrs).get("id", ""), []]

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._heading is not None and re.fullmatch(r"h[1-4]", tag):
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


def build(out: Path, notebooks: list[Path] | None = None) -> dict:
    started = time.perf_counter()
    notebooks = notebooks or sorted((REPO / "notebooks").glob(NOTEBOOK_PATTERN))
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
    sys.path.insert(0, str(REPO / "tools"))
    from make_student import make_student
    with tempfile.TemporaryDirectory() as tmp:
        student_dir = Path(tmp) / "student"
        make_student(notebooks, student_dir)
        for path in notebooks:
            shutil.copy2(student_dir / path.name, out / "downloads" / "student" / path.name)
    for path in notebooks:
        shutil.copy2(path, out / "downloads" / path.name)

    loaded = [(path, nbformat.read(path, as_version=4)) for path in notebooks]
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

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(SITE_SRC)), autoescape=False)
    layout = env.get_template("page.html.j2")
    search_index: list[dict] = []

    def write(page: dict, body: str) -> None:
        position = pages.index(page)
        rendered = layout.render(
            page=page, pages=pages, body=body, footer=FOOTER_LICENSE,
            previous=pages[position - 1] if position > 0 else None,
            next=pages[position + 1] if position + 1 < len(pages) else None)
        (out / page["file"]).write_text(rendered)
        search_index.extend(search_entries(page["file"], page["title"], rendered))

    # Landing page: the README's introduction and notebook table (up to its setup instructions).
    readme = (REPO / "README.md").read_text()
    intro = readme.split("\n## Two commands", 1)[0]
    downloads = ["| notebook | read it here | download |", "|---|---|---|"]
    for page in pages:
        if "notebook" in page:
            name = page["notebook"]
            downloads.append(f"| {page['label']} | [page]({page['file']}) | "
                             f"[with solutions and outputs](downloads/{name}) · "
                             f"[student version](downloads/student/{name}) |")
    landing = intro + "\n\n" + (SITE_SRC / "landing_extra.md").read_text().replace(
        "{{downloads}}", "\n".join(downloads))
    write(pages[0], rewrite_repo_links(markdown_page_html(landing), link_map))

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
        banner = (f'<p class="page-downloads">Download: <a href="downloads/{path.name}">'
                  f"this notebook</a> (with solutions and outputs) · "
                  f'<a href="downloads/student/{path.name}">student version</a> '
                  "(exercises to solve). This page shows the saved outputs; nothing was "
                  "re-run to make it.</p>")
        write(page, banner + rewrite_repo_links(body, link_map))

    (assets / "highlight.css").write_text("\n".join(sorted(highlight_css)))
    for source, page in ((REPO / "INSTRUCTORS.md", pages[-3]), (REPO / "data" / "README.md",
                                                                 pages[-2])):
        write(page, rewrite_repo_links(markdown_page_html(source.read_text()), link_map))
    license_body = (SITE_SRC / "license.md").read_text()
    license_html = markdown_page_html(license_body)
    for name, anchor in (("LICENSE", "mit-text"), ("LICENSE-CC-BY-4.0", "cc-by-40-text")):
        # The texts verbatim; hard-wrapped lines joined into paragraphs so that they reflow.
        paragraphs = re.split(r"\n\s*\n", (REPO / name).read_text().strip())
        text = "\n".join(f"<p>{html.escape(' '.join(p.split()))}</p>" for p in paragraphs)
        license_html = license_html.replace(
            f"<p>{{{{{name}}}}}</p>", f'<div class="license-text" id="{anchor}">{text}</div>')
    write(pages[-1], rewrite_repo_links(license_html, link_map))

    (assets / "search-index.js").write_text(
        "window.LRP_SEARCH_INDEX = " + json.dumps(search_index, ensure_ascii=False) + ";\n")
    summary = {"pages": [p["file"] for p in pages], "widget_outputs_replaced": widgets_replaced,
               "seconds": round(time.perf_counter() - started, 1)}
    (out / "build-info.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "_site",
                        help="output folder (default: _site, git-ignored)")
    args = parser.parse_args(argv)
    summary = build(args.out.resolve())
    print(f"site: {len(summary['pages'])} pages in {args.out} ({summary['seconds']} s); "
          f"widget outputs shown statically: {summary['widget_outputs_replaced']}")
    print(f"open {args.out / 'index.html'} in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
