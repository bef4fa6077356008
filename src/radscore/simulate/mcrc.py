"""A simulated metastatic colorectal cancer (mCRC) study shaped like the mCRC seed (PROTOCOL Study B).

The seed's four cohorts (Table 1), with their default sizes: ``training`` (105) and
``internal`` (60) validation from the reference centre, ``external_1`` (42, the TME
phenotype cohort) and ``external_2`` (99, the immunotherapy response cohort) from other
centres. One baseline PET/CT of a liver metastasis per patient (all the seed's patients
had liver metastases). RNA-seq exists for ``training``, ``internal`` and ``external_1``
only; CD3/CD8 densities, clinical data, response and survival for everyone.

The generative model (a test bed, never clinical evidence). Per patient ``i`` of cohort
``c``; every ``N(m, s)`` below is a fresh independent draw, ``s`` its standard deviation:

* TME state: ``hot_i ~ Bernoulli(pi_c)``, ``pi_c`` = 0.45 (0.40 in ``external_1``, the
  seed's cohort with the worst outcomes). Latent immune state
  ``z_i | hot ~ N(0.8, 0.6)``, ``z_i | cold ~ N(-0.7, 0.6)`` (bimodal, about ``N(0, 1)``
  overall, as :func:`radscore.simulate.phantom.make_images` expects).
* Tumour burden ``b_i ~ N(beta_c, 1)``, independent of ``z``; ``beta_c`` = 0.5 in
  ``external_1`` (more and larger metastases, as in the seed), else 0.
* Images: ``make_images(z_i, site="liver", scale=clip(exp(0.12 b_i), 0.8, 1.25))``: ``z``
  sets PET heterogeneity and the peritumoral CT signal (see :mod:`.phantom`). ``training``
  and ``internal`` on the reference scanner, the external cohorts on
  :data:`~radscore.simulate.phantom.EXTERNAL_SITES` in turn, so external performance drops.
* Expression (log2 TPM) of the TME cell-type gene sets: per set ``s`` an abundance
  ``a_is = l_s z_i + sqrt(1 - l_s^2) N(0, 1)`` with ``l_s ~ U(0.6, 0.9)`` for the immune
  sets and ``U(-0.5, 0.1)`` for the others (weak or negative); gene ``g``:
  ``x_ig = m_g + a_ig + N(0, 0.5)``, ``m_g ~ U(3, 9)``, ``a_ig`` the mean of ``a_is`` over
  the sets holding ``g``. Plus 200 noise genes ``GENE001..``: ``m_g + N(0, 0.8)``,
  ``m_g ~ U(1, 11)``. So ssGSEA of the sets and k-means (k = 2) recover hot/cold.
* CD3/CD8 densities, centre ``_ct`` and invasive margin ``_im`` (the seed's scale, mean
  about 12): ``log d_ij = mu_j + 0.45 z_i + 0.2 e_i + N(0, 0.3)``, ``e_i ~ N(0, 1)`` a
  shared biopsy effect; ``mu`` = 2.30 (cd3_ct), 2.55 (cd3_im), 2.25 (cd8_ct), 2.50 (cd8_im).
* Clinical: age ``clip(round(N(59, 10)), 25, 85)`` and sex (67 % male) independent of
  ``z`` and ``b``; primary site right colon with probability 0.32 (hot) or 0.20 (cold), else
  left colon : rectum 55 : 45; pathology mucinous 0.18 (hot) or 0.09 (cold), signet-ring
  0.05, else adenocarcinoma (MSI-like biology is right-sided, mucinous and inflamed);
  ``log CEA = 3.6 + 0.9 b - 0.2 z + N(0, 1)`` (ng/mL), ``log CA125 = 3.0 + 0.6 b - 0.15 z
  + N(0, 0.8)``, ``log CA19-9 = 3.6 + 0.8 b + N(0, 1.2)`` (U/mL); number of metastases
  ``1 + Poisson(exp(1.2 + 0.4 b))``; largest metastasis ``exp(1.4 + 0.3 b + N(0, 0.35))`` cm.
* Response (RECIST at 6 months): ``u_i = z_i - 0.3 b_i + N(0, 0.7)``; CR when
  ``u > 2.3``, PR when ``u > 0.12``, SD when ``u > -1.2``, else PD; ``response`` = 1 for
  CR/PR: about 44 % (36 % in ``external_1``) and 19 % PD, Table 1: 45-48 % (26 %) and
  15-31 %; about 74 % of hot and 19 % of cold tumours respond.
* PFS (months): ``log T = 2.07 + 0.25 z + 0.30 R - 0.25 b - 0.25 right - 0.25 mucinous
  - 0.6 signet + 0.1 male + N(0, 0.65)``, ``R`` = response; PD patients progress by the
  assessment: ``T <- min(T, U(1.5, 6))``. OS: ``T + exp(2.45 + 0.25 z - 0.2 b - 0.2 right
  - 0.2 mucinous - 0.5 signet + 0.1 male + N(0, 0.6))``. Administrative censoring of both
  at ``C ~ U(18, 60)`` months. Medians about 7.5 and 20 months (6 and 18 in ``external_1``;
  Table 1: 7.5-8.5 and 20.7-22.8, 5.2 and 15.5); about 95 % PFS and 80 % OS events.

Random streams are separate per block (latent, images, clinical, expression, outcomes),
so e.g. other gene sets change the expression table only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radscore.catalog import CONVENTIONAL_PREFIX
from radscore.config import SurvivalSettings, config_from_dict, dump_config
from radscore.errors import ConfigError
from radscore.runtime.files import atomic_write_csv, atomic_write_text
from radscore.simulate.phantom import EXTERNAL_SITES, REFERENCE
from radscore.simulate.study import PatientScans, Scan, second_reader_patients, write_scans

COHORTS = ("training", "internal", "external_1", "external_2")
DEFAULT_SIZES = (105, 60, 42, 99)
#: Cohorts with RNA-seq (the seed's response cohort has none).
RNA_COHORTS = ("training", "internal", "external_1")
EXTERNAL_COHORTS = ("external_1", "external_2")
HOT_FRACTION = {"training": 0.45, "internal": 0.45, "external_1": 0.40, "external_2": 0.45}
BURDEN_SHIFT = {"external_1": 0.5}
MIN_TRAINING = 10
PROTOCOL = "mcrc_seed"
NAME = "Simulated mCRC PET/CT cohort (radscore demo, not clinical evidence)"
CLINICAL_COLUMNS = ["age", "sex", "primary_site", "pathology", "cea", "ca125", "ca19_9", "n_metastases",
                    "max_metastasis_cm"]
SERUM_MARKERS = ["cea", "ca125", "ca19_9"]
DENSITY_MU = {"cd3_ct": 2.30, "cd3_im": 2.55, "cd8_ct": 2.25, "cd8_im": 2.50}
N_NOISE_GENES = 200



@dataclass(frozen=True)
class SimulatedMcrc:
    """Per-patient tables of a simulated mCRC study (images are made from ``latent``).

    Attributes
    ----------
    latent : DataFrame
        patient_id, cohort, z, hot (bool), burden, scale (image tumour size), scanner.
    outcomes : DataFrame
        patient_id, recist, response, pfs_months, pfs_event, os_months, os_event.
    clinical : DataFrame
        patient_id, :data:`CLINICAL_COLUMNS` and the CD3/CD8 densities.
    expression : DataFrame
        log2 TPM, index patient_id; patients of :data:`RNA_COHORTS` only.
    """

    latent: pd.DataFrame
    outcomes: pd.DataFrame
    clinical: pd.DataFrame
    expression: pd.DataFrame


def cohort_sizes(sizes: str | Sequence[int]) -> dict[str, int]:
    """The four cohorts' sizes from ``"105,60,42,99"`` or a sequence, checked.

    Raises ConfigError unless there are four whole numbers, ``training`` at least
    :data:`MIN_TRAINING` and the others at least 0 (0 leaves a cohort out).
    """
    fix = (f"give four whole numbers for {', '.join(COHORTS)}, e.g. "
           f"{','.join(map(str, DEFAULT_SIZES))} (the seed's sizes).")
    parts = [p.strip() for p in sizes.split(",")] if isinstance(sizes, str) else list(sizes)
    if len(parts) != len(COHORTS):
        raise ConfigError(f"cohort sizes {sizes!r} name {len(parts)} cohort(s), not {len(COHORTS)}.", fix=fix)
    try:
        values = [int(p) for p in parts]
    except (TypeError, ValueError):
        raise ConfigError(f"cohort sizes {sizes!r} are not all whole numbers.", fix=fix) from None
    if any(float(p) != v for p, v in zip(parts, values) if not isinstance(p, str)):
        raise ConfigError(f"cohort sizes {sizes!r} are not all whole numbers.", fix=fix)
    if values[0] < MIN_TRAINING or min(values) < 0:
        raise ConfigError(f"cohort sizes {sizes!r}: training needs at least {MIN_TRAINING} patients and no cohort "
                          "can be negative.", fix=fix)
    return dict(zip(COHORTS, values))


def _expression(rng: np.random.Generator, z: np.ndarray, ids: list[str], gene_sets: Mapping[str, Sequence[str]],
                immune: Sequence[str]) -> pd.DataFrame:
    """log2 TPM: set genes follow their sets' abundances (immune sets load on ``z``), plus noise genes."""
    unknown = [s for s in immune if s not in gene_sets]
    if unknown:
        raise ConfigError(f"immune cell types {unknown} are not among the gene sets {list(gene_sets)[:5]}...",
                          fix="name immune types that are keys of the gene sets.")
    n = len(z)
    abundance = {}
    for name in gene_sets:
        load = rng.uniform(0.6, 0.9) if name in immune else rng.uniform(-0.5, 0.1)
        abundance[name] = load * z + np.sqrt(1 - load**2) * rng.normal(size=n)
    members: dict[str, list[str]] = {}
    for name, genes in gene_sets.items():
        for g in genes:
            members.setdefault(str(g), []).append(name)
    expr = {g: rng.uniform(3, 9) + np.mean([abundance[s] for s in sets], axis=0) + rng.normal(0, 0.5, n)
            for g, sets in members.items()}
    for i in range(1, N_NOISE_GENES + 1):
        expr[f"GENE{i:03d}"] = rng.uniform(1, 11) + rng.normal(0, 0.8, n)
    return pd.DataFrame(expr, index=pd.Index(ids, name="patient_id")).round(4)


