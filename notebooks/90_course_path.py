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
# # A course path: one lab, one week, two weeks
#
# This page is for students working through the book on their own and for teachers building a course on it.
# It says which chapters and exercises fit a 90-minute lab, a one-week and a two-week module, what each chapter
# assumes, and how long each one runs. The run times are not typed in: they are read from this build's executed
# chapters, so they describe the machine and the mode that produced the book you are reading.
#
# Every chapter ends with **exercises**: questions that you answer by changing a parameter or writing a few
# lines against `mia_lib`. Each has a worked solution that runs with the chapter, on the pools it has already
# loaded, and is folded away under the question. To work through a chapter yourself, run `make lab` in the
# repository: it opens JupyterLab with every `notebooks/NN_*.py` as a notebook (see the README's "Working through
# a chapter yourself"). Pools are cached by configuration, so once `make book` has run, re-running a chapter
# interactively skips training.

# %% tags=["parameters"]
quick = False  # smoke mode (this page only reads files)

# %% tags=["remove-input"]
from IPython.display import Markdown
from myst_nb import glue

from mia_lib.book import course, page_note, report

chapters = course.chapters(
    ".", exclude=("90_course_path", "98_claims", "99_results_overview")
)
ASSUMES = {
    "01_lira_and_memorization": "Python (numpy, pandas); Gaussians, "
    "likelihood ratios, ROC curves",
    "02_who_is_vulnerable": "chapter 1; rank correlation",
    "03_attack_zoo": "chapter 1; the idea of a classifier trained on "
    "shadow outputs",
    "04_theory_bounds": "chapter 1; probability: total variation, "
    "hypothesis tests, a little calculus",
    "05_shadow_efficiency": "chapters 1 and 4",
    "06_differential_privacy": "chapter 1; the definition of (ε, δ)-DP "
    "(recalled in the chapter)",
    "07_white_box": "chapter 1; PyTorch (gradients, layers), linear models",
    "08_defenses": "chapters 1 and 6; regularization, mix-up (recalled in "
    "the chapter)",
    "09_auditing_dp": "chapter 6; binomial tails, the Gaussian "
    "trade-off curve (recalled in the chapter)",
    "10_federated": "chapter 1; gradients and SGD (PyTorch helps)",
}
PLANS = {
    "lab": ["01_lira_and_memorization", "04_theory_bounds"],
    "week": [
        "01_lira_and_memorization",
        "02_who_is_vulnerable",
        "03_attack_zoo",
        "04_theory_bounds",
        "05_shadow_efficiency",
    ],
    "two_weeks": list(chapters),
}
glue(
    "chapter_table",
    Markdown(course.table(chapters, ASSUMES)),
    display=False,
)
plan_seconds = course.plan_seconds(chapters, PLANS)
for name, seconds in plan_seconds.items():
    report.glue(f"{name}_time", page_note.human_seconds(seconds))
    report.glue(
        f"{name}_exercises",
        sum(chapters[s].n_exercises for s in PLANS[name] if s in chapters),
    )
n_exercises = {s: ch.n_exercises for s, ch in chapters.items()}
exercise_s = sum(ch.exercise_s or 0.0 for ch in chapters.values())
report.glue("n_chapters", len(chapters))
report.glue("total_exercises", sum(n_exercises.values()))
report.glue("exercise_time", page_note.human_seconds(exercise_s))
report.glue("hardware", course.hardware(".", chapters))
_ = report.glue("build_mode", course.build_mode(chapters))

