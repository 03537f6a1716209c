"""The course website (tools/build_site.py) and the licensing files. No TensorFlow, no browser:
the browser check is tools/check_site.py (`make site-check`, run by .ci/run)."""

import importlib.util
import html as html_module
import json
import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402

NOTEBOOKS = [ROOT / "notebooks" / "01_taylor_decomposition.ipynb",
             ROOT / "notebooks" / "02_root_points.ipynb"]   # 02 has a widget explorer


# Without the [site] extra (students' `make test`), MathJax's files are not there: the pages are
# still built and tested, with an empty MathJax folder; the MathJax assertions need the extra.
HAVE_MATHJAX = importlib.util.find_spec("mathjax") is not None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "_site"
    copy_mathjax = build_site.copy_mathjax
    if not HAVE_MATHJAX:
        build_site.copy_mathjax = lambda dest: dest.mkdir(parents=True)
    try:
        summary = build_site.build(out, NOTEBOOKS)
    finally:
        build_site.copy_mathjax = copy_mathjax
    return out, summary


def _pages(out):
    return {p.name: p.read_text() for p in out.glob("*.html")}


def test_every_page_is_built_with_navigation_and_license_footer(site):
    out, summary = site
    pages = _pages(out)
    assert set(pages) == {"index.html", "01_taylor_decomposition.html", "02_root_points.html",
                          "instructors.html", "data.html", "license.html"}
    assert summary["pages"][0] == "index.html"
    for name, html in pages.items():
        footer = html.split('<footer class="site-footer">', 1)[1]
        assert "MIT License" in footer and "CC BY 4.0" in footer, name
        assert "data/README.md" in footer, name
        nav = html.split('<nav class="site-nav"', 1)[1].split("</nav>", 1)[0]
        assert all(f'href="{other}"' in nav for other in pages), f"{name}: navigation incomplete"


def _graded(cell) -> bool:
    grading = cell.metadata.get("nbgrader", {})
    return bool(grading.get("solution") or grading.get("grade"))


def test_notebook_page_shows_the_committed_outputs(site):
    out, _ = site
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    page = (out / "01_taylor_decomposition.html").read_text()
    pngs = [o["data"]["image/png"] for c in nb.cells if c.cell_type == "code" and not _graded(c)
            for o in c.outputs if "image/png" in o.get("data", {})]
    assert pngs, "notebook 01 should have figures"
    for png in pngs:   # each committed figure is embedded byte for byte
        assert png.strip().replace("\n", "")[:200] in page.replace("\n", "")
    streams = [o["text"] for c in nb.cells if c.cell_type == "code" and not _graded(c)
               for o in c.outputs if o.get("output_type") == "stream"]
    assert any(line.strip() and line.strip() in page for line in streams[0].splitlines())


def test_the_site_needs_no_internet(site):
    out, _ = site
    for name, html in _pages(out).items():
        loaded = re.findall(r'<(?:script|link|img)\b[^>]*(?:src|href)="([^"]+)"', html)
        outside = [url for url in loaded if re.match(r"(https?:)?//", url)]
        assert not outside, f"{name} loads {outside}"
    css = (out / "assets" / "notebook.css").read_text() + (out / "assets" / "site.css").read_text()
    assert "@import" not in css and "fonts.googleapis" not in css
    if not HAVE_MATHJAX:
        pytest.skip("the [site] extra (MathJax's files) is not installed: make site installs it")
    mathjax = out / "assets" / "mathjax"
    assert (mathjax / "tex-chtml-full.js").stat().st_size > 500_000
    assert len(list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) >= 20
    assert (mathjax / "LICENSE").exists()


def _solution_lines(path):
    """Lines between the solution markers in the instructor notebook."""
    lines = []
    for cell in nbformat.read(path, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "END SOLUTION" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) > 12:
                lines.append(line.strip())
    return lines