def simulate_mcrc(sizes: str | Sequence[int] = DEFAULT_SIZES, seed: int = 0, *,
                  gene_sets: Mapping[str, Sequence[str]], immune: Sequence[str]) -> SimulatedMcrc:
    """Draw the mCRC study's latent states and tables (deterministic for ``seed``; model in the module doc).

    Parameters
    ----------
    sizes : str or sequence of int
        Patients in training, internal, external_1, external_2 (:func:`cohort_sizes`).
    seed : int
    gene_sets : mapping of str to sequence of str
        TME cell type -> genes (``radscore.analyses.gene_sets.tme_gene_sets()["sets"]``).
    immune : sequence of str
        The immune cell types among ``gene_sets``: their genes rise with ``z``.
    """
    n_by = cohort_sizes(sizes)
    cohort = np.repeat(COHORTS, [n_by[c] for c in COHORTS])
    n = len(cohort)
    ids = [f"P{i + 1:04d}" for i in range(n)]

    rng = np.random.default_rng([seed, 10])  # latent
    hot = rng.random(n) < np.array([HOT_FRACTION[c] for c in cohort])
    z = np.where(hot, 0.8, -0.7) + rng.normal(0, 0.6, n)
    burden = np.array([BURDEN_SHIFT.get(c, 0.0) for c in cohort]) + rng.normal(size=n)
    within = np.concatenate([np.arange(n_by[c]) for c in COHORTS])
    scanner = [EXTERNAL_SITES[k % len(EXTERNAL_SITES)].name if c in EXTERNAL_COHORTS else REFERENCE.name
               for c, k in zip(cohort, within)]
    latent = pd.DataFrame({"patient_id": ids, "cohort": cohort, "z": z, "hot": hot, "burden": burden,
                           "scale": np.clip(np.exp(0.12 * burden), 0.8, 1.25), "scanner": scanner})

    rng = np.random.default_rng([seed, 11])  # clinical and IHC
    right = rng.random(n) < np.where(hot, 0.32, 0.20)
    site = np.where(right, "right_colon", np.where(rng.random(n) < 0.55, "left_colon", "rectum"))
    u = rng.random(n)
    mucinous = u < np.where(hot, 0.18, 0.09)
    signet = ~mucinous & (u > 0.95)
    male = rng.random(n) < 0.67
    clinical = pd.DataFrame({
        "patient_id": ids,
        "age": np.clip(np.round(rng.normal(59, 10, n)), 25, 85).astype(int),
        "sex": np.where(male, "M", "F"),
        "primary_site": site,
        "pathology": np.where(mucinous, "mucinous", np.where(signet, "signet_ring", "adenocarcinoma")),
        "cea": np.round(np.exp(3.6 + 0.9 * burden - 0.2 * z + rng.normal(0, 1.0, n)), 1),
        "ca125": np.round(np.exp(3.0 + 0.6 * burden - 0.15 * z + rng.normal(0, 0.8, n)), 1),
        "ca19_9": np.round(np.exp(3.6 + 0.8 * burden + rng.normal(0, 1.2, n)), 1),
        "n_metastases": 1 + rng.poisson(np.exp(1.2 + 0.4 * burden)),
        "max_metastasis_cm": np.round(np.exp(1.4 + 0.3 * burden + rng.normal(0, 0.35, n)), 1),
    })
    biopsy = rng.normal(size=n)
    for col, mu in DENSITY_MU.items():
        clinical[col] = np.round(np.exp(mu + 0.45 * z + 0.2 * biopsy + rng.normal(0, 0.3, n)), 2)

    rng = np.random.default_rng([seed, 12])  # expression
    rna = np.isin(cohort, RNA_COHORTS)
    expression = _expression(rng, z, ids, gene_sets, immune).loc[rna]

    rng = np.random.default_rng([seed, 13])  # response and survival
    u = z - 0.3 * burden + rng.normal(0, 0.7, n)
    recist = np.select([u > 2.3, u > 0.12, u > -1.2], ["CR", "PR", "SD"], "PD")
    resp = np.isin(recist, ["CR", "PR"]).astype(int)
    prognosis = -0.25 * burden - 0.25 * right - 0.25 * mucinous - 0.6 * signet + 0.1 * male
    pfs_true = np.exp(2.07 + 0.25 * z + 0.30 * resp + prognosis + rng.normal(0, 0.65, n))
    pfs_true = np.where(recist == "PD", np.minimum(pfs_true, rng.uniform(1.5, 6, n)), pfs_true)
    pps = np.exp(2.45 + 0.25 * z - 0.2 * burden - 0.2 * right - 0.2 * mucinous - 0.5 * signet + 0.1 * male
                 + rng.normal(0, 0.6, n))
    os_true = pfs_true + pps
    censor = rng.uniform(18, 60, n)
    outcomes = pd.DataFrame({
        "patient_id": ids, "recist": recist, "response": resp,
        "pfs_months": np.round(np.minimum(pfs_true, censor), 2), "pfs_event": (pfs_true <= censor).astype(int),
        "os_months": np.round(np.minimum(os_true, censor), 2), "os_event": (os_true <= censor).astype(int),
    })
    return SimulatedMcrc(latent, outcomes, clinical, expression)


