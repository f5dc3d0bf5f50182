"""Sphinx extension of the book (book/_config.yml, `local_extensions`): serve MathJax locally.

Sphinx's default `mathjax_path` is a CDN address; the book sets it to
`mathjax/tex-mml-chtml.js` (relative to `_static`), and this extension copies MathJax 3
from the `django-static-mathjax` package (plain static files, no Django needed, pinned in
requirements/lock-book-linux-py311.txt) into the build's `_static/mathjax` when the build
finishes, so the book renders math with no network at all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

MATHJAX_PATH = "mathjax/tex-mml-chtml.js"


def mathjax_source() -> Path:
    """The es5 folder of the installed MathJax copy (tex-mml-chtml.js and what it loads)."""
    import mathjax  # django-static-mathjax's package: static files only

    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / "tex-mml-chtml.js").is_file():
        raise RuntimeError(f"no MathJax at {es5}: reinstall django-static-mathjax")
    return es5


def _check_config(app, config) -> None:
    if config.mathjax_path != MATHJAX_PATH:
        raise RuntimeError(
            f"mathjax_path is {config.mathjax_path!r}: the book serves its own MathJax, "
            f"set it to {MATHJAX_PATH!r} in book/_config.yml"
        )
    mathjax_source()  # fail at the start of the build, not after it


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    # The combined component and the folders it loads lazily (TeX extensions, fonts, menu,
    # accessibility); the other combined components are not used.
    target.mkdir(parents=True)
    shutil.copy2(source / "tex-mml-chtml.js", target / "tex-mml-chtml.js")
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        shutil.copytree(folder, target / folder.name)


def setup(app):
    app.connect("config-inited", _check_config)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
