"""Result sentences written by the run: numbers in a notebook's prose come from the
values it computed, never typed by hand, so a re-run on another machine rewrites them.

    say(f"The compact CNN reaches test AUC {ci(auc, low, high)}.")

:func:`say` shows Markdown in a notebook (plain text elsewhere); :func:`num`,
:func:`signed`, :func:`ci`, :func:`pm`, :func:`pct` and :func:`count` format numbers the
same way everywhere. :func:`compare` words a difference only as far as its interval allows. A leaf
of the package, used by every notebook.
"""

from __future__ import annotations

import math


def num(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals (``"n/a"`` for NaN or None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # not "-0.000"


def signed(value: float, digits: int = 3) -> str:
    """A difference with its sign: ``"+0.012"``, ``"-0.003"``, and ``"0.000"`` when it
    rounds to zero (no sign that the digits shown cannot back)."""
    text = num(value, digits)
    return text if text == "n/a" or text.startswith("-") or float(text) == 0 else f"+{text}"


def ci(estimate: float, low: float, high: float, digits: int = 3) -> str:
    """``"0.981 (95 % CI 0.970–0.990)"`` (``"-2.1 (95 % CI -3.0 to -1.2)"`` below zero)."""
    dash = " to " if low is not None and low < 0 else "–"
    return f"{num(estimate, digits)} (95 % CI {num(low, digits)}{dash}{num(high, digits)})"


def pm(mean: float, sd: float, digits: int = 3) -> str:
    """``"0.957 ± 0.002"`` (mean ± standard deviation, e.g. over training seeds)."""
    return f"{num(mean, digits)} ± {num(sd, digits)}"


def pct(fraction: float, digits: int = 1) -> str:
    """``0.921`` -> ``"92.1 %"``."""
    return f"{num(100 * fraction, digits)} %"


def count(n: int, noun: str, plural: str | None = None, sign: bool = False) -> str:
    """``"1 lesion"``, ``"3 lesions"`` (``plural`` where adding an s is wrong); ``sign=True``
    writes ``"+1 lesion"``, ``"-2 lesions"``, ``"0 lesions"``."""
    number = f"{n:+d}" if sign and n != 0 else f"{n:d}"
    return f"{number} {noun if abs(n) == 1 else plural or noun + 's'}"


def compare(
    name_a: str,
    name_b: str,
    difference: float,
    low: float,
    high: float,
    *,
    what: str = "AUC",
    digits: int = 3,
    lower_is_better: bool = False,
    split: str = "test",
) -> str:
    """A sentence that says which is higher only when the interval of ``a - b`` excludes
    zero, and otherwise that the data cannot tell them apart on ``split`` (the images the
    interval was computed on: "test", or "validation" when a choice is made). For an error
    (``lower_is_better``, e.g. a mean absolute error) it says which has the higher error and
    that this is the worse one, so "higher" is never read as "better"."""
    interval = (
        f"{what} difference {num(difference, digits)}, "
        f"95 % CI {num(low, digits)} to {num(high, digits)}"
    )
    if lower_is_better and (low > 0 or high < 0):
        verdict = "a higher (worse)" if low > 0 else "a lower (better)"
        return f"{name_a} has {verdict} {what} than {name_b} ({interval})"
    if low > 0:
        return f"{name_a} scores higher than {name_b} ({interval})"
    if high < 0:
        return f"{name_a} scores lower than {name_b} ({interval})"
    return f"{name_a} and {name_b} cannot be told apart on this {split} set ({interval})"


def say(text: str) -> None:
    """Show ``text`` as Markdown in a notebook (IPython), or print it elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # optional: plain Python prints
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))
