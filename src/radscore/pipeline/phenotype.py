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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radscore.config import StudyConfig
from radscore.errors import DataError
from radscore.pipeline.context import Study
from radscore.runtime.provenance import Step

log = logging.getLogger(__name__)

PHENOTYPE_COLUMN = "tme_phenotype"


@dataclass(frozen=True)
class PhenotypeStage:
    """What the stage derived: abundances, the fitted clustering's labels, and its record.

    Attributes
    ----------
    cells : DataFrame
        Patients x cell types (the table clustered; index ``patient_id``).
    phenotype : Series
        ``hot``/``cold`` per patient with abundances.
    source : str
        ``"cells table"`` or ``"ssGSEA of <gene sets>"``.
    step : Step
        The provenance record.
    """

    cells: pd.DataFrame
    phenotype: pd.Series
    source: str
    step: Step


def baseline_cohorts(config: StudyConfig, manifest: pd.DataFrame) -> pd.Series:
    """Each patient's cohort before any endpoint exists: the manifest's column, else a seeded
    (unstratified) split of all patients with ``split.test_fraction`` in testing."""
    from radscore.modeling.split import split_cohort

    base = manifest[manifest["timepoint"] == "baseline"].drop_duplicates("patient_id")
    if "cohort" in base.columns:
        return base.set_index("patient_id")["cohort"].astype(str).str.strip()
    patients = pd.DataFrame({"patient_id": base["patient_id"].to_numpy(), "_none": 0})
    return split_cohort(patients, "_none", config.split.test_fraction, config.seed, False)


def derive_phenotype(study: Study, manifest: pd.DataFrame) -> tuple[pd.DataFrame, PhenotypeStage]:
    """The manifest with the endpoint column (1 = hot, 0 = cold, empty without abundances) and
    ``tme_phenotype``, and the stage's result."""
    from radscore.analyses.tme import TmePhenotype, cell_abundances, immune_columns

    cfg = study.config
    s = cfg.analyses.tme
    cells = study.table("cells")
    if cells is not None:
        source = f"cell table {cfg.tables.cells}"
    else:
        expression = study.table("expression")
        if expression is None:
            raise DataError("an mCRC study needs RNA-seq expression (tables.expression) or a cell-abundance table "
                            "(tables.cells) to derive the TME phenotype.",
                            fix="name one of them under 'tables' in study.yaml.")
        cells, source = cell_abundances(expression, seed=cfg.seed)
    cells = cells.dropna()
    cohorts = baseline_cohorts(cfg, manifest)
    train_ids = cells.index.intersection(cohorts.index[cohorts == "training"])
    if len(train_ids) < 2 * s.n_clusters:
        raise DataError(f"only {len(train_ids)} training patients have cell abundances; the phenotype's k-means "
                        f"needs at least {2 * s.n_clusters}.", fix="add training patients with RNA-seq.")
    immune = immune_columns(cells, s.immune_cells)
    model = TmePhenotype(n_clusters=s.n_clusters, immune=immune, random_state=cfg.seed).fit(cells.loc[train_ids])
    phenotype = model.predict(cells).rename(PHENOTYPE_COLUMN)
    out = manifest.drop(columns=[c for c in (cfg.endpoint.column, PHENOTYPE_COLUMN) if c in manifest.columns])
    out[PHENOTYPE_COLUMN] = out["patient_id"].map(phenotype)
    hot = out[PHENOTYPE_COLUMN].map({"hot": 1.0, "cold": 0.0})
    out[cfg.endpoint.column] = hot.where(out[PHENOTYPE_COLUMN].isin(["hot", "cold"]), np.nan)
    counts = {c: phenotype.reindex(cohorts.index[cohorts == c]).value_counts().to_dict()
              for c in sorted(set(cohorts))}
    log.info("TME phenotype (%s; k-means on %d training patients): %s", source, len(train_ids), counts)
    step = Step("phenotype", settings={"source": source, "n_clusters": s.n_clusters, "seed": cfg.seed,
                                       "immune_cells": list(immune)},
                result={"training_patients": int(len(train_ids)), "by_cohort": counts})
    return out, PhenotypeStage(cells=cells, phenotype=phenotype, source=source, step=step)
