"""The study pipeline: each stage reads the previous stage's outputs from the study folder.

``extract`` (images → features.parquet) → ``model`` (split, Radscores, models/) →
``evaluate`` (metrics.json, survival) → ``analyses`` → ``report`` (report.html).
:func:`radscore.pipeline.run.run_study` runs them in order, skipping a stage whose
inputs and settings are unchanged since its last run.
"""
