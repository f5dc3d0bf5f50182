"""Run a function in a fresh Python process and get its JSON-able result back.

TensorFlow does not hand back the memory of the models a process has built, not even after
``keras.backend.clear_session()``: a grid of dozens of models grows a notebook kernel past
Binder's 2 GB. A process that exits returns everything. ``notebooks/09_large_models.ipynb``
trains its grids this way, before its kernel imports TensorFlow at all (this module does not
import it either).

    rows = call("helpers.train.scaling:run_configs", configs=[...], threads=2)

The function is named ``"module:function"`` and gets keyword arguments that JSON can carry;
its return value comes back through a JSON file (NumPy scalars and arrays become numbers
and lists). What it prints is passed on; on failure the error names the function and ends
with the last lines of its error output.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from helpers import atomic

#: How many trailing lines of the child's error output a failure shows.
ERROR_LINES = 25

#: glibc malloc settings of every child (the caller's environment wins where it sets them):
#: two arenas instead of one per thread, and buffers above 64 kB mapped and returned on free
#: instead of kept in the heap. TensorFlow's eager tensors come and go in such buffers: fine-
#: tuning notebook 09's MobileNetV3-Small peaked at 1.27 GB instead of 1.34 GB (the same
#: numbers, the same time). Results do not depend on them.
MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "65536"}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # NumPy arrays and scalars
        return value.tolist()
    raise TypeError(f"cannot send {type(value).__name__} back from a subprocess as JSON")


def _split(target: str) -> tuple[str, str]:
    module_name, sep, name = target.partition(":")
    if not sep or not module_name or not name:
        raise ValueError(f"target must look like 'package.module:function', not {target!r}")
    return module_name, name


def resolve(target: str):
    """The function named ``"package.module:function"``."""
    module_name, name = _split(target)
    function = getattr(importlib.import_module(module_name), name, None)
    if not callable(function):
        raise ValueError(f"{module_name} has no function {name!r}")
    return function


def call(target: str, /, **kwargs: Any) -> Any:
    """``target(**kwargs)`` run in a fresh ``python -m helpers.fresh_process`` process (same
    interpreter, same environment variables plus :data:`MALLOC_ENV`); returns its result.
    Raises RuntimeError with the child's error output if it fails."""
    _split(target)  # a malformed name fails here, before a process is started
    with tempfile.TemporaryDirectory(prefix="fresh-process-") as folder:
        request, reply = Path(folder, "request.json"), Path(folder, "reply.json")
        request.write_text(
            json.dumps({"target": target, "kwargs": kwargs}, default=_jsonable), encoding="utf-8"
        )
        done = subprocess.run(
            [sys.executable, "-m", "helpers.fresh_process", str(request), str(reply)],
            capture_output=True,
            text=True,
            check=False,
            env={**MALLOC_ENV, **os.environ},
        )
        if done.stdout:
            print(done.stdout, end="", flush=True)
        if done.returncode != 0 or not reply.is_file():
            tail = "\n".join(done.stderr.strip().splitlines()[-ERROR_LINES:])
            raise RuntimeError(
                f"{target} failed in its subprocess (exit code {done.returncode}):\n{tail}"
            )
        return json.loads(reply.read_text(encoding="utf-8"))


def call_in_batches(target: str, /, configs: list, *, per_process: int, **kwargs: Any) -> list:
    """``target(configs=batch, **kwargs)`` for consecutive batches of at most ``per_process``
    of ``configs`` (the training runs of :func:`helpers.train.scaling.run_configs` or
    :func:`helpers.train.benchmark.score_runs`), each in its own fresh process (:func:`call`);
    the lists they return, joined in order. Each trained model leaves memory behind in
    TensorFlow, so a long list of runs in one process grows past a notebook's budget; a
    process per batch returns it."""
    if per_process < 1:
        raise ValueError(f"per_process must be at least 1, not {per_process}")
    rows: list = []
    for start in range(0, len(configs), per_process):
        batch = call(target, configs=configs[start : start + per_process], **kwargs)
        if not isinstance(batch, list):
            raise TypeError(f"{target} returned {type(batch).__name__}, not a list of rows")
        rows += batch
    return rows


def main(argv: list[str] | None = None) -> int:
    """Child side: read the request file, call the function, write the reply file
    (atomically: a reply is either complete or absent)."""
    request_path, reply_path = (argv if argv is not None else sys.argv[1:])[:2]
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    result = resolve(request["target"])(**request["kwargs"])
    atomic.write_text(reply_path, json.dumps(result, default=_jsonable))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
