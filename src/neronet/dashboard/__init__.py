"""``neronet dashboard``: a live, read-only web page over runs, studies and experiments.

sources (what a path is and which runs it holds), snapshot (a run as JSON, read
only when it changed, the last good state kept when a read fails), view (a path's
runs, the curves across them, an experiment's post-search tables), detail (an
individual's diagram and learning unit), server (``http.server`` in a thread; no
URL names a file), static/ (the page: HTML, CSS and JavaScript that draws its
charts as SVG, so it runs offline).
"""

from neronet.dashboard.server import Dashboard

__all__ = ["Dashboard"]
