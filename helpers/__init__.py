"""Helpers for the deep-learning-for-medical-images notebook collection.

Each module holds one job; its docstring names the notebook that teaches it:
``config`` (paths, seeding), ``datasets`` (MedMNIST), ``imagefiles`` (PNG/JPEG/DICOM and
class folders), ``synthetic`` (phantoms with ground truth), ``preprocess`` (scaling,
augmentation, tf.data), ``quality`` (duplicates and leakage), ``environment`` (what this
machine is), ``plots`` (figure style, saving figures and tables).
"""

__version__ = "0.1.0"