def _default_gene_sets() -> tuple[dict[str, list[str]], list[str]]:
    """The shipped TME cell-type gene sets (Bindea 2013) and their immune types."""
    from radscore.analyses.gene_sets import tme_cell_types

    shipped = tme_cell_types()
    return {k: list(v) for k, v in shipped.sets.items()}, list(shipped.immune)


def study_yaml(seed: int, protocol: str = PROTOCOL) -> str:
    """The ``study.yaml`` text of a simulated mCRC study (validated when ``protocol`` is known here)."""
    data = {
        "protocol": protocol, "name": NAME, "seed": seed,
        "survival": SurvivalSettings().model_dump(),
        "clinical": CLINICAL_COLUMNS,
        "tables": {"clinical": "clinical.csv", "expression": "expression.csv"},
        "analyses": {"deep": {"enabled": True},
                     # SUVmax and MTV enter the seed's clinical model (LASSO-screened with CEA, CA125, site)
                     "nomogram": {"candidates": [c for c in CLINICAL_COLUMNS if c != "ca19_9"]
                                  + [f"{CONVENTIONAL_PREFIX}SUVmax", f"{CONVENTIONAL_PREFIX}MTV_ml"],
                                  "serum_markers": SERUM_MARKERS}},
    }
    header = "# Written by `radscore simulate --study mcrc`; edit freely.\n"
    return header + dump_config(config_from_dict(data))


