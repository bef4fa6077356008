"""radscore: PET/CT radiomics from images to validated Radscores and a publishable report."""

__version__ = "0.1.0"
