"""What a training run is: :class:`TrainConfig` (every knob) and the cache key that names
it. Kept apart from :mod:`helpers.train.engine` so that runs can be planned, hashed and sent
to another process without importing TensorFlow (``notebooks/09_large_models.ipynb``
launches its grids in fresh processes this way; ``03_training`` teaches the knobs).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

#: Bump when something outside :data:`TRAINING_CODE` changes results: old cache entries
#: then no longer match.
RECIPE_VERSION = 2  # 2: one training engine, data fingerprint in the key, keep='last'

#: The modules (relative to the package, folders taken whole) whose code decides what a
#: cached model learns: the training engine, the models, the input pipeline, the seeding,
#: and the training loops of the phantom tasks and generative models.
TRAINING_CODE = (
    "train/config.py",
    "train/engine.py",
    "train/generative.py",
    "models",
    "data/preprocess.py",
    "runtime.py",
    "lesions/segmentation.py",
    "lesions/progression.py",
    "explain/phantom_classifier.py",
)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def source_fingerprint(package: Path, entries: tuple[str, ...]) -> str:
    """Short hash of the syntax trees of the ``.py`` files named by ``entries`` (files, or
    folders taken whole) under ``package``, docstrings and comments left out."""
    files = sorted(
        path
        for entry in entries
        for path in (
            (package / entry).rglob("*.py") if (package / entry).is_dir() else [package / entry]
        )
    )
    digest = hashlib.sha256()
    for path in files:
        tree = _without_docstrings(ast.parse(path.read_text(encoding="utf-8")))
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(ast.dump(tree, include_attributes=False).encode())
    return digest.hexdigest()[:12]


@functools.cache
def code_fingerprint() -> str:
    """:func:`source_fingerprint` of :data:`TRAINING_CODE`: a change to the code that trains
    a model changes every cache key (a model trained by older code is never reused); a
    change to its documentation or comments does not."""
    return source_fingerprint(Path(__file__).resolve().parents[1], TRAINING_CODE)


def params_key(params: dict) -> str:
    """Short hash of a JSON-able parameter dict plus the recipe and Keras versions and the
    training code (:func:`code_fingerprint`): the name of a cache entry."""
    payload = json.dumps(
        {
            **params,
            "recipe": RECIPE_VERSION,
            "keras": version("keras"),
            "code": code_fingerprint(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class TrainConfig:
    """Every knob of a training run; the cache key is a hash of all of them."""

    model: str = "compact_cnn"
    dataset: str = "pneumoniamnist"
    size: int = 28  # MedMNIST file (28, 64, 128, 224)
    input_size: int | None = None  # resize on the fly to this (None: as stored)
    channels: int = 1  # 3 repeats gray, as RGB-input models expect
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adamw"  # "adamw", or "adam" (the article's choice)
    learning_rate: float = 3e-3
    schedule: str = "cosine"  # "cosine" (5 % warm-up) or "constant"
    weight_decay: float = 1e-4
    augment: float = 1.0  # strength of helpers.data.preprocess.augmentation; 0 = off
    class_weight: bool = True  # weight classes inversely to their frequency
    patience: int | None = 8  # epochs without a better val AUC before stopping
    train_fraction: float = 1.0  # stratified, seeded subset of the training split
    seed: int = 0
    eval_every: int | None = None  # evaluate every N steps (default: every epoch)
    max_seconds: float | None = None  # stop once this much training time is spent
    stop_at_auc: float | None = None  # stop once validation AUC reaches this
    keep: str = "best"  # "best" validation epoch, or the "last" (the article)
    model_options: dict = field(default_factory=dict)

    def key(self) -> str:
        """Short hash of every parameter, the recipe version and the Keras version."""
        return params_key(dataclasses.asdict(self))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        side = self.input_size or self.size
        return (side, side, self.channels)
