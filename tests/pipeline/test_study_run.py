"""End to end: a simulated study through every stage, its outputs, reuse and honesty checks."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from radscore.cli import main
from radscore.config import config_from_dict
from radscore.features import engine, tasks
from radscore.pipeline.context import Study
from radscore.pipeline.model import make_split, run_model
from radscore.pipeline.run import run_study
from radscore.simulate import write_study
from radscore.stats import roc_auc_ci

pytestmark = pytest.mark.slow

N, N_TESTING, N_EXTERNAL = 40, 12, 6  # patients; ceil(0.3 x 40) in testing (7:3); an external cohort
FAST = {"model": {"cv_folds": 5, "grid": {"max_depth": [2], "n_estimators": [60], "learning_rate": [0.1]}},
        # the autoencoder has its own tests (tests/features/test_deep.py); here it only has to run
        "analyses": {"deep": {"enabled": True, "epochs": 3}}}


def _patch_config(folder, extra):
    path = folder / "study.yaml"
    data = yaml.safe_load(path.read_text())
    for k, v in extra.items():
        data.setdefault(k, {}).update(v) if isinstance(v, dict) else data.__setitem__(k, v)
    path.write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    write_study(folder, N, seed=11, protocol="quick", external=N_EXTERNAL)
    _patch_config(folder, FAST)
    metrics = run_study(folder, workers=2)
    return folder, metrics


def test_outputs_scripts_rely_on(study):
    folder, metrics = study
    features = pd.read_parquet(folder / "features.parquet")
    manifest = pd.read_csv(folder / "manifest.csv")
    assert len(features) == len(manifest)  # every scan extracted
    assert list(features.columns[:4]) == ["patient_id", "timepoint", "lesion_id", "site"]
    for image in ("pet", "ct", "petct"):
        for voi in ("tumor", "core", "ring", "tumor_ring"):
            assert any(c.startswith(f"{image}_{voi}_original_glcm_") for c in features.columns), (image, voi)
    scores = pd.read_csv(folder / "scores.csv")
    assert list(scores.columns) == ["patient_id", "timepoint", "lesion_id", "site", "cohort", "model", "radscore",
                                    "radscore_oof", "probability", "group"]
    # every training scan has an out-of-fold score; elsewhere it is the Radscore itself
    assert scores.loc[scores.cohort == "training", "radscore_oof"].notna().all()
    testing = scores[scores.cohort == "testing"]
    assert (testing["radscore_oof"] == testing["radscore"]).all()
    assert set(scores["model"]) == {"pet", "ct", "petct", "comb"}
    assert set(scores["cohort"]) == {"training", "testing", "external"}
    baseline = scores.loc[scores.timepoint == "baseline"]
    assert baseline.groupby("cohort")["patient_id"].nunique()["external"] == N_EXTERNAL
    assert {"pet_conventional_SUVmax", "pet_conventional_SUVpeak", "pet_conventional_MTV_ml",
            "pet_conventional_TLG"} <= set(features.columns)
    on_disk = json.loads((folder / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    assert on_disk["cohorts"] == ["training_apparent", "training_oof", "testing", "external"]
    for m in on_disk["models"].values():
        assert set(m["cohorts"]) == set(on_disk["cohorts"])
        t = m["cohorts"]["testing"]
        assert t["auc_ci_low"] <= t["auc"] <= t["auc_ci_high"] and t["n"] == N_TESTING
        assert t["pr_auc_ci_low"] <= t["pr_auc"] <= t["pr_auc_ci_high"]
        assert 0 <= t["hosmer_lemeshow"]["p_value"] <= 1
        for name in ("sensitivity", "specificity", "ppv", "npv", "accuracy", "f1", "mcc", "kappa"):
            assert name in t["at_cutoff"], name
        c = t["confusion"]
        assert c["tp"] + c["fp"] + c["tn"] + c["fn"] == N_TESTING
    pairs = {(r["model_a"], r["model_b"]) for r in on_disk["comparisons"]["testing"]["delong"]}
    assert len(pairs) == 6  # every pair of the four Radscores
    assert {r["against"] for r in on_disk["comparisons"]["testing"]["reclassification"]} == {"pet", "ct", "petct"}
    assert set(on_disk["conventional"]) == {"training", "testing", "external"}
    for table in ("baseline_table_1", "discrimination_conventional_pet", "discrimination_metrics",
                  "discrimination_delong", "discrimination_nri_idi",
                  "discrimination_decision_curve", "survival_logrank", "survival_cox"):
        assert (folder / "tables" / f"{table}.csv").exists(), table
    # the checklists read the pipeline's own tables: its long metrics table gives AUCs with CIs for the testing
    # and the external cohort, so uncertainty and internal and external testing are covered
    checklists = {name: pd.read_csv(folder / "tables" / f"checklist_{name}.csv", dtype={"item": str},
                                    keep_default_na=False).set_index("item")
                  for name in ("tripod_ai", "clear", "metrics", "ibsi")}
    assert checklists["clear"].loc["40", "status"] == "covered" and checklists["clear"].loc["38", "status"] == "covered"
    assert checklists["metrics"].loc["27", "status"] == "covered"
    assert "external" in checklists["metrics"].loc["27", "evidence"]
    html = (folder / "report.html").read_text()
    assert "Methods and parameter record" in html and "data:image/png;base64," in html
    assert 'id="discrimination_metrics"' in html and 'href="#discrimination_metrics"' in html
    assert 'src="http' not in html and "<script src" not in html  # self-contained
    assert (folder / "models" / "comb").is_dir()
    icc = pd.read_csv(folder / "tables" / "robustness_icc_by_image_and_voi.csv")
    assert len(icc) == 12 and icc["features"].nunique() == 1  # each image x VOI on its own row
    assert (icc["kept"] <= icc["features"]).all()


def test_provenance_lists_every_scan_and_the_report_shows_them(study):
    import pyarrow.parquet as pq

    folder, _ = study
    prov = json.loads((folder / "provenance.json").read_text())
    manifest = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str, "lesion_id": str})
    keys = {f"{r.patient_id}/{r.timepoint}/{r.lesion_id}" for r in manifest.itertuples()}
    assert {s["scan"] for s in prov["scans"]} == keys
    for scan in prov["scans"]:
        names = [step["name"] for step in scan["steps"]]
        assert names == ["load_ct", "load_pet", "load_mask", "check_mask", "register", "resample", "fuse", "vois",
                         "pet_measures", "features"], names
        assert all(len(h) == 64 for step in scan["steps"][:3] for h in step["inputs"].values())
    assert [s["name"] for s in prov["stages"]] == ["split", "robustness", "model", "report"]
    assert prov["software"]["radscore"] and len(prov["settings_hash"]) == 16
    meta = pq.read_schema(folder / "features.parquet").metadata
    stored = json.loads(meta[b"radscore.provenance"])
    assert stored["scans"] == prov["scans"] and stored["settings_hash"] == prov["settings_hash"]
    per_scan = pd.read_csv(folder / "tables" / "methods_scans.csv")
    assert len(per_scan) == len(keys)
    html = (folder / "report.html").read_text()
    assert all(k in html for k in list(keys)[:5])


def test_split_is_seeded_7_to_3_and_cutoff_from_training(study):
    folder, metrics = study
    scores = pd.read_csv(folder / "scores.csv")
    base = scores[(scores["timepoint"] == "baseline") & (scores["model"] == "comb")].drop_duplicates("patient_id")
    assert (base["cohort"] == "testing").sum() == N_TESTING
    cut = metrics["models"]["comb"]["cutoff"]
    assert ((base["radscore"] > cut) == (base["group"] == "high")).all()


def test_rerun_from_the_command_line_reuses_everything(study, monkeypatch, capsys):
    folder, _ = study
    before = (folder / "scores.csv").read_bytes()

    def boom(*a, **k):
        raise AssertionError("a finished scan was loaded or recomputed")

    monkeypatch.setattr(tasks, "prepare_scan", boom)
    monkeypatch.setattr(engine, "extract_image", boom)
    assert main(["--quiet", "run", str(folder), "--json", "--workers", "1"]) == 0
    assert (folder / "scores.csv").read_bytes() == before
    out = json.loads(capsys.readouterr().out)
    assert "comb" in out["models"]


def test_changed_model_config_reruns_model_not_extraction(study, tmp_path, monkeypatch):
    folder, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    _patch_config(copy, {"model": {"cutoff": "median"}})
    monkeypatch.setattr(tasks, "prepare_scan", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    metrics = run_study(copy, workers=1)
    scores = pd.read_csv(copy / "scores.csv")
    train = scores[(scores.cohort == "training") & (scores.model == "comb") & (scores.timepoint == "baseline")]
    train = train.drop_duplicates("patient_id")
    assert metrics["models"]["comb"]["cutoff"] == pytest.approx(np.median(train["radscore"]), abs=1e-6)


def test_same_seed_gives_identical_tables(study, tmp_path):
    """Models refitted and analyses rerun on the same scans give the same bytes. The extraction
    cache is kept (its own determinism, a full rerun from the images, is
    tests/reliability/test_privacy_determinism.py), the stage records are not."""
    folder, _ = study
    copy = tmp_path / "again"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("stages.json", "model_stage.json", "models",
                                                                "features.parquet", "scores.csv", "report.html",
                                                                "tables", "figures"))
    run_study(copy, workers=2)
    for name in ("features.parquet", "scores.csv", "metrics.json"):
        assert (copy / name).read_bytes() == (folder / name).read_bytes(), name
    assert (copy / "models" / "comb" / "manifest.json").read_bytes() == (folder / "models" / "comb" /
                                                                         "manifest.json").read_bytes()


def test_shuffled_outcomes_give_chance_auc(study):
    """No leakage: with outcomes shuffled, the held-out AUC averages to about 0.5."""
    folder, _ = study
    s = Study.open(folder)
    features = pd.read_parquet(folder / "features.parquet")
    manifest = s.manifest()
    aucs, apparent, oof = [], [], []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        perm = dict(zip(manifest["patient_id"].unique(), rng.permutation(
            manifest.drop_duplicates("patient_id")["ndb"].to_numpy())))
        # no cohort column: a fresh stratified split on the shuffled outcome, externals included
        shuffled = manifest.drop(columns="cohort").assign(ndb=manifest["patient_id"].map(perm))
        cfg = config_from_dict({**s.config.to_dict(), "seed": seed, "model": {**s.config.to_dict()["model"],
                                                                               "models": ["comb"]}})
        scores, _ = run_model(cfg, features, shuffled, s.work_dir / f"shuffle{seed}",
                              cohorts=make_split(cfg, shuffled), workers=2)
        base = scores[scores.timepoint == "baseline"].drop_duplicates("patient_id")
        test, train = base[base.cohort == "testing"], base[base.cohort == "training"]
        aucs.append(roc_auc_ci(test["patient_id"].map(perm).to_numpy(), test["radscore"].to_numpy()).auc)
        y_train = train["patient_id"].map(perm).to_numpy()
        apparent.append(roc_auc_ci(y_train, train["radscore"].to_numpy()).auc)
        oof.append(roc_auc_ci(y_train, train["radscore_oof"].to_numpy()).auc)
    assert abs(np.mean(aucs) - 0.5) < 0.1, aucs
    # In-sample training scores look good on noise; the out-of-fold scores, which everything
    # fitted downstream uses, do not.
    assert np.mean(apparent) > 0.75, apparent
    assert abs(np.mean(oof) - 0.5) < 0.1, oof


def test_cli_bad_config_exit_code(study, tmp_path, capsys):
    folder, _ = study
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "study.yaml").write_text("voi:\n  ring_mm: -5\n")
    assert main(["--quiet", "run", str(bad)]) == 2
    assert "voi.ring_mm" in capsys.readouterr().err
