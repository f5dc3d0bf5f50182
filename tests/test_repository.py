"""Checks of the repository itself: notebooks follow the skeleton, figures are named after
their notebook, and the Binder environment pins what the lock file pins."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_environment_yml_pins_equal_the_lock():
    env = _pins((ROOT / "environment.yml").read_text().splitlines())
    lock = _pins((ROOT / "requirements/lock-linux-py311.txt").read_text().splitlines())
    assert env, "environment.yml pins nothing"
    mismatched = {
        name: (version, lock.get(name))
        for name, version in env.items()
        if lock.get(name) != version
    }
    assert not mismatched, f"environment.yml and the lock disagree: {mismatched}"


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert "00_index.ipynb" in names and "01_data.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_skeleton(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), "name notebooks NN_topic.ipynb"
    first = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# "), "start with a title"
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and tagged[0]["cell_type"] == "code", (
        "exactly one 'parameters' code cell"
    )
    last = "".join(cells[-1]["source"])
    assert cells[-1]["cell_type"] == "markdown" and "Summary" in "".join(
        "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
    ), "end with a summary"
    assert "Exercise" in last or "exercise" in last.lower(), "the last cell holds exercises"
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            assert not re.search(r"sys\.path\.(insert|append)", source), (
                "import the installed helpers"
            )
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"stored error output in {path.name}"
            assert out.get("name") != "stderr", (
                f"{path.name}, cell {cell.get('id')}: stderr is stored (library noise or a "
                f"warning): {''.join(out.get('text', ''))[:200]!r}"
            )
            if "image/png" in out.get("data", {}):
                continue
            text = json.dumps(out)
            # a download attempt (Keras' "Downloading data from <url>", pooch's "Downloading
            # file"): offline it fails, and either way it is not a result
            assert not re.search(r"Downloading (data from|file)", text), (
                f"{path.name}, cell {cell.get('id')}: a download attempt is stored: {text[:200]}"
            )
            assert not re.search(r"/(work|root|tmp|home|Users)/[A-Za-z0-9_.-]+/", text), (
                f"{path.name}: an output shows a machine path"
            )


def test_notebooks_are_committed_executed():
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(c.get("execution_count") for c in code), f"{path.name} is not fully executed"


def test_figures_are_named_after_their_notebook():
    prefixes = {p.name.split("_")[0] for p in NOTEBOOKS}
    for figure in (ROOT / "figures").iterdir():
        assert figure.name.split("_")[0] in prefixes, f"figures/{figure.name} names no notebook"
        assert figure.suffix in {".png", ".csv", ".md"}, f"figures/{figure.name}: unexpected kind"


def test_readme_names_the_two_commands_and_the_data_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ("make reproduce", "make test", "MEDMNIST_DATA_DIR", "CC BY 4.0", "Yang"):
        assert needle in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def _texts() -> dict[str, str]:
    texts = {}
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        texts[path.name] = "\n".join("".join(c["source"]) for c in cells)
    for path in [ROOT / "README.md", *sorted((ROOT / "helpers").rglob("*.py"))]:
        texts[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    return texts


def _resolves(reference: str) -> bool:
    import importlib

    parts = reference.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def test_every_helpers_reference_in_prose_and_docstrings_resolves():
    """After a move, `helpers.x.y` in a notebook, the README or a docstring must still exist."""
    stale = sorted(
        {
            f"{where}: {ref}"
            for where, text in _texts().items()
            for ref in re.findall(r"\bhelpers(?:\.\w+)+", text)
            if not _resolves(ref)
        }
    )
    assert not stale, "references to names that do not exist:\n" + "\n".join(stale)


def test_readme_numbers_are_the_committed_tables():
    """The README's run times and results are rendered from figures/ (tools/render_readme.py)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "render_readme.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# --- Exercises ---------------------------------------------------------------------------
EXERCISE = re.compile(r"^\*\*(\d+)\.\*\*", re.M)