# %% [markdown]
# ## The chapters
#
# The book has {glue:text}`n_chapters` chapters with {glue:text}`total_exercises` exercises in all. In this build
# they ran {glue:text}`build_mode`, on a machine with {glue:text}`hardware`. A chapter's run time includes the
# training of every pool that was not in the cache when it ran; its exercises (the last column) took
# {glue:text}`exercise_time` for the whole book. A second run, or a run in JupyterLab after `make book`, loads
# the pools from the cache and takes a fraction of the first.
#
# ```{glue:md} chapter_table
# :format: myst
# ```
#
# What every chapter assumes: Python with numpy and pandas, enough to read a short cell and change a value in
# it. The statistics the chapters use (ROC curves, bootstrap intervals, the verdicts of the claims ledger) are
# explained where they first appear, in {doc}`chapter 1 <01_lira_and_memorization>`. PyTorch is needed only to
# read `mia_lib` itself and for {doc}`chapter 7 <07_white_box>`, whose attack works on a model's gradients.
#
# ## A 90-minute lab
#
# One sitting, from "what is membership inference?" to "who does it expose?":
#
# 1. the book's introduction and {doc}`chapter 1 <01_lira_and_memorization>` with its exercises: the
#    membership game, LiRA against the loss attack, memorization;
# 2. the first two sections of {doc}`chapter 4 <04_theory_bounds>` and its exercise 4.1: why the
#    likelihood-ratio test is the right one, on two Gaussians;
# 3. exercises 1.1 and 1.2 again, now with your own values: fewer shadow models, or another threshold.
#
# Running both chapters took {glue:text}`lab_time` in this build; they hold {glue:text}`lab_exercises`
# exercises. Build the book (`make book`) before the lab, so that every pool is in the cache and each re-run in
# JupyterLab is quick.
#
# ## A one-week module
#
# Three sessions on the black-box attacks and the theory behind them:
#
# 1. {doc}`chapter 1 <01_lira_and_memorization>` with its exercises;
# 2. {doc}`chapter 2 <02_who_is_vulnerable>` and {doc}`chapter 3 <03_attack_zoo>`: who is vulnerable, and which
#    attack finds them (exercises 2.1 to 3.2);
# 3. {doc}`chapter 4 <04_theory_bounds>` and {doc}`chapter 5 <05_shadow_efficiency>`: why memorized examples are
#    exposed, and how few shadow models an attack on them needs (exercises 4.1 to 5.2).
#
# These chapters ran for {glue:text}`week_time` in this build and hold {glue:text}`week_exercises` exercises.
# A reading for the week: *Why Train More?* §4 to §7.
#
# ## A two-week module
#
# The first week as above, then defences and white-box attacks:
#
# 4. {doc}`chapter 6 <06_differential_privacy>`: what ε promises, what DP-SGD costs, and how an audit measures ε
#    from below (exercises 6.1 and 6.2); then {doc}`chapter 9 <09_auditing_dp>`: an audit from one training run
#    and the whole trade-off curve (exercises 9.1 to 9.3); then {doc}`chapter 8 <08_defenses>`: what the other
#    defenses buy at low false-positive rates (exercises 8.1 and 8.2);
# 5. {doc}`chapter 7 <07_white_box>`: Stolen Memories, an attack on the weights, calibrated for precision
#    (exercises 7.1 and 7.2); then {doc}`chapter 10 <10_federated>`: what a client's updates reveal in federated
#    learning (exercises 10.1 to 10.3);
# 6. the {doc}`claims ledger <98_claims>` and a small project: re-run one chapter with other parameters (another
#    dataset with `-p dataset mnist5k`, a bigger pool with `-p n_shadow 256`, a GPU with `-p device cuda`), and
#    report which verdicts of the ledger change.
#
# All {glue:text}`n_chapters` chapters ran for {glue:text}`two_weeks_time` in this build and hold
# {glue:text}`two_weeks_exercises` exercises.
#
# ## Summary
#
# - A 90-minute lab: chapter 1 and the start of chapter 4 ({glue:text}`lab_time` of running in this build).
# - One week: chapters 1 to 5 ({glue:text}`week_time`); two weeks: every chapter and a project on the claims
#   ledger ({glue:text}`two_weeks_time`).
# - Every exercise has a worked solution that the book runs, so its numbers are those of the build you read.

# %% tags=["remove-input"]
_ = report.save_results(
    "90_course_path",
    {
        "headline": [
            report.headline(
                "run time of the 90-minute lab's chapters",
                page_note.human_seconds(plan_seconds["lab"]),
                section="A 90-minute lab",
            ),
            report.headline(
                "run time of every chapter",
                page_note.human_seconds(plan_seconds["two_weeks"]),
                section="A two-week module",
            ),
        ],
        "plan_seconds": plan_seconds,
        "plans": PLANS,
        "exercises": n_exercises,
        "wall_time_s": {s: ch.wall_time_s for s, ch in chapters.items()},
        "chapters": list(chapters),
    },
)
