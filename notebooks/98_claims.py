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
# # The claims ledger
#
# Every claim this book tests, from *Why Train More?*, *Stolen Memories*, Ninghui Li's lecture and the LiRA
# paper, with the verdict this build of the book reached, the statistic it rests on and its 95% interval. It is
# the summary for a reader in a hurry; each row links to the chapter that explains the test.
#
# The verdicts come from one place, `mia_lib.claims`, and have three values:
#
# - **supported**: the interval of the statistic lies on the claim's side (beyond the stated margin);
# - **not supported**: it lies on the other side, so the data speak against the claim;
# - **inconclusive**: it straddles the line, or there are too few samples to decide.
#
# Comparisons rest on *paired* bootstrap intervals of differences (both sides scored on the same resampled
# examples), never on whether two separate intervals overlap. Claims that something is "about as strong as"
# something else are tested against a stated margin, and are supported only when the whole interval lies inside
# it. Ties count as ties. Effects of differential privacy are measured against a clip-only twin trained with the
# same recipe and no noise, so the recipe's own effect is not credited to the noise.

# %% tags=["parameters"]
quick = False  # smoke mode (this page only reads files)

# %% tags=["remove-input"]
from IPython.display import Markdown
from myst_nb import glue

from mia_lib.book import ledger, report

rows = ledger.collect(".", exclude=["98_claims", "99_results_overview"])
tally = ledger.counts(rows)
path = ledger.write(rows)
glue("ledger_table", Markdown(ledger.markdown(rows)), display=False)
report.glue("n_claims", len(rows))
report.glue("n_supported", tally["supported"])
report.glue("n_not_supported", tally["not supported"])
report.glue("n_inconclusive", tally["inconclusive"])
_ = report.glue("ledger_file", path.name)

# %% [markdown]
# This build tested {glue:text}`n_claims` claims: {glue:text}`n_supported` supported, {glue:text}`n_not_supported`
# not supported and {glue:text}`n_inconclusive` inconclusive. The same rows are in `results/claims.json` (a list of
# objects that any JSON tool can read). A claim is tested in the setting its row names: small pools on the data
# that ship with the book by default, so a verdict here is about that setting, not about the paper's.
#
# ```{glue:md} ledger_table
# :format: myst
# ```

# %% tags=["remove-input"]
_ = report.save_results(
    "98_claims", {"counts": tally, "n_claims": len(rows)}
)