def exercise_section(nb: dict) -> str:
    """The markdown from the ``## Exercises`` heading to the next second-level heading."""
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    match = re.search(r"^## Exercises\b(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    return match.group(1) if match else ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_an_answer(path):
    """Exercises are numbered ``**1.**``, ``**2.**``, ...; each is followed by its answer in a
    collapsed ``<details>`` block (whose code tests/test_notebooks.py runs)."""
    section = exercise_section(json.loads(path.read_text(encoding="utf-8")))
    numbers = [int(n) for n in EXERCISE.findall(section)]
    assert numbers, f"{path.name}: no '## Exercises' section with numbered exercises"
    assert numbers == list(range(1, len(numbers) + 1)), f"{path.name}: exercises {numbers}"
    parts = EXERCISE.split(section)[2::2]  # the text of each exercise, answer included
    for number, part in zip(numbers, parts, strict=True):
        assert "<details>" in part and "</details>" in part, (
            f"{path.name}: exercise {number} has no <details> answer"
        )


def test_exercise_check_can_fail():
    nb = {
        "cells": [{"cell_type": "markdown", "source": ["## Exercises\n\n**1.** Q?\n\n**2.** R?"]}]
    }
    numbers = EXERCISE.findall(exercise_section(nb))
    assert numbers == ["1", "2"]
    assert "<details>" not in EXERCISE.split(exercise_section(nb))[2]


# --- Prose numbers ------------------------------------------------------------------------
#: A decimal or a percentage in hand-written markdown ("0.95", "12.5 %").
PROSE_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+|\d+)(\s?%)?(?![\w.]*\d)")
#: What is not a claim about a result: inline code (parameters, calls), arXiv identifiers,
#: ordinals ("2.5th percentile").
NOT_A_RESULT = re.compile(r"`[^`]*`|arXiv:\s?\d+\.\d+|\d+(?:\.\d+)?(?:st|nd|rd|th)\b")
#: Sections whose numbers are settings to try or citations, not results.
UNCHECKED_SECTIONS = re.compile(r"^#+\s*(Exercises|References|Answers)\b", re.M | re.I)
#: Settings stated in prose whose home is not the notebook's code (with where they live).
SETTINGS_IN_PROSE = {
    ("03_training.ipynb", "0.3"): "the improved recipe's dropout (helpers.train.recipes)",
    ("09_large_models.ipynb", "0.999"): "Keras Applications MobileNetV3 batch-norm momentum",
}


def _numbers_in(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"\d+\.\d+|\d+", text)]


def _backing(nb: dict) -> list[float]:
    """Every number the notebook's code and outputs contain (parameters included)."""
    found: list[float] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        found += _numbers_in("".join(cell["source"]))
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            for text in (
                out.get("text", ""),
                data.get("text/plain", ""),
                data.get("text/markdown", ""),
            ):
                found += _numbers_in("".join(text))
    return found


