"""Stage 1, the data (taught in ``notebooks/01_data.ipynb``): the MedMNIST registry,
download, verification and cache (:mod:`.medmnist`); your own PNG/JPEG/DICOM files and
folders (:mod:`.imagefiles`); synthetic phantoms with known lesions (:mod:`.phantoms`);
preprocessing, augmentation and tf.data pipelines (:mod:`.preprocess`); duplicates and
leakage across splits (:mod:`.leakage`)."""
