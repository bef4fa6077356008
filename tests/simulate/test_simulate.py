import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import stats

from radscore.config import load_config
from radscore.simulate import write_study
from radscore.simulate.cohort import GEP_GENES, simulate_cohort
from radscore.simulate.phantom import make_images


def test_cohort_outcome_rates_and_planted_effects():
    c = simulate_cohort(3000, seed=1)
    ndb = c.outcomes["ndb"].to_numpy()
    z = c.latent["z"].to_numpy()
    assert 0.25 <= ndb.mean() <= 0.40  # about 30 % NDB as in the NSCLC seed
    assert stats.pearsonr(z, c.expression["GZMA"]).statistic > 0.6
    assert stats.pearsonr(z, c.expression["GENE001"]).statistic < 0.1
    assert stats.pearsonr(z, c.cells["CD8 T cells"]).statistic > 0.5
    assert stats.pearsonr(z, c.cells["Tregs"]).statistic < -0.3
    tps = c.clinical["tps"].to_numpy()
    ok = ~np.isnan(tps)
    assert 0.05 < np.isnan(tps).mean() < 0.15
    assert 0.2 < stats.spearmanr(z[ok], tps[ok]).statistic < 0.8
    assert set(GEP_GENES) <= set(c.expression.columns)
    # NDB means progression within 6 months: PFS of every NDB patient is < 6.
    assert (c.outcomes.loc[c.outcomes["ndb"] == 1, "pfs_months"] < 6).all()
    fu = c.latent["has_followup"].to_numpy()
    assert 0.2 < fu.mean() < 0.5


def test_cohort_is_deterministic():
    a, b = simulate_cohort(50, seed=3), simulate_cohort(50, seed=3)
    pd.testing.assert_frame_equal(a.clinical, b.clinical)
    pd.testing.assert_frame_equal(a.expression, b.expression)


def test_images_carry_the_planted_signal():
    """Cold tumours (low z) are more PET-heterogeneous and have a fainter CT halo."""
    het, halo = {}, {}
    for z in (-1.5, 1.5):
        cv, hu = [], []
        for k in range(4):
            ct, pet, mask, _ = make_images(np.random.default_rng(k), z)
            m = sitk.GetArrayFromImage(mask).astype(bool)
            pet_on_ct = sitk.GetArrayFromImage(sitk.Resample(pet, ct, sitk.Transform(), sitk.sitkLinear))
            vals = pet_on_ct[m]
            cv.append(vals.std() / vals.mean())
            from scipy import ndimage
            ring = ndimage.binary_dilation(m, iterations=3) & ~m
            arr = sitk.GetArrayFromImage(ct)
            hu.append(arr[ring & (arr < 0)].mean())
        het[z], halo[z] = np.mean(cv), np.mean(hu)
    assert het[-1.5] > het[1.5]
    assert halo[1.5] > halo[-1.5]


def test_image_geometry(tmp_path):
    ct, pet, mask, mask2 = make_images(np.random.default_rng(0), 0.0, origin_xyz=(10.0, -5.0, 3.0))
    assert ct.GetSpacing() == (1.0, 1.0, 1.5)
    assert pet.GetSpacing()[0] > ct.GetSpacing()[0]  # PET coarser than CT
    arr = sitk.GetArrayFromImage(ct)
    assert (arr <= -990).any() and ((arr > -900) & (arr < -800)).any()  # air outside the body, lung inside
    m, m2 = sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(mask2)
    assert m.sum() > 1000 and 0 < (m != m2).sum() < 0.5 * m.sum()


def test_write_study_is_runnable_and_deterministic(tmp_path):
    a = write_study(tmp_path / "a", 4, seed=5, protocol="quick")
    b = write_study(tmp_path / "b", 4, seed=5, protocol="quick")
    for name in ("manifest.csv", "clinical.csv", "expression.csv", "cells.csv"):
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()
    cfg = load_config(a)
    assert cfg.tables.clinical == "clinical.csv"
    man = pd.read_csv(a.parent / "manifest.csv")
    assert {"patient_id", "timepoint", "ct", "pet", "mask", "mask_2", "ndb", "pfs_months"} <= set(man.columns)
    assert all((a.parent / p).exists() for p in man["ct"])


def test_external_cohort_comes_from_another_scanner(tmp_path):
    from radscore.modeling.split import split_cohort

    path = write_study(tmp_path / "ext", 12, seed=3, protocol="quick", external=4, workers=1, second_reader=5)
    manifest = pd.read_csv(path.parent / "manifest.csv", dtype={"patient_id": str})
    # a second reader re-segmented the baseline scans of 5 internal patients, and nothing else
    reread = manifest[manifest["mask_2"].notna()]
    assert reread["patient_id"].nunique() == 5 and set(reread["timepoint"]) == {"baseline"}
    assert (manifest[manifest.patient_id.isin(reread.patient_id) & (manifest.timepoint == "baseline")]
            ["mask_2"].notna().all())
    assert not (reread.get("cohort", pd.Series(dtype=str)) == "external").any()
    base = manifest[manifest.timepoint == "baseline"].drop_duplicates("patient_id")
    assert (base["cohort"] == "external").sum() == 4
    assert set(base["cohort"]) == {"training", "testing", "external"}
    assert (base["cohort"] == "testing").sum() == 4  # ceil(0.3 x 12), as radscore run would split
    # the internal patients are split by the rule radscore run applies without the column
    internal = base[base.cohort != "external"]
    assert split_cohort(internal[["patient_id", "ndb"]], "ndb", 0.3, 3, True).to_dict() == dict(
        zip(internal.patient_id, internal.cohort))
    # pooled from three sites, in turn; the internal patients all from the reference scanner
    assert base.groupby("cohort")["scanner"].agg(lambda s: sorted(set(s))).to_dict() == {
        "external": ["external_a", "external_b", "external_c"], "testing": ["reference"], "training": ["reference"]}

    def first(cohort, role):
        return sitk.ReadImage(str(path.parent / base.loc[base.cohort == cohort, role].iloc[0]))

    spacing = {c: first(c, "pet").GetSpacing() for c in ("training", "external")}
    assert spacing == {"training": (4.0, 4.0, 4.0), "external": (5.0, 5.0, 5.0)}
    # CT in 3 mm slices, the masks drawn on them: same grid, the tumour still there
    ct, mask = first("external", "ct"), first("external", "mask")
    assert ct.GetSpacing() == (1.0, 1.0, 3.0) and first("training", "ct").GetSpacing() == (1.0, 1.0, 1.5)
    assert (mask.GetSpacing(), mask.GetOrigin(), mask.GetSize()) == (ct.GetSpacing(), ct.GetOrigin(), ct.GetSize())
    assert sitk.GetArrayViewFromImage(mask).sum() > 100


def test_simulated_recist_gives_the_simulated_endpoint():
    from radscore.io.manifest import derive_benefit

    out = simulate_cohort(300, seed=2).outcomes
    assert set(out["recist"]) == {"CR", "PR", "SD", "PD"}
    assert (derive_benefit(out, "ndb") == out["ndb"]).all()
