"""Reading the study's inputs: manifest, images (NIfTI/NRRD/MHA, DICOM series), masks."""
