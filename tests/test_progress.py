"""The library's one progress switch: explicit True/False wins, then MIA_PROGRESS, then TQDM_DISABLE, else on; no
call site can pass ``disable=`` past it, and a kernel run by the book hides every bar."""

import pytest

from mia_lib import progress


def test_explicit_choice_wins(monkeypatch):
    monkeypatch.setenv(progress.ENV, "0")
    assert progress.enabled(True) is True
    monkeypatch.setenv(progress.ENV, "1")
    assert progress.enabled(False) is False


@pytest.mark.parametrize(
    ("env", "tqdm_disable", "shown"),
    [
        (None, None, True),
        ("0", None, False),
        ("off", None, False),
        ("1", "1", True),
        (None, "1", False),
        (None, "0", True),
    ],
)
def test_environment_decides_when_the_caller_does_not(monkeypatch, env, tqdm_disable, shown):
    for name, value in ((progress.ENV, env), ("TQDM_DISABLE", tqdm_disable)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert progress.enabled(None) is shown
    assert progress.bar(range(3)).disable is (not shown)


def test_disable_cannot_be_passed_around_the_switch():
    with pytest.raises(TypeError, match="progress="):
        progress.bar(range(3), disable=True)


def test_the_book_kernel_hides_the_bars(monkeypatch):
    from mia_lib.book import execute

    monkeypatch.delenv(progress.ENV, raising=False)
    with execute._kernel_environment():
        assert progress.enabled() is False
    assert progress.enabled() is True
