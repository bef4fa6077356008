"""``radscore run``: all stages of a study, in order, reusing what is up to date.

Each stage appends to the run's :class:`~radscore.runtime.provenance.Provenance` (every
scan's loading, preparation and extraction steps, then split, robustness, model,
analyses), written as ``provenance.json`` and into ``features.parquet``'s metadata; the
report's methods section is built from it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pandas as pd

from radscore.catalog import DEEP_MODELS, DEEP_PREFIX, MODALITIES, MODEL_TITLES, modalities_text
from radscore.errors import DataError
from radscore.features.deep import DeepEncoders
from radscore.modeling.train import ModelStageRecord
from radscore.pipeline.context import Study
from radscore.pipeline.evaluate import (COHORT_TITLES, baseline_section, compute_metrics, discrimination_section,
                                       survival_metrics, survival_section)
from radscore.pipeline.extract import run_extract
from radscore.modeling.split import cohort_order
from radscore.pipeline.model import make_split
from radscore.pipeline.robustness import run_robustness
from radscore.report.html import ReportInputs, write_report
from radscore.report.sections import Section
from radscore.runtime.cache import make_key
from radscore.runtime.executor import default_workers
from radscore.runtime.files import (atomic_write_csv, atomic_write_json, atomic_write_parquet, ensure_writable,
                                   sha256_bytes, sha256_file)
from radscore.runtime.provenance import Provenance, Step, settings_hash, software_versions

log = logging.getLogger(__name__)


def _model_stage(study: Study, features: pd.DataFrame, manifest: pd.DataFrame, cohorts: pd.Series,
                 keep: tuple[str, ...] | None, workers: int | None,
                 deep: DeepEncoders | None = None) -> tuple[pd.DataFrame, ModelStageRecord]:
    """Fit the Radscores, or reuse them when features and modeling settings are unchanged.

    ``features`` is features.parquet's table plus the deep features (``deep``, the encoders
    that made them), which are not in the file: the key hashes their values too.
    """
    from radscore.pipeline.model import outcome_table, run_model

    cfg = study.config
    deep_cols = [c for c in features.columns if c.startswith(DEEP_PREFIX)]
    deep_hash = sha256_bytes(features[deep_cols].to_numpy(dtype="float64").tobytes()) if deep_cols else None
    key = make_key("model-v5", sha256_file(study.features_path), deep_cols, deep_hash,
                   cfg.stage_hash("seed", "endpoint", "split", "selection", "model", "preprocess", "voi", "fusion",
                                  "features", "modalities"),
                   outcome_table(manifest, cfg).to_dict(), list(keep) if keep is not None else None)
    state_file = study.work_dir / "model_stage.json"
    if study.stage_key("model") == key and study.scores_path.exists() and state_file.exists():
        log.info("model stage up to date: reusing scores.csv and models/")
        scores = pd.read_csv(study.scores_path, dtype={"patient_id": str, "lesion_id": str},
                             float_precision="round_trip")
        return scores, ModelStageRecord.from_dict(json.loads(state_file.read_text()))
    scores, training = run_model(cfg, features, manifest, study.models_dir, cohorts=cohorts,
                                 keep=list(keep) if keep is not None else None, workers=workers, deep=deep)
    # every digit, so that a rerun reusing this stage hands the analyses the very same scores
    atomic_write_csv(study.scores_path, scores, float_format="%.17g")
    atomic_write_json(state_file, training.record.to_dict())
    study.mark_stage("model", key)
    return scores, training.record


def _summary(study: Study, metrics: dict, record: ModelStageRecord, qc: pd.DataFrame,
             manifest: pd.DataFrame) -> dict:
    cfg = study.config
    cohorts = pd.Series(record.cohorts)
    y = manifest[manifest["timepoint"] == "baseline"].drop_duplicates("patient_id").set_index("patient_id")[cfg.endpoint.column]
    out = {"Endpoint": f"{cfg.endpoint.positive_name} (positive class, coded 1) vs {cfg.endpoint.negative_name}"}
    for c in cohort_order(cohorts):
        ids = cohorts.index[cohorts == c]
        known = pd.to_numeric(y.reindex(ids), errors="coerce").dropna()
        out[f"{c.capitalize()} cohort"] = (f"{len(ids)} patients, {int(known.sum())} {cfg.endpoint.positive_name}"
                                           + (f" of {len(known)} with the endpoint" if len(known) < len(ids) else ""))
    if cfg.scan.modalities != list(MODALITIES):
        out["Images"] = f"{modalities_text(cfg.scan.modalities)} only"
    for m, why in metrics.get("skipped_models", {}).items():
        out[f"{MODEL_TITLES.get(m, m)}"] = f"not run: {why}"
    excluded = qc[qc["severity"] == "excluded"] if not qc.empty else qc
    out["Excluded scans"] = f"{len(excluded)} (see Quality control)"
    blocks = ((metrics["models"], ""), (metrics.get("response", {}).get("models", {}), " for response (CR/PR)"))
    for models, what in blocks:
        for m, e in models.items():
            for c, t in e["cohorts"].items():
                if c == "training_apparent" or t.get("auc") is None:
                    continue
                ci = (f"95 % CI {t['auc_ci_low']:.3f}–{t['auc_ci_high']:.3f}" if "auc_ci_low" in t
                      else f"no CI: {'; '.join(t.get('notes', []))}")
                out[f"{MODEL_TITLES.get(m, m)} {COHORT_TITLES.get(c, c)} AUC{what}"] = f"{t['auc']:.3f} ({ci})"
    for m, e in metrics["models"].items():
        n = e.get("nested_cv")
        if n:
            out[f"{MODEL_TITLES.get(m, m)} nested-CV AUC (training)"] = f"{n['auc']:.3f} ± {n['sd']:.3f} ({n['folds']} folds)"
    # Chosen on training data only: nested CV when run, else the inner grid-search CV.
    nested = {m.name: m.nested_cv_auc for m in record.models if m.nested_cv_folds and m.nested_cv_auc == m.nested_cv_auc}
    cv = nested or {m.name: m.cv_auc for m in record.models if m.cv_auc == m.cv_auc}
    if cv:
        best = max(cv, key=cv.get)
        how = "nested cross-validated" if nested else "cross-validated"
        out["Recommended model"] = (f"{MODEL_TITLES.get(best, best)} (highest {how} AUC in training, "
                                    f"{cv[best]:.3f}; chosen without the testing cohort)")
    return out


def _with_exclusions(exc: DataError, qc: pd.DataFrame, manifest: pd.DataFrame, study: Study) -> DataError:
    """``exc`` (too few patients, one outcome class...) saying how many scans QC excluded and where to see why:
    without it, 8 scans dropped for missing files read as a study that is simply too small."""
    excluded = qc[qc["severity"] == "excluded"] if not qc.empty else qc
    if excluded.empty:
        return exc
    exc.problem += f" {len(excluded)} of {len(manifest)} scans were excluded before modelling (qc.csv lists why)."
    exc.fix = (f"correct the excluded scans listed in {study.qc_path} (radscore validate {study.root} checks every "
               "file the manifest names)" + (f", or {exc.fix[0].lower()}{exc.fix[1:]}" if exc.fix else "."))
    exc.args = (exc.message,)
    return exc


def run_study(folder: str | Path, *, config_path: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None) -> dict:
    """Run every stage of the study in ``folder`` and return its ``metrics.json`` content."""
    t0 = time.perf_counter()
    study = Study.open(folder, config_path)
    manifest = study.manifest()
    cfg = study.config = study.config.for_manifest(manifest)
    for out in (study.root, study.work_dir):  # a read-only or full folder fails now, not after extraction
        ensure_writable(out)
    workers = workers or cfg.runtime.workers
    scheduler = scheduler or cfg.runtime.scheduler
    settings = cfg.to_dict()
    prov = Provenance(software=software_versions(), settings=settings, settings_hash=settings_hash(settings),
                      inputs=study.input_hashes())

    phenotype = None
    if cfg.study == "mcrc":
        from radscore.pipeline.phenotype import derive_phenotype

        manifest, phenotype, step = derive_phenotype(study, manifest)
        prov = prov.then(step)
    cohorts = make_split(cfg, manifest)
    prov = prov.then(Step("split", settings={**cfg.split.model_dump(mode="json"), "seed": cfg.seed},
                          result={c: int((cohorts == c).sum()) for c in sorted(set(cohorts))}))
    extraction = run_extract(cfg, manifest, study.work_dir / "cache", workers=workers, scheduler=scheduler,
                             crops=True)
    features, qc = extraction.table(), extraction.qc()
    prov = prov.with_scans(extraction.provenance)
    atomic_write_parquet(study.features_path, features,
                         metadata={"radscore.provenance": json.dumps(prov.to_dict(), sort_keys=True)})
    atomic_write_csv(study.qc_path, qc)
    try:
        robustness = run_robustness(cfg, manifest, features, cohorts, study.work_dir / "cache", workers=workers,
                                    scheduler=scheduler)
        features, encoders, deep_section = _deep_features(study, features, cohorts, extraction.crops())
        keep = robustness.kept
        if keep is not None and encoders is not None:
            # the ICC covers hand-crafted features only: the crops are centred on the unperturbed mask
            keep = (*keep, *encoders.columns())
        scores, record = _model_stage(study, features, manifest, cohorts, keep, workers, encoders)
    except DataError as exc:
        raise _with_exclusions(exc, qc, manifest, study) from None
    prov = prov.then(robustness.step)
    prov = prov.then(Step("model", settings={"selection": cfg.selection.model_dump(mode="json"),
                                             "model": cfg.model.model_dump(mode="json")},
                          result={"models": [m.to_dict() for m in record.models]}))
    if cfg.outputs.dicom:
        from radscore.io.scan import scan_refs
        from radscore.pipeline.dicom_export import export_study

        prov = prov.then(export_study(study, scan_refs(manifest), scores, features))
    metrics = compute_metrics(scores, manifest, cfg, record.cutoffs, features)
    for m in record.models:
        if m.nested_cv_folds:
            metrics["models"][m.name]["nested_cv"] = {"auc": m.nested_cv_auc, "sd": m.nested_cv_sd,
                                                      "folds": m.nested_cv_folds}
    response = cfg.analyses.tme.response_column
    if cfg.study == "mcrc" and response and response in manifest.columns:
        # the seed's Figure 5: the Rad-Score against immunotherapy response, wherever it is known
        as_response = cfg.model_copy(update={"endpoint": cfg.endpoint.model_copy(update={
            "column": response, "positive_name": "responders (CR/PR)", "negative_name": "non-responders (SD/PD)"})})
        metrics["response"] = compute_metrics(scores, manifest, as_response, record.cutoffs)
    primary = cfg.analyses.model if cfg.analyses.model in record.cutoffs else next(iter(record.cutoffs))
    survival = survival_section(scores, manifest, cfg, primary, record.cutoffs[primary])
    metrics["survival"] = {"model": primary, **survival_metrics(survival)}
    atomic_write_json(study.metrics_path, metrics)

    sections: list[Section] = [baseline_section(manifest, cohorts, cfg), robustness.section(),
                               discrimination_section(scores, manifest, cfg, metrics)]
    if "response" in metrics:
        sections.append(discrimination_section(scores, manifest, as_response, metrics["response"], key="response",
                                               title="TME Rad-Score and immunotherapy response (CR/PR vs SD/PD)"))
    sections.append(survival)
    sections.extend(_analysis_sections(study, manifest, scores, record, features, keep, deep_section, phenotype,
                                       n_jobs=workers or default_workers()))
    analyses = _analysis_metrics(sections)
    if analyses:
        metrics["analyses"] = analyses
        atomic_write_json(study.metrics_path, metrics)
    prov = prov.then(Step("report", result={"sections": {s.key: s.skipped or "done" for s in sections}}))
    atomic_write_json(study.provenance_path, prov.to_dict())

    inputs = ReportInputs(
        title=cfg.name, summary=_summary(study, metrics, record, qc, manifest), sections=sections, qc=qc,
        config=cfg, provenance=prov, models=record,
        notes=["Simulated data: this report demonstrates the software and is not clinical evidence."]
        if "simulated" in cfg.name.lower() else [],
    )
    write_report(inputs, study.root, workers=workers)
    log.info("study finished in %.1f s: %s", time.perf_counter() - t0, study.report_path)
    return metrics


#: The analyses' tables that metrics.json carries (section key -> table names; a name ending in
#: ``*`` also takes the per-cohort copies, e.g. ``time_dependent_auc_external_1``).
ANALYSIS_METRICS = {
    "tme": ("phenotype_counts", "radscore_auc", "classifier_comparison"),
    "immunoscore": ("thresholds", "radscore_by_group"),
    "nomogram_os": ("cox", "time_dependent_auc*"),
    "nomogram_pfs": ("cox", "time_dependent_auc*"),
}


def _analysis_metrics(sections: list[Section]) -> dict:
    """``metrics.json``'s ``analyses`` block: the key tables of the TME, Immunoscore and nomogram
    analyses as records (NaN as null), for the sections that ran."""
    out: dict = {}
    for sec in sections:
        wanted = ANALYSIS_METRICS.get(sec.key)
        if not wanted or sec.skipped:
            continue
        tables = {name: json.loads(t.to_json(orient="records", double_precision=15)) for name, t in sec.tables.items()
                  if any(name == w or (w.endswith("*") and name.startswith(w[:-1])) for w in wanted)}
        if tables:
            out[sec.key] = tables
    return out


def _deep_features(study: Study, features: pd.DataFrame, cohorts: pd.Series,
                   crops: dict) -> tuple[pd.DataFrame, DeepEncoders | None, Section]:
    """Deep features from an encoder trained on the training cohort's crops (mCRC seed), before the models.

    The crops come from the extraction stage (the one scan loader: same files, SUV and
    mask as the hand-crafted features). The features are candidates of the TME Rad-Score
    (``catalog.DEEP_MODELS``), whose artifact stores the encoders when it selects one; the
    NSCLC Radscores use hand-crafted features only, and every study's analyses see them.

    Returns
    -------
    (DataFrame, DeepEncoders or None, Section)
    """
    deep = study.config.analyses.deep
    title = "Deep features (3-D convolutional autoencoder)"
    if not deep.enabled:
        return features, None, Section(key="deep_features", title=title,
                                       skipped="disabled (set analyses.deep.enabled: true in study.yaml)")
    if len(study.config.scan.modalities) < 2:
        return features, None, Section(key="deep_features", title=title,
                                       skipped="the encoder reads PET and CT crops; this study has "
                                               f"{modalities_text(study.config.scan.modalities)} only")
    from radscore.features.deep import add_deep_features

    training = sorted(str(pid) for pid, c in cohorts.items() if c == "training")
    out, note, encoders = add_deep_features(features, crops, deep, training, study.config.seed,
                                            weights_dir=study.models_dir / "deep")
    if encoders is None:
        return features, None, Section(key="deep_features", title=title, skipped=note)
    added = encoders.columns()
    users = [MODEL_TITLES[m] for m in study.config.model.models if m in DEEP_MODELS]
    if users:
        use = (f"they are candidates of the {' and '.join(users)} with the hand-crafted features (not ICC-filtered: "
               "the crops are centred on the study's own mask, which the ICC's perturbations do not move), and its "
               "model file stores the encoders when it selects one")
    else:
        use = "they join the analyses only (the Radscores use hand-crafted features)"
    text = (f"{note} {len(added)} deep features per scan ({', '.join(added[:3])}, ...) were computed from "
            f"{deep.crop_size}³-voxel PET and CT crops around each lesion; {use}.")
    return out, encoders, Section(key="deep_features", title=title, text=text)


def _analysis_sections(study: Study, manifest: pd.DataFrame, scores: pd.DataFrame, record: ModelStageRecord,
                       features: pd.DataFrame, keep: tuple[str, ...] | None, deep_section: Section,
                       phenotype=None, n_jobs: int = 1) -> list[Section]:
    """The seeds' clinical analyses on the features (with the deep features when configured) and an
    mCRC study's TME phenotype, derived before modelling."""
    from radscore.analyses import AnalysisContext, run_analyses

    ctx = AnalysisContext.from_config(study.config, manifest=manifest, scores=scores, cutoffs=record.cutoffs,
                                      features=features, model_features=keep, expression=study.table("expression"),
                                      cells=study.table("cells"), phenotype=phenotype, n_jobs=n_jobs,
                                      out_dir=study.root)
    return [deep_section, *run_analyses(ctx)]
