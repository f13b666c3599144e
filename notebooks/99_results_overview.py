# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Results at a glance
#
# Every chapter of this book ends by saving its headline numbers to `results/<chapter>.json`. This page runs
# after all of them and gathers those numbers in one table, with a link to the chapter that explains each one.
# Read it first to see what the book found; follow a link to see how, and how certain it is.

# %% tags=["parameters"]
max_per_chapter = 8  # numbers shown per chapter (results/*.json has all)
quick = False  # smoke mode (this page only reads files)

# %%
from IPython.display import Markdown
from myst_nb import glue

from mia_lib.book import overview, page_note, report

chapters = overview.results_overview(
    ".", exclude=["99_results_overview"], max_per_chapter=max_per_chapter
)
with_results = [ch for ch in chapters if ch.has_results]
quick_runs = [
    ch.stem for ch in chapters if ch.mode and ch.mode.startswith("quick")
]
custom_runs = [ch.stem for ch in chapters if ch.mode and ", -p " in ch.mode]
total_s = sum(ch.wall_time_s or 0.0 for ch in chapters)
glue(
    "results_table",
    Markdown(overview.results_markdown(chapters)),
    display=False,
)

# %% [markdown]
# For each chapter in reading order, `overview.results_overview` takes the first scalar entries of its JSON file, in
# the order the chapter saved them, and reads how the chapter was run from its executed notebook.

# %%
report.glue(
    "n_chapters",
    f"{len(chapters)} executed chapter"
    + ("" if len(chapters) == 1 else "s"),
)
report.glue("n_with_results", len(with_results))
report.glue("total_wall_time", page_note.human_seconds(total_s))
modes = (
    [
        f"{len(quick_runs)} in quick mode "
        "(their numbers are smoke tests, not results)"
    ]
    if quick_runs
    else []
)
modes += (
    [f"{len(custom_runs)} with parameters other than the defaults"]
    if custom_runs
    else []
)
report.glue(
    "run_modes",
    "; ".join(modes) if modes else "all with their default parameters",
)
# %% [markdown]
# The book has {glue:text}`n_chapters`; {glue:text}`n_with_results` of them saved headline
# numbers. Together they ran for {glue:text}`total_wall_time`: {glue:text}`run_modes`. The *run* column says how
# each page was produced (its own page has the exact command under its title), and the *result* column names
# the entry in the chapter's JSON file, where the full set of numbers is kept.
#
# ```{glue:md} results_table
# :format: myst
# ```
#
# ## Summary
#
# - One row group per chapter, in reading order, each linked to its chapter.
# - Values are rounded to three significant digits here; `results/<chapter>.json` holds them at full precision.

# %% tags=["remove-input"]
report.save_results(
    "99_results_overview",
    {
        "n_chapters": len(chapters),
        "n_with_results": len(with_results),
        "quick_runs": quick_runs,
        "total_wall_time_s": total_s,
        "chapters": [ch.stem for ch in chapters],
    },
)
