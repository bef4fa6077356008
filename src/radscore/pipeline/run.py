"""``radscore run``: all stages of a study, in order, reusing what is up to date."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pandas as pd

from radscore.pipeline.context import Study
from radscore.pipeline.evaluate import MODEL_TITLES, compute_metrics, discrimination_section, survival_section
from radscore.pipeline.extract import run_extract
from radscore.pipeline.model import make_split
from radscore.pipeline.robustness import run_robustness
from radscore.report.html import ReportInputs, software_versions, write_report
from radscore.report.sections import Section
from radscore.runtime.cache import make_key
from radscore.runtime.files import (atomic_write_csv, atomic_write_json, atomic_write_parquet, ensure_writable,
                                   sha256_file)

log = logging.getLogger(__name__)


def _model_stage(study: Study, features: pd.DataFrame, manifest: pd.DataFrame, cohorts: pd.Series,
                 keep: list[str] | None, workers: int | None):
    """Fit the Radscores, or reuse them when features and modeling settings are unchanged."""
    from radscore.pipeline.model import outcome_table, run_model

    cfg = study.config
    key = make_key("model-v2", sha256_file(study.features_path), cfg.stage_hash("seed", "endpoint", "split",
                   "selection", "model"), outcome_table(manifest, cfg).to_dict(), keep)
    state_file = study.work_dir / "model_stage.json"
    if study.stage_key("model") == key and study.scores_path.exists() and state_file.exists():
        log.info("model stage up to date: reusing scores.csv and models/")
        scores = pd.read_csv(study.scores_path, dtype={"patient_id": str, "lesion_id": str})
        state = json.loads(state_file.read_text())
        return scores, state
    scores, training = run_model(cfg, features, manifest, study.models_dir, cohorts=cohorts, keep=keep,
                                 workers=workers)
    fitted = training.models
    summary = training.summary.set_index("model")
    state = {
        "nested_cv": {m: {"auc": float(summary.loc[m, "nested_cv_auc"]), "sd": float(summary.loc[m, "nested_cv_sd"]),
                          "folds": cfg.model.nested_cv_folds} for m in fitted if cfg.model.nested_cv_folds},
        "cutoffs": {m: float(c.cutoff_) for m, c in fitted.items()},
        "cv_auc": {m: float(getattr(c, "best_score_", float("nan"))) for m, c in fitted.items()},
        "selected": {m: list(c.selected_features_) for m, c in fitted.items()},
        "best_params": {m: {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in c.best_params_.items()}
                        for m, c in fitted.items()},
        "cohorts": cohorts.to_dict(),
    }
    atomic_write_csv(study.scores_path, scores)
    atomic_write_json(state_file, state)
    study.mark_stage("model", key)
    return scores, state


def _summary(study: Study, metrics: dict, state: dict, qc: pd.DataFrame, manifest: pd.DataFrame) -> dict:
    cfg = study.config
    cohorts = pd.Series(state["cohorts"])
    y = manifest[manifest["timepoint"] == "baseline"].drop_duplicates("patient_id").set_index("patient_id")[cfg.endpoint.column]
    out = {"Endpoint": f"{cfg.endpoint.positive_name} (positive class, coded 1) vs {cfg.endpoint.negative_name}"}
    for c in ("training", "testing"):
        ids = cohorts.index[cohorts == c]
        out[f"{c.capitalize()} cohort"] = f"{len(ids)} patients, {int(y.loc[ids].sum())} {cfg.endpoint.positive_name}"
    excluded = qc[qc["severity"] == "excluded"] if not qc.empty else qc
    out["Excluded scans"] = f"{len(excluded)} (see Quality control)"
    for m, e in metrics["models"].items():
        t = e["cohorts"].get("testing", {})
        if t.get("auc") is not None:
            out[f"{MODEL_TITLES.get(m, m)} testing AUC"] = f"{t['auc']:.3f} (95 % CI {t['ci_low']:.3f}–{t['ci_high']:.3f})"
    for m, e in metrics["models"].items():
        n = e.get("nested_cv")
        if n:
            out[f"{MODEL_TITLES.get(m, m)} nested-CV AUC (training)"] = f"{n['auc']:.3f} ± {n['sd']:.3f} ({n['folds']} folds)"
    # Chosen on training data only: nested CV when run, else the inner grid-search CV.
    nested = {m: v["auc"] for m, v in state.get("nested_cv", {}).items() if v["auc"] == v["auc"]}
    cv = nested or {m: v for m, v in state["cv_auc"].items() if v == v}
    if cv:
        best = max(cv, key=cv.get)
        how = "nested cross-validated" if nested else "cross-validated"
        out["Recommended model"] = (f"{MODEL_TITLES.get(best, best)} (highest {how} AUC in training, "
                                    f"{cv[best]:.3f}; chosen without the testing cohort)")
    return out


def _parameters(study: Study, state: dict, records: dict) -> dict:
    from radscore.report.methods import parameter_record

    return parameter_record(study.config.to_dict(), state, records, software_versions())


def run_study(folder: str | Path, *, config_path: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None) -> dict:
    """Run every stage of the study in ``folder`` and return its ``metrics.json`` content."""
    t0 = time.perf_counter()
    study = Study.open(folder, config_path)
    cfg = study.config
    manifest = study.manifest()
    for out in (study.root, study.work_dir):  # a read-only or full folder fails now, not after extraction
        ensure_writable(out)
    workers = workers or cfg.runtime.workers
    scheduler = scheduler or cfg.runtime.scheduler

    cohorts = make_split(cfg, manifest)
    features, qc, records = run_extract(cfg, manifest, study.work_dir / "cache", workers=workers, scheduler=scheduler)
    atomic_write_parquet(study.features_path, features)
    atomic_write_csv(study.qc_path, qc)
    keep, robustness = run_robustness(cfg, manifest, features, cohorts, study.work_dir / "cache", workers=workers,
                                      scheduler=scheduler)

    scores, state = _model_stage(study, features, manifest, cohorts, keep, workers)
    metrics = compute_metrics(scores, manifest, cfg, state["cutoffs"])
    for m, n in state.get("nested_cv", {}).items():
        metrics["models"][m]["nested_cv"] = n
    atomic_write_json(study.metrics_path, metrics)

    sections: list[Section] = [robustness, discrimination_section(scores, manifest, cfg, metrics)]
    primary = "comb" if "comb" in state["cutoffs"] else next(iter(state["cutoffs"]))
    sections.append(survival_section(scores, manifest, cfg, primary))
    sections.extend(_analysis_sections(study, manifest, scores, state, features))

    inputs = ReportInputs(
        title=cfg.name, summary=_summary(study, metrics, state, qc, manifest), sections=sections, qc=qc,
        parameters=_parameters(study, state, records),
        notes=["Simulated data: this report demonstrates the software and is not clinical evidence."]
        if "simulated" in cfg.name.lower() else [],
    )
    write_report(inputs, study.root)
    log.info("study finished in %.1f s: %s", time.perf_counter() - t0, study.report_path)
    return metrics


def _deep_features(study: Study, manifest: pd.DataFrame, features: pd.DataFrame,
                   state: dict) -> tuple[pd.DataFrame, Section]:
    """Deep features from an encoder trained on the training cohort's crops (mCRC seed).

    They join the hand-crafted features of the analyses (the TME Rad-Score); the
    portable Radscore models use hand-crafted features only, so `radscore predict` needs
    no network weights.
    """
    deep = study.config.analyses.deep
    title = "Deep features (3-D convolutional autoencoder)"
    if not deep.enabled:
        return features, Section(key="deep_features", title=title,
                                 skipped="disabled (set analyses.deep.enabled: true in study.yaml)")
    from radscore.features.deep import add_deep_features, crops_from_manifest

    keys = set(zip(features["patient_id"], features["timepoint"], features["lesion_id"]))
    rows = manifest[[k in keys for k in zip(manifest["patient_id"], manifest["timepoint"], manifest["lesion_id"])]]
    crops = crops_from_manifest(rows, study.root, deep.crop_size)
    training = sorted(pid for pid, c in state["cohorts"].items() if c == "training")
    out, note = add_deep_features(features, crops, deep, training, study.config.seed,
                                  weights_dir=study.models_dir / "deep")
    added = [c for c in out.columns if c.startswith("deep_")]
    if not added:
        return features, Section(key="deep_features", title=title, skipped=note)
    text = (f"{note} {len(added)} deep features per scan ({', '.join(added[:3])}, ...) were computed from "
            f"{deep.crop_size}³-voxel PET and CT crops around each lesion; they enter the TME Rad-Score's selection "
            "with the hand-crafted features.")
    return out, Section(key="deep_features", title=title, text=text)


def _analysis_sections(study: Study, manifest: pd.DataFrame, scores: pd.DataFrame, state: dict,
                       features: pd.DataFrame) -> list[Section]:
    """The seeds' clinical analyses, with deep features added when configured."""
    from radscore.analyses import AnalysisContext, run_analyses

    features, deep_section = _deep_features(study, manifest, features, state)
    ctx = AnalysisContext(config=study.config, manifest=manifest, scores=scores, cutoffs=state["cutoffs"],
                          features=features, expression=study.table("expression"), cells=study.table("cells"),
                          crops=None, seed=study.config.seed, out_dir=study.root)
    return [deep_section, *run_analyses(ctx)]
