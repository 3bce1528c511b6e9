"""neurodyn.reports: what the application writes - documents, the gallery, plots, tables - atomically.

* :mod:`~neurodyn.reports.files` - atomic file writes with the user's permissions, CSV and JSON.
* :mod:`~neurodyn.reports.document` - the LaTeX derivation document of an activation, and its PDF.
* :mod:`~neurodyn.reports.gallery` - ``derivations/``: a document per built-in activation.
* :mod:`~neurodyn.reports.plots` - the phase diagram and the q-map and c-map curves (matplotlib).
"""