def write_mcrc_study(out: str | Path, sizes: str | Sequence[int] = DEFAULT_SIZES, seed: int = 0, *,
                     workers: int | None = None, second_reader: int = 30, protocol: str = PROTOCOL,
                     gene_sets: Mapping[str, Sequence[str]] | None = None,
                     immune: Sequence[str] | None = None) -> Path:
    """Simulate an mCRC study (:func:`simulate_mcrc`) and write a runnable study folder at ``out``.

    Writes ``images/``, ``manifest.csv`` (one baseline scan per patient with ``cohort``,
    ``scanner``, RECIST, ``response`` and survival), ``clinical.csv`` (with the CD3/CD8
    densities), ``expression.csv`` (patients with RNA-seq only) and ``study.yaml``.
    ``second_reader`` training patients (seeded) get a second segmentation (``mask_2``) for
    the ICC. ``gene_sets``/``immune`` default to the shipped TME cell-type gene sets.

    Returns the path of the written ``study.yaml``.
    """
    if (gene_sets is None) != (immune is None):
        raise ConfigError("give both gene_sets and immune, or neither (the shipped TME gene sets).")
    if gene_sets is None:
        gene_sets, immune = _default_gene_sets()
    sim = simulate_mcrc(sizes, seed, gene_sets=gene_sets, immune=immune)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_training = int((sim.latent["cohort"] == "training").sum())
    reread = second_reader_patients(seed, n_training, second_reader)  # training patients come first
    scanners = {s.name: s for s in (REFERENCE, *EXTERNAL_SITES)}
    tasks = [PatientScans(str(out), seed, k, r.patient_id, (Scan("baseline", "1", "liver", float(r.z), r.scale),),
                          scanners[r.scanner], k in reread)
             for k, r in enumerate(sim.latent.itertuples(index=False))]
    manifest = (write_scans(tasks, workers)
                .merge(sim.latent[["patient_id", "cohort"]], on="patient_id", how="left")
                .merge(sim.outcomes, on="patient_id", how="left"))
    atomic_write_csv(out / "manifest.csv", manifest)
    atomic_write_csv(out / "clinical.csv", sim.clinical)
    atomic_write_csv(out / "expression.csv", sim.expression.reset_index())
    path = out / "study.yaml"
    atomic_write_text(path, study_yaml(seed, protocol))
    return path
