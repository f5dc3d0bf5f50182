"""Stage 6, lesions: U-Net segmentation (:mod:`.segmentation`) and detection from its
probability maps (:mod:`.detection`), taught in ``notebooks/06_segmentation_detection.ipynb``;
progression over follow-up visits (:mod:`.progression`), taught in ``07_progression``."""