def _unbacked(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    backing = sorted(set(_backing(nb)))
    problems = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        prose = UNCHECKED_SECTIONS.split("".join(cell["source"]))[0]
        prose = NOT_A_RESULT.sub(" ", prose)
        for match in PROSE_NUMBER.finditer(prose):
            token, percent = match.group(1), bool(match.group(2))
            if "." not in token and not percent:
                continue  # integers: counts, years, section numbers
            if (path.name, token) in SETTINGS_IN_PROSE:
                continue
            digits = len(token.split(".")[1]) if "." in token else 0
            value = float(token)
            candidates = [(value, digits)] + ([(value / 100, digits + 2)] if percent else [])
            if not any(round(b, d) == round(v, d) for v, d in candidates for b in backing):
                problems.append(f"{path.name} markdown cell {index}: {match.group(0).strip()}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_numbers_are_backed_by_the_run(path):
    """A decimal or percentage in a notebook's hand-written markdown must appear (to its own
    precision) in that notebook's code or outputs: measured numbers are rendered by code,
    so a typed number that no output carries is a stale claim."""
    problems = _unbacked(path)
    assert not problems, "numbers in prose that no output backs:\n" + "\n".join(problems)


def test_prose_number_check_can_fail(tmp_path):
    nb = {
        "cells": [
            {"cell_type": "code", "source": ["x = 0.91\n"], "outputs": [{"text": "AUC 0.874\n"}]},
            {"cell_type": "markdown", "source": ["AUC 0.874 beats 0.91 and 0.966; 87 % of them."]},
            {
                "cell_type": "markdown",
                "source": ["Try `EPOCHS = 0.5`.\n## Exercises\n1. Set 0.77."],
            },
        ]
    }
    path = tmp_path / "99_probe.ipynb"
    path.write_text(json.dumps(nb))
    assert _unbacked(path) == ["99_probe.ipynb markdown cell 1: 0.966"]


# --- Cross-references -------------------------------------------------------------------------
NOTEBOOK_STEMS = sorted(p.stem for p in NOTEBOOKS)
#: A notebook named in prose (``04_evaluation``, in backticks or not) outside a link or code.
UNLINKED = re.compile(r"(?<![\[\w/.(-])(`?)(" + "|".join(NOTEBOOK_STEMS) + r")\1(?![\w.\]/(-])")
LINK_OR_CODE = re.compile(r"```.*?```|\[[^\]]*\]\([^)]*\)|<[^>]+>", re.S)


#: "notebook 04" in prose, outside a link.
NUMBERED = re.compile(r"\b[Nn]otebook (\d\d)\b")


def unlinked_mentions(text: str) -> list[str]:
    text = LINK_OR_CODE.sub(" ", text)
    named = [m.group(2) for m in UNLINKED.finditer(text)]
    numbered = [f"notebook {m.group(1)}" for m in NUMBERED.finditer(re.sub(r"`[^`]*`", " ", text))]
    return named + numbered


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cross_references_are_links(path):
    """Every mention of a notebook in markdown is a link to it:
    [`04_evaluation`](04_evaluation.ipynb), not `04_evaluation`."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = [
        f"markdown cell {i}: {name}"
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "markdown"
        for name in unlinked_mentions("".join(cell["source"]))
    ]
    assert not found, f"{path.name}: not links: {found}"


def test_cross_reference_check_can_fail():
    assert unlinked_mentions("see `04_evaluation`, section 2") == ["04_evaluation"]
    assert unlinked_mentions("see [`04_evaluation`](04_evaluation.ipynb)") == []
    assert unlinked_mentions("figures/04_evaluation.png and `python -m x`") == []
    assert unlinked_mentions("as notebook 05 shows") == ["notebook 05"]
    assert unlinked_mentions("as [notebook 05](05_explainability.ipynb) shows") == []


# --- Badges and the Colab set-up cell (tools/badges.py) -------------------------------------
def test_badges_and_colab_cells_are_written_from_the_repository_url():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "badges.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _colab_cell(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code[0].get("id") == "colab-setup", f"{path.name}: the first code cell is not Colab's"
    return "".join(code[0]["source"])


def test_colab_cell_does_nothing_outside_colab(monkeypatch):
    import subprocess

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(_colab_cell(NOTEBOOKS[0]), {})
    assert calls == []


def test_colab_cell_clones_and_installs_on_colab(monkeypatch, tmp_path):
    import os
    import subprocess
    import types

    calls, moved = [], []
    monkeypatch.setattr(subprocess, "run", lambda args, **k: calls.append(args))
    monkeypatch.setattr(os, "chdir", moved.append)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.delenv("MEDIMG_ROOT", raising=False)
    exec(_colab_cell(NOTEBOOKS[0]), {})
    assert calls[0][:2] == ["git", "clone"] and calls[0][-2].startswith("https://github.com/")
    assert calls[1][1:4] == ["-m", "pip", "install"]
    assert moved == [os.environ["MEDIMG_ROOT"] + "/notebooks"]
