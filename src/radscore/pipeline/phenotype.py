"""Phenotype stage of an mCRC study (PROTOCOL B1): the TME phenotype becomes the endpoint.

Cell abundances come from the study's cell table when it names one, else from ssGSEA of the
shipped TME cell-type gene sets on the expression table. k-means is fitted on the training
cohort's patients only and applied to every other patient with abundances; the ``hot``
cluster (more immune cells) is the positive class of the endpoint column. Patients without
expression (the seed's response cohort) get no phenotype: they are scored by the Rad-Score
and evaluated against immunotherapy response instead.

The cohorts are fixed before this stage (the manifest's ``cohort`` column, or a seeded
split of all patients when it has none), so no patient outside training shapes the clusters.
"""

from __future__ import annotations

import logging
import pandas as pd

from radscore.analyses.tme import PhenotypeFit
from radscore.config import StudyConfig
from radscore.pipeline.context import Study
from radscore.runtime.provenance import Step

log = logging.getLogger(__name__)

PHENOTYPE_COLUMN = "tme_phenotype"


def baseline_cohorts(config: StudyConfig, manifest: pd.DataFrame) -> pd.Series:
    """Each patient's cohort before any endpoint exists: the manifest's column, else a seeded
    (unstratified) split of all patients with ``split.test_fraction`` in testing."""
    from radscore.modeling.split import split_cohort

    base = manifest[manifest["timepoint"] == "baseline"].drop_duplicates("patient_id")
    if "cohort" in base.columns:
        return base.set_index("patient_id")["cohort"].astype(str).str.strip()
    patients = pd.DataFrame({"patient_id": base["patient_id"].to_numpy(), "_none": 0})
    return split_cohort(patients, "_none", config.split.test_fraction, config.seed, False)


def derive_phenotype(study: Study, manifest: pd.DataFrame) -> tuple[pd.DataFrame, PhenotypeFit, Step]:
    """The manifest with the endpoint column (1 = hot, 0 = cold, empty without abundances),
    ``tme_phenotype`` and ``cohort`` (:func:`baseline_cohorts`: the split the phenotype was fitted
    on, when the manifest named none); the fitted phenotype (:func:`radscore.analyses.tme.fit_phenotype`, the
    TME analysis's own path); and the stage's provenance record."""
    from radscore.analyses.context import patients_as_rows
    from radscore.analyses.tme import fit_phenotype

    cfg = study.config
    s = cfg.analyses.tme
    patients = set(manifest["patient_id"].astype(str))
    tables = {name: (patients_as_rows(t, patients, name) if (t := study.table(name)) is not None else None)
              for name in ("cells", "expression")}
    cohorts = baseline_cohorts(cfg, manifest)
    training = cohorts.index[cohorts == "training"]
    fit = fit_phenotype(tables["cells"], tables["expression"], training, s, cfg.seed)
    phenotype = fit.phenotype
    out = manifest.drop(columns=[c for c in (cfg.endpoint.column, PHENOTYPE_COLUMN) if c in manifest.columns])
    out[PHENOTYPE_COLUMN] = out["patient_id"].map(phenotype)
    out[cfg.endpoint.column] = out[PHENOTYPE_COLUMN].map({"hot": 1.0, "cold": 0.0})
    if "cohort" not in out.columns:
        out["cohort"] = out["patient_id"].map(cohorts)
    counts = {c: phenotype.reindex(cohorts.index[cohorts == c]).value_counts().to_dict()
              for c in sorted(set(cohorts))}
    log.info("TME phenotype (%s; k-means on %d training patients): %s", fit.source, fit.n_training, counts)
    step = Step("phenotype", settings={"source": fit.source, "n_clusters": s.n_clusters, "seed": cfg.seed,
                                       "immune_cells": list(fit.model.immune_present_)},
                result={"training_patients": fit.n_training, "by_cohort": counts})
    return out, fit, step
