"""A static picture inside the explorers' output, for every place where a widget cannot be live.

An explorer is displayed as one mime bundle. Besides ipywidgets' own
``application/vnd.jupyter.widget-view+json`` (the live controls) it carries ``image/png``: the
explorer's figure at the moment it was displayed, with one line under it telling the reader to
run the cell (drawn into the picture, so every viewer that shows the picture shows the line), and
that line as ``text/plain``. Which entry a viewer shows:

- JupyterLab with a kernel that knows the widget: the live controls (for trusted outputs the
  widget renderer ranks first).
- JupyterLab, notebook not trusted (a fresh clone: the course as committed): only *safe* renderers
  may run; the widget renderer is not one, the image renderer is, so it shows the picture
  (students used to see ``VBox(children=(ToggleButtons(...``, the text/plain).
- nbconvert (HTML export, nbviewer): ``WidgetsDataTypeFilter`` skips the widget view when the
  notebook has no saved widget state (the course strips it), and takes the picture.
- myst-nb (Sphinx / Jupyter Book) ranks the widget view first whether or not there is widget state,
  so a course website must drop it: ``nb_mime_priority_overrides = [("html",
  "application/vnd.jupyter.widget-view+json", None)]`` (see INSTRUCTORS.md).
- JupyterLab, trusted notebook reopened with a new kernel (you ran it, saved, came back): the
  widget renderer still ranks first and says "Error displaying widget: model not found" -- that is
  ipywidgets' behaviour (its renderer does not fall back to other entries); re-run the cell.

One picture and no ``text/html`` copy of it: the committed notebooks stay small.
"""

from __future__ import annotations

import base64
import io
from typing import Callable

import ipywidgets as widgets

RUN_THE_CELL = "Static picture: run this cell (Jupyter, with the course's kernel) to use the controls."


def figure_png(draw: Callable, figsize: tuple[float, float], caption: str = RUN_THE_CELL,
               dpi: float | None = None) -> bytes:
    """PNG of ``draw(figure)`` with ``caption`` under it, on a Figure with its own Agg canvas
    (pyplot is not touched, so nothing else in the notebook changes or gets drawn twice).
    ``dpi``: the notebook's ``figure.dpi`` by default, so the picture has the live figure's size."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = dpi or matplotlib.rcParams["figure.dpi"]
    figure = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)
    draw(figure)
    if caption:
        figure.text(0.5, 0.0, caption, ha="center", va="top", style="italic", color="#444444")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")  # as the inline backend
    return buffer.getvalue()


class ExplorerBox(widgets.VBox):
    """A VBox whose mime bundle also carries a static picture and a "run this cell" line.

    ``static_figure`` is a callable returning PNG bytes of the explorer's current setting; it is
    called each time the box is displayed.
    """

    def __init__(self, children, static_figure: Callable[[], bytes], title: str, **kwargs):
        super().__init__(children, **kwargs)
        self._static_figure = static_figure
        self._title = title

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data is None:  # a closed widget: ipywidgets shows nothing either
            return None
        data["text/plain"] = f"{self._title}. {RUN_THE_CELL}"
        data["image/png"] = base64.b64encode(self._static_figure()).decode("ascii")
        return data
