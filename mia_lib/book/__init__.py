"""The book machinery: execute the notebooks, render and check the Jupyter Book.

``params`` (``-p`` values), ``execute`` (one notebook through papermill) with ``hardware`` (the machine of a run),
``page_note`` (the "Re-run this page" note), ``layout`` (where things live, what ``_toc.yml`` lists), ``stale``
(whether a chapter must run again), ``build`` (``python -m mia_lib book`` and ``html``), ``report`` (glue and
results files for the notebooks), ``overview`` (the results table), ``ledger`` (the claims ledger), ``checks``
(stray stderr in executed notebooks), ``offline``, ``browser`` and ``sphinx_ext`` (the built HTML). The science
library (``mia_lib/*`` outside ``book/``) never imports this package; only the command line
(``mia_lib/__main__.py``) and the notebooks do.
"""
