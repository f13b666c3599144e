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
# What did this book find? First the verdicts on the claims it tests, then each chapter's headline numbers in
# words, with their 95% intervals and the section that explains them. Everything on this page is read from the
# files the chapters wrote when this build ran them; follow a link to see how each number was measured.

# %% tags=["parameters"]
max_per_chapter = 8  # numbers shown per chapter (results/*.json has all)
quick = False  # smoke mode (this page only reads files)

# %% tags=["remove-input"]
from IPython.display import Markdown
from myst_nb import glue

from mia_lib.book import ledger, overview, page_note, report

rows = ledger.collect(".", exclude=["98_claims", "99_results_overview"])
tally = ledger.counts(rows)
chapters = overview.results_overview(
    ".",
    exclude=["98_claims", "99_results_overview"],
    max_per_chapter=max_per_chapter,
)
with_results = [ch for ch in chapters if ch.has_results]
quick_runs = [
    ch.stem for ch in chapters if ch.mode and ch.mode.startswith("quick")
]
custom_runs = [ch.stem for ch in chapters if ch.mode and ", -p " in ch.mode]
total_s = sum(ch.wall_time_s or 0.0 for ch in chapters)
glue(
    "verdict_table", Markdown(ledger.summary_markdown(rows)), display=False
)
glue(
    "results_table",
    Markdown(overview.results_markdown(chapters)),
    display=False,
)
report.glue("n_claims", len(rows))
for verdict, n in tally.items():
    report.glue(f"n_{verdict.replace(' ', '_')}", n)
report.glue(
    "n_chapters",
    f"{len(chapters)} executed chapter"
    + ("" if len(chapters) == 1 else "s"),
)
report.glue("n_with_results", len(with_results))
report.glue("total_wall_time", page_note.human_seconds(total_s))
modes = []
if quick_runs:
    modes.append(
        f"{len(quick_runs)} in quick mode "
        "(their numbers are smoke tests, not results)"
    )
if custom_runs:
    modes.append(
        f"{len(custom_runs)} with parameters other than the defaults"
    )
_ = report.glue(
    "run_modes",
    "; ".join(modes) if modes else "all with their default parameters",
)

# %% [markdown]
# ## The verdicts
#
# The book tests {glue:text}`n_claims` claims of the papers and the lecture it is built on. In this build,
# {glue:text}`n_supported` are **supported**, {glue:text}`n_not_supported` are **not supported** (the data speak
# against them) and {glue:text}`n_inconclusive` are **inconclusive** (the interval straddles the line, or there
# are too few samples). Each verdict rests on a paired bootstrap interval, with the statistic and the setting in
# the {doc}`claims ledger <98_claims>`.
#
# ```{glue:md} verdict_table
# :format: myst
# ```
#
# ## The numbers
#
# The book has {glue:text}`n_chapters`; {glue:text}`n_with_results` of them saved headline numbers. Together
# they ran for {glue:text}`total_wall_time`: {glue:text}`run_modes`. The *run* column says how each page was
# produced (its own page has the exact command under its title); a value in brackets is its 95% interval.
#
# ```{glue:md} results_table
# :format: myst
# ```
#
# ## Summary
#
# - The verdicts come first because they are what the book set out to test; the
#   {doc}`claims ledger <98_claims>` says what each rests on.
# - Each chapter's numbers are in words, with the section of the chapter that explains them; the chapter's
#   `results/<chapter>.json` holds every number at full precision.

# %% tags=["remove-input"]
_ = report.save_results(
    "99_results_overview",
    {
        "n_chapters": len(chapters),
        "n_with_results": len(with_results),
        "n_claims": len(rows),
        "verdicts": tally,
        "quick_runs": quick_runs,
        "total_wall_time_s": total_s,
        "chapters": [ch.stem for ch in chapters],
    },
)
