"""The simulated cohort's non-image data, driven by one latent immune state per patient.

The generative model (documented here and in the README; it is a test bed, never
clinical evidence):

* ``z ~ N(0, 1)``: the latent anti-tumour immune state ("hot" when high).
* Treatment arm: combination or monotherapy, 1:1.
* PFS (months): ``log PFS = 2.2 + 0.9 z + 0.45 [combination and z < 0] + e``,
  ``e ~ N(0, 0.6)``; administrative censoring ``C ~ U(8, 36)``.
  **DCB/NDB**: NDB (positive class, 1) when progression occurs within 6 months
  (about 30 %, as in the NSCLC seed). The planted treatment interaction: combination
  helps the low-immune (high-Radscore) patients only.
* OS: PFS plus ``exp(2.0 + 0.5 z + N(0, 0.7))`` months, same censoring.
* PD-L1 TPS (%): with ``t = 0.9 z + N(0, 1.2)``, TPS = 0 when ``t < -0.75`` (about
  30 %, as TPS < 1 % in NSCLC cohorts), else ``100 sigmoid(1.6 t - 0.5)``; 10 % missing.
  Related to the immune state but noisier than the images, so the two are complementary.
* Serum markers: albumin rises and LDH falls with ``z``; the others are noise.
* CD3/CD8 densities in tumour centre and invasive margin: log-normal, rising with ``z``.
* 24 TME cell-type abundances: 14 immune types load ``+0.6..0.9`` on ``z``, 10
  suppressive/stromal types load ``-0.5``.
* Expression (log2 TPM) of 300 genes: GZMA, PRF1, the 18 T-cell-inflamed GEP genes and
  30 interferon-pathway genes load ``+0.8`` on ``z``; 250 genes are noise.
* Follow-up scan for about 40 % of patients not yet progressed at 2–5 months; the
  follow-up immune state ``z_fu`` tracks the time to progression after that scan, so
  the follow-up Radscore predicts progression within 6 months of it.
* A second lesion (liver, adrenal or lymph node) for about 25 % of patients, imaged
  with the same immune state but a weaker peritumoral signal.

The image model (how ``z`` shows in PET and CT) is in :mod:`radscore.simulate.phantom`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GEP_GENES = ("CCL5", "CD27", "CD274", "CD276", "CD8A", "CMKLR1", "CXCL9", "CXCR6", "HLA-DQA1",
             "HLA-DRB1", "HLA-E", "IDO1", "LAG3", "NKG7", "PDCD1LG2", "PSMB10", "STAT1", "TIGIT")
IFN_GENES = tuple(f"IFNG_PATH{i:02d}" for i in range(1, 31))
IMMUNE_CELLS = ("CD8 T cells", "CD4 memory T cells", "CD4 naive T cells", "NK cells", "B cells",
                "M1 macrophages", "Dendritic cells", "Tfh cells", "Th1 cells", "Th17 cells",
                "Gamma delta T cells", "Cytotoxic cells", "Plasma cells", "Activated NK cells")
SUPPRESSIVE_CELLS = ("Tregs", "M2 macrophages", "CAFs", "MDSCs", "Endothelial cells", "Neutrophils",
                     "Mast cells", "Th2 cells", "Pericytes", "Fibroblasts")
SITES = ("liver", "adrenal", "lymph_node")


@dataclass(frozen=True)
class SimulatedCohort:
    """Per-patient tables of a simulated cohort (images are made from ``latent``)."""

    latent: pd.DataFrame  # patient_id, z, z_fu (NaN without follow-up), has_followup, second_site
    outcomes: pd.DataFrame  # patient_id, ndb, pfs/os, follow-up endpoints
    clinical: pd.DataFrame
    expression: pd.DataFrame  # index patient_id
    cells: pd.DataFrame  # index patient_id


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def simulate_cohort(n_patients: int, seed: int = 0) -> SimulatedCohort:
    """Draw the cohort's latent states, outcomes and tables (deterministic for ``seed``)."""
    rng = np.random.default_rng(seed)
    n = int(n_patients)
    ids = [f"P{i + 1:04d}" for i in range(n)]
    z = rng.normal(size=n)
    combo = rng.random(n) < 0.5
    log_pfs = 2.2 + 0.9 * z + 0.45 * (combo & (z < 0)) + rng.normal(0, 0.6, n)
    pfs_true = np.exp(log_pfs)
    censor = rng.uniform(8, 36, n)
    pfs = np.minimum(pfs_true, censor)
    pfs_event = (pfs_true <= censor).astype(int)
    ndb = (pfs_true < 6).astype(int)
    os_true = pfs_true + np.exp(2.0 + 0.5 * z + rng.normal(0, 0.7, n))
    os_ = np.minimum(os_true, censor + 12)
    os_event = (os_true <= censor + 12).astype(int)

    # Follow-up scans: patients still progression-free at the scan month.
    scan_month = rng.uniform(2, 5, n)
    has_fu = (rng.random(n) < 0.5) & (pfs_true > scan_month + 0.5)
    pfs_fu = pfs - scan_month
    t = np.log(np.clip(pfs_true - scan_month, 0.1, None))
    t_std = (t - t[has_fu].mean()) / (t[has_fu].std() + 1e-9) if has_fu.any() else t
    z_fu = np.where(has_fu, 0.4 * z + 0.8 * t_std + rng.normal(0, 0.3, n), np.nan)
    prog6 = np.where(has_fu, ((pfs_true - scan_month) < 6).astype(float), np.nan)

    second = rng.random(n) < 0.25
    second_site = np.where(second, rng.choice(SITES, n), "")

    t = 0.9 * z + rng.normal(0, 1.2, n)
    tps = np.where(t < -0.75, 0.0, np.round(100 * _sigmoid(1.6 * t - 0.5)))
    tps[rng.random(n) < 0.10] = np.nan

    clinical = pd.DataFrame({
        "patient_id": ids,
        "age": np.round(rng.normal(63, 9, n)).astype(int),
        "sex": rng.choice(["M", "F"], n, p=[0.7, 0.3]),
        "bmi": np.round(rng.normal(23, 3, n), 1),
        "albumin": np.round(rng.normal(40, 4, n) + 1.5 * z, 1),
        "ldh": np.round(np.exp(rng.normal(5.4, 0.3, n) - 0.15 * z), 0),
        "cea": np.round(np.exp(rng.normal(1.5, 1.0, n)), 2),
        "cyfra21_1": np.round(np.exp(rng.normal(1.3, 0.8, n)), 2),
        "nse": np.round(np.exp(rng.normal(2.7, 0.4, n)), 2),
        "ecog": rng.choice([0, 1, 2], n, p=[0.35, 0.55, 0.10]),
        "smoking": (rng.random(n) < 0.6).astype(int),
        "histology": rng.choice(["adenocarcinoma", "squamous"], n, p=[0.6, 0.4]),
        "stage": rng.choice(["III", "IV"], n, p=[0.3, 0.7]),
        "treatment": np.where(combo, "combination", "monotherapy"),
        "tps": tps,
        "cd3_ct": np.round(np.exp(rng.normal(5.5, 0.5, n) + 0.5 * z), 1),
        "cd3_im": np.round(np.exp(rng.normal(5.9, 0.5, n) + 0.5 * z), 1),
        "cd8_ct": np.round(np.exp(rng.normal(4.8, 0.5, n) + 0.5 * z), 1),
        "cd8_im": np.round(np.exp(rng.normal(5.2, 0.5, n) + 0.5 * z), 1),
    })
    outcomes = pd.DataFrame({
        "patient_id": ids, "ndb": ndb,
        "pfs_months": np.round(pfs, 2), "pfs_event": pfs_event,
        "os_months": np.round(os_, 2), "os_event": os_event,
        "scan_month": np.where(has_fu, np.round(scan_month, 2), np.nan),
        "progression_6m": prog6,
        "pfs_fu_months": np.where(has_fu, np.round(pfs_fu, 2), np.nan),
        "pfs_fu_event": np.where(has_fu, pfs_event, np.nan),
    })
    latent = pd.DataFrame({"patient_id": ids, "z": z, "z_fu": z_fu, "has_followup": has_fu,
                           "second_site": second_site})

    genes_up = ("GZMA", "PRF1", *GEP_GENES, *IFN_GENES)
    noise_genes = tuple(f"GENE{i:03d}" for i in range(1, 251))
    expr = {}
    for g in genes_up:
        expr[g] = rng.uniform(3, 9) + 0.8 * z + rng.normal(0, 0.6, n)
    for g in noise_genes:
        expr[g] = rng.uniform(1, 11) + rng.normal(0, 0.8, n)
    expression = pd.DataFrame(expr, index=pd.Index(ids, name="patient_id")).round(4)

    cells = {}
    for c in IMMUNE_CELLS:
        load = rng.uniform(0.6, 0.9)
        cells[c] = 0.4 + 0.1 * (load * z + np.sqrt(1 - load**2) * rng.normal(size=n))
    for c in SUPPRESSIVE_CELLS:
        cells[c] = 0.4 + 0.1 * (-0.5 * z + np.sqrt(0.75) * rng.normal(size=n))
    cells_df = pd.DataFrame(cells, index=pd.Index(ids, name="patient_id")).round(5)
    # Best response (RECIST), consistent with the endpoint: DCB = CR/PR, or SD with PFS >= 6
    # months (PFS >= 6 exactly for DCB here, as censoring starts at 8 months). Drawn last so
    # that every value above stays as it was.
    u = rng.random(n)
    outcomes["recist"] = np.where(ndb == 1, np.where(u < 0.8, "PD", "SD"),
                                  np.where(z + 0.5 * u > 1.4, "CR", np.where(z + 0.5 * u > 0.3, "PR", "SD")))
    return SimulatedCohort(latent, outcomes, clinical, expression, cells_df)