def test_public_site_shows_no_solution_and_no_check_verdict(site):
    out, summary = site
    assert summary["edition"] == "public"
    for path in NOTEBOOKS:
        page = (out / (path.stem + ".html")).read_text()
        assert "BEGIN SOLUTION" not in page and "END SOLUTION" not in page
        text = html_module.unescape(re.sub(r"<[^>]+>", "", page))  # pygments splits code in spans
        assert "raise NotImplementedError()" in text       # the task is there, as a stub
        solution = _solution_lines(path)
        assert solution and not [line for line in solution if line in text], path.name
        assert ": correct." not in text                      # no check cell's verdict
    assert not (out / "downloads" / NOTEBOOKS[1].name).exists()   # no instructor notebook
    index = (out / "index.html").read_text()
    table = index.split('<table class="downloads">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>.*?</tr>", table)
    assert len(rows) == len(NOTEBOOKS)
    for row, path in zip(rows, NOTEBOOKS):                  # a working link in every row
        assert f'<a href="downloads/student/{path.name}">' in row
        assert f'<a href="{path.stem}.html">' in row


def test_instructor_site_shows_the_solutions_and_offers_both_downloads(tmp_path):
    copy_mathjax = build_site.copy_mathjax
    build_site.copy_mathjax = lambda dest: dest.mkdir(parents=True)
    try:
        summary = build_site.build(tmp_path / "_site-instructor", NOTEBOOKS[:1], instructor=True)
    finally:
        build_site.copy_mathjax = copy_mathjax
    out = tmp_path / "_site-instructor"
    assert summary["edition"] == "instructor"
    page = (out / "01_taylor_decomposition.html").read_text()
    assert "BEGIN SOLUTION" in page
    assert (out / "downloads" / NOTEBOOKS[0].name).read_bytes() == NOTEBOOKS[0].read_bytes()
    assert 'href="downloads/01_taylor_decomposition.ipynb"' in (out / "index.html").read_text()
    assert '<meta name="lrp-teach-edition" content="instructor">' in page


def test_site_picks_up_every_numbered_notebook(tmp_path):
    """A new notebooks/NN_*.ipynb gets a page without touching the build script."""
    (tmp_path / "notebooks").mkdir()
    for name in ("06_new.ipynb", "00_a.ipynb", "scratch.ipynb", "6_bad.ipynb"):
        (tmp_path / "notebooks" / name).write_text("{}")
    assert [p.name for p in build_site.course_notebooks(tmp_path)] == ["00_a.ipynb", "06_new.ipynb"]
    assert build_site.course_notebooks() == sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_downloads_are_the_student_versions(site):
    out, _ = site
    page = (out / "02_root_points.html").read_text()
    assert 'href="downloads/02_root_points.ipynb"' not in page
    assert 'href="downloads/student/02_root_points.ipynb"' in page
    student = nbformat.read(out / "downloads" / "student" / "02_root_points.ipynb", as_version=4)
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(not c.outputs for c in code), "student version must have no outputs"
    assert any("raise NotImplementedError()" in c.source for c in code)
    assert not any("### BEGIN SOLUTION" in c.source for c in code)


def test_widget_explorer_says_how_to_run_it_live(site):
    out, summary = site
    assert summary["widget_outputs_replaced"] == {"01_taylor_decomposition.ipynb": 0,
                                                  "02_root_points.ipynb": 1}
    page = (out / "02_root_points.html").read_text()
    assert page.count('class="widget-note"') == 1
    assert "course.py lab" in page
    assert "VBox(children=" not in page   # the widget's text repr is not what a reader needs


def _widget_output(extra):
    data = {build_site.WIDGET_MIME: {"model_id": "x", "version_major": 2, "version_minor": 0},
            "text/plain": "VBox(...)"}
    data.update(extra)
    return nbformat.v4.new_output("display_data", data=data)


def test_widget_output_with_a_static_image_keeps_the_image():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("explorer")
    cell.outputs = [_widget_output({"image/png": "iVBORw0KGgo="})]
    nb.cells = [cell]
    assert build_site.static_widget_outputs(nb) == 1
    html = cell.outputs[0]["data"]["text/html"]
    assert '<img src="data:image/png;base64,iVBORw0KGgo="' in html
    assert build_site.LIVE_LINE in html and build_site.NO_FIGURE_LINE not in html


def test_widget_output_without_image_says_so():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("explorer")
    cell.outputs = [_widget_output({})]
    nb.cells = [cell]
    build_site.static_widget_outputs(nb)
    html = cell.outputs[0]["data"]["text/html"]
    assert build_site.NO_FIGURE_LINE in html and "<img" not in html


def test_search_index_covers_the_notebook_sections(site):
    out, _ = site
    text = (out / "assets" / "search-index.js").read_text()
    entries = json.loads(text.split("=", 1)[1].rstrip().rstrip(";"))
    by_page = {e["page"] for e in entries}
    assert {"01_taylor_decomposition.html", "02_root_points.html", "index.html"} <= by_page
    page = (out / "02_root_points.html").read_text()
    for entry in entries:   # every anchor a hit points to exists on its page
        if entry["page"] == "02_root_points.html" and entry["anchor"]:
            assert f'id="{entry["anchor"]}"' in page
    assert any("root point" in e["text"].lower() for e in entries
               if e["page"] == "02_root_points.html")


def test_landing_page_is_the_readme_introduction(site):
    out, _ = site
    index = (out / "index.html").read_text()
    assert "Layer-wise Relevance Propagation (LRP)" in index
    assert 'href="01_taylor_decomposition.html"' in index   # README's table links to the page
    assert "notebooks/01_taylor_decomposition.ipynb" not in index
    assert "Two commands" not in index                      # stops before the setup part


def test_build_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="was not written by this script"):
        build_site.build(tmp_path, NOTEBOOKS)
    assert (tmp_path / "precious.txt").exists()


