"""Write the "launch on Binder / open in Colab" badges and the Colab set-up cell, from the one
place that names the repository: ``[project.urls] Repository`` in ``pyproject.toml``.

- README.md: the badges between the ``<!-- badges -->`` markers (opening 00_index).
- every notebook: the badges as the title cell's last paragraph (opening that notebook), and,
  as its first code cell, a cell that on Colab clones the repository and installs ``helpers``
  (guarded by ``"google.colab" in sys.modules``: elsewhere it does nothing).
- book/_config.yml: ``repository.url`` (the book's launch buttons).

A fork sets its own URL in pyproject.toml and runs ``make badges``.
Usage: python tools/badges.py [--check] [notebook ...]
``--check`` (run by the tests) exits 1 when a file differs from what the URL gives, naming it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from urllib.parse import quote

import tomllib

from helpers import atomic

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
README = ROOT / "README.md"
BOOK_CONFIG = ROOT / "book" / "_config.yml"
BEGIN, END = "<!-- badges: written by tools/badges.py -->", "<!-- /badges -->"
COLAB_CELL_ID = "colab-setup"
COLAB_CELL = """\
# On Colab only: fetch the collection and install its helpers (elsewhere this does nothing:
# `make setup` has installed them). Colab opens a notebook without the repository around it.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    repository = "{url}"
    checkout = "/content/{name}"
    if not os.path.isdir(checkout):
        subprocess.run(["git", "clone", "-q", "--depth", "1", repository, checkout], check=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", checkout + "[explain,deploy]"],
            check=True,
        )
    os.environ["MEDIMG_ROOT"] = checkout  # figures/ and the model cache live there
    os.chdir(checkout + "/notebooks")
"""


def repository() -> str:
    """The repository URL from pyproject.toml (``https://github.com/<owner>/<name>``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    url = project["urls"]["Repository"].rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise SystemExit(f"pyproject.toml: [project.urls] Repository must be a GitHub URL: {url}")
    return url


def badge_line(url: str, notebook: str, image_prefix: str) -> str:
    """Markdown for the two badges that open ``notebooks/<notebook>``."""
    slug = url.removeprefix("https://github.com/")
    labpath = quote(f"notebooks/{notebook}", safe="")
    binder = f"https://mybinder.org/v2/gh/{slug}/main?labpath={labpath}"
    colab = f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{notebook}"
    return (
        f"[![Launch on Binder]({image_prefix}binder.svg)]({binder}) "
        f"[![Open in Colab]({image_prefix}colab.svg)]({colab})"
    )


def with_badges(title: str, line: str) -> str:
    """The title cell with ``line`` as its last paragraph (replacing an older one)."""
    kept = [p for p in title.rstrip("\n").split("\n\n") if "[![Launch on Binder]" not in p]
    return "\n\n".join([*kept, line])


def notebook_text(path: Path, url: str) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    title = "".join(cells[0]["source"])
    cells[0]["source"] = with_badges(title, badge_line(url, path.name, "badges/")).splitlines(
        keepends=True
    )
    code = COLAB_CELL.format(url=url, name=url.rsplit("/", 1)[1]).rstrip("\n")
    colab = {
        "cell_type": "code",
        "execution_count": None,
        "id": COLAB_CELL_ID,
        "metadata": {},
        "outputs": [],
        "source": code.splitlines(keepends=True),
    }
    existing = [i for i, c in enumerate(cells) if c.get("id") == COLAB_CELL_ID]
    if existing:
        # What a run adds (its execution count, papermill's empty tags) is kept.
        colab["execution_count"] = cells[existing[0]].get("execution_count")
        colab["metadata"] = cells[existing[0]].get("metadata", {})
        cells[existing[0]] = colab
    else:
        cells.insert(1, colab)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def readme_text(url: str) -> str:
    text = README.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{badge_line(url, '00_index.ipynb', 'notebooks/badges/')}\n{END}"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), flags=re.S)
    if not pattern.search(text):
        raise SystemExit(f"{README}: the markers {BEGIN} ... {END} are missing")
    return pattern.sub(lambda _: block, text)


def book_config_text(url: str) -> str:
    text = BOOK_CONFIG.read_text(encoding="utf-8")
    new, count = re.subn(r"(?m)^(repository:\n  url: ).*$", lambda m: m.group(1) + url, text)
    if count != 1:
        raise SystemExit(f"{BOOK_CONFIG}: no 'repository:' block with a 'url:' line")
    return new


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file would change")
    parser.add_argument("notebooks", nargs="*", type=Path, help="only these (default: all)")
    args = parser.parse_args(argv)
    url = repository()
    wanted = {README: readme_text(url), BOOK_CONFIG: book_config_text(url)}
    chosen = [p.resolve() for p in args.notebooks] or NOTEBOOKS
    wanted.update({path: notebook_text(path, url) for path in chosen})
    stale = [path for path, text in wanted.items() if path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: badges out of date; run make badges", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        atomic.write_text(path, wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
