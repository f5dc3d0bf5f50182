"""Helpers for the deep-learning-for-medical-images notebook collection.

Stage subpackages, in the order of the course; each imports only from those below it
(an import-linter contract in ``pyproject.toml``, checked by ``make test``)::

    bench, __main__         benchmarks and the command line
    deploy                  08: export, latency, predict, de-identification, model card
    explain | lesions       05: heat-maps and their scores | 06-07: segmentation, detection,
                            progression
    train                   03: one engine, configs, recipes, model cache; CV (04), scaling (09)
    models | evaluate       02-09: model builders | 04: metrics, bootstrap, calibration,
                            published results
    data                    01: MedMNIST, image files and DICOM, phantoms, preprocessing, leakage
    runtime | fresh_process seeding, notebook setup, environment | a function in a new process
    plots | report          one figure style, figures and tables | result sentences from values
    paths | atomic          where things live | atomic file writes

Each module's docstring names the notebook that teaches it.
"""

__version__ = "0.2.0"