def test_github_slug_matches_github_anchors():
    assert build_site.github_slug("Grading with nbgrader (optional)") == \
        "grading-with-nbgrader-optional"
    assert build_site.github_slug("CC BY 4.0") == "cc-by-40"


# --- licensing ---------------------------------------------------------------------------------

def test_license_files_hold_the_real_texts():
    mit = (ROOT / "LICENSE").read_text()
    assert mit.startswith("MIT License\n\nCopyright (c) 2026 The lrp-teach contributors\n")
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in mit
    cc = (ROOT / "LICENSE-CC-BY-4.0").read_text()
    assert cc.startswith("Creative Commons Attribution 4.0 International")
    for section in ("Section 1 – Definitions.", "Section 3 – License Conditions.",
                    "Section 8 – Interpretation."):
        assert section in cc


def test_pyproject_states_the_licenses_as_spdx():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    assert project["license"] == "MIT AND CC-BY-4.0"
    assert all((ROOT / f).is_file() for f in project["license-files"])
    requires = " ".join(data["build-system"]["requires"])
    version = re.search(r"setuptools>=(\d+)", requires)
    assert version and int(version.group(1)) >= 77, "SPDX license needs setuptools >= 77"
    assert "site" in project["optional-dependencies"]
    dev = " ".join(project["optional-dependencies"]["dev"])
    assert "mathjax" not in dev, "students' make test must not need the site's dependencies"
    site = " ".join(project["optional-dependencies"]["site"])
    assert "django-static-mathjax" in site and "playwright" in site


def test_citation_cff_is_complete_and_agrees_with_pyproject():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0"
    assert cff["message"] and cff["title"] and cff["authors"]
    assert cff["version"] == project["version"]
    assert " AND ".join(cff["license"]) == project["license"]


def test_readme_states_what_may_be_reused_how():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## License", 1)[1].split("\n## ", 1)[0]
    for needle in ("MIT License", "CC BY 4.0", "data/README.md", "CITATION.cff"):
        assert needle in section


def test_site_output_is_git_ignored_and_checked_in_ci():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "_site/" in ignored and "_site-check/" in ignored
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*phase \"[^\"]*make site\" make site( \|\| failed=1)?$", ci, re.M)
    assert re.search(r"^\s*phase \"[^\"]*make site-check\" make site-check\b", ci, re.M)
    assert not re.search(r"^[^#\n]*\bplaywright install", ci, re.M)
