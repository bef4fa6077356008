"""A small end-to-end AnalysisContext from the simulator's tables (no images).

Radscores are made from the simulator's latent immune state (low Radscore = immune-hot,
as the pipeline's would be), so every analysis has data with a known direction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radscore.analyses import AnalysisContext
from radscore.config import StudyConfig


def _demo(n: int = 160, seed: int = 3) -> AnalysisContext:
    from radscore.simulate.cohort import simulate_cohort

    c = simulate_cohort(n, seed)
    rng = np.random.default_rng(seed)
    lat = c.latent.set_index("patient_id")
    patients = c.outcomes.merge(c.clinical, on="patient_id")
    cohort = pd.Series(np.where(rng.random(n) < 0.7, "training", "testing"), index=lat.index)
    rows, scores = [], []
    for _, p in patients.iterrows():
        pid = p["patient_id"]
        z = lat.loc[pid, "z"]
        lesions = [("1", "primary")] + ([("2", lat.loc[pid, "second_site"])] if lat.loc[pid, "second_site"] else [])
        tps = [("baseline", z)] + ([("followup", lat.loc[pid, "z_fu"])] if lat.loc[pid, "has_followup"] else [])
        for tp, zz in tps:
            for lid, site in lesions:
                rows.append({**p.to_dict(), "timepoint": tp, "lesion_id": lid, "site": site,
                             "ct": f"{pid}_ct.nii.gz", "pet": f"{pid}_pet.nii.gz", "mask": f"{pid}_mask.nii.gz"})
                rs = -1.5 * zz - 0.8 + rng.normal(0, 0.6 if site == "primary" else 1.2)
                scores.append({"patient_id": pid, "timepoint": tp, "lesion_id": lid, "site": site,
                               "cohort": cohort[pid], "model": "comb", "radscore": rs,
                               "probability": 1 / (1 + np.exp(-rs)), "group": "high" if rs > -0.8 else "low"})
    manifest = pd.DataFrame(rows)
    scores = pd.DataFrame(scores)
    base = manifest[(manifest["timepoint"] == "baseline")][["patient_id", "timepoint", "lesion_id"]].reset_index(drop=True)
    zz = lat.loc[base["patient_id"], "z"].to_numpy()
    feats = {f"pet_tumor_original_f{i}": 0.7 * zz * (i % 2 * 2 - 1) + rng.normal(size=len(base)) for i in range(6)}
    features = pd.concat([base, pd.DataFrame(feats)], axis=1)
    return AnalysisContext.from_config(StudyConfig(), manifest=manifest, scores=scores, cutoffs={"comb": -0.8},
                                       features=features, expression=c.expression, cells=c.cells, seed=seed)


@pytest.fixture(scope="session")
def demo_ctx() -> AnalysisContext:
    return _demo()
