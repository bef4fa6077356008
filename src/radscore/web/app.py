"""The decision-support page: a FastAPI app that scores one uploaded patient with a trained model.

Each upload becomes a :class:`~radscore.io.scan.ScanRef`, is prepared once per request by
the one scan loader (:func:`radscore.imaging.preprocess.prepare_scan`, with the model's
stored settings) and extracted by the one runner; the Radscore comes from
:func:`radscore.pipeline.predict.score_extraction`, as in ``radscore predict``, so the page
and the command line give the same number. The model is loaded once per process. Uploads
are written to a temporary folder that is deleted before the response is sent, unless
the user ticks "keep" (then the folder's path is returned).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from radscore.errors import ImageError, RadscoreError
from radscore.io.scan import ScanRef

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
ROLES = ("ct", "pet", "mask")


@dataclass(frozen=True)
class ServerSettings:
    """Limits of the page's server.

    Attributes
    ----------
    max_upload_mb : int
        Largest single upload (a zip's extracted size may be 4x this).
    max_concurrent : int
        Predictions computed at the same time; further ones wait (bounds memory).
    keep_dir : Path
        Where uploads are kept when the user ticks "keep".
    """

    max_upload_mb: int = 512
    max_concurrent: int = 2
    keep_dir: Path = Path(tempfile.gettempdir()) / "radscore-kept-uploads"


class ModelInfo:
    """The loaded model plus the training Radscores it is compared with."""

    def __init__(self, model_dir: Path):
        from radscore.modeling.artifact import load_model

        self.dir = model_dir
        self.model = load_model(model_dir)
        self.training = self._training_scores()

    def _training_scores(self) -> np.ndarray:
        """Baseline training-cohort Radscores of this model, from the study's scores.csv beside models/."""
        path = self.dir.parent.parent / "scores.csv"
        if not path.is_file():
            logger.warning("no scores.csv at %s: the page shows the cutoff without the training distribution", path)
            return np.array([])
        s = pd.read_csv(path, dtype={"patient_id": str})
        keep = (s["model"] == self.model.name) & (s["cohort"] == "training") & (s["timepoint"] == "baseline")
        return np.sort(s.loc[keep, "radscore"].to_numpy(dtype=float))

    def summary(self) -> dict:
        m = self.model.manifest
        return {"name": self.model.name, "cutoff": self.model.cutoff, "cutoff_method": m.get("cutoff_method"),
                "positive_class": m.get("positive_class"), "features": self.model.features,
                "cv_auc": m.get("cv_auc"), "n_training": int(self.training.size),
                "radscore": m.get("radscore"), "versions": m.get("versions"),
                "modalities": list(self.model.scan.modalities)}


def _percentile(training: np.ndarray, value: float) -> float | None:
    # share of training patients with a Radscore at or below the patient's (empirical CDF)
    return None if training.size == 0 else float(np.searchsorted(training, value, side="right") / training.size)


class Scorer:
    """Scores uploads; shared by the app's request handlers."""

    def __init__(self, info: ModelInfo, settings: ServerSettings):
        self.info = info
        self.settings = settings
        self._slots = threading.BoundedSemaphore(settings.max_concurrent)
        self._figures = threading.Lock()  # matplotlib's rc_context (used by figure_bytes) is global state

    def score(self, scans: list[ScanRef]) -> dict:
        from radscore.features.runner import extract_prepared
        from radscore.imaging.preprocess import prepare_scan
        from radscore.pipeline.predict import score_extraction
        from radscore.web.views import data_uri, distribution_figure, overlay_figure, trajectory_figure

        info = self.info
        with self._slots:
            prepared = []
            for ref in scans:
                try:
                    prepared.append(prepare_scan(ref, info.model.scan))
                except RadscoreError as exc:
                    raise _PageError(f"{ref.timepoint}: {exc.message}") from None
            extraction = extract_prepared(prepared, info.model.scan.features, workers=1, desc="scoring")
            rows = score_extraction(info.model, extraction).to_dict("records")
            errors = [f"{r['timepoint']}: {r['error']}" for r in rows if r["error"]]
            if errors:
                raise _PageError(" ".join(errors))
        out = {"model": info.summary(), "scans": []}
        for row, prep in zip(rows, prepared):
            row.pop("features")
            row["percentile"] = _percentile(info.training, row["radscore"])
            row["voi_volumes_ml"] = dict(prep.step("vois").result["volume_ml"])
            row["preprocess_warnings"] = list(prep.warnings)
            out["scans"].append(row)
        points = {("follow-up" if r["timepoint"] == "followup" else "baseline"): r["radscore"] for r in rows}
        with self._figures:
            out["images"] = {
                "distribution": data_uri(distribution_figure(info.training, info.model.cutoff, points,
                                                             info.model.manifest.get("positive_class"))),
                "slices": [data_uri(overlay_figure(p, title=r["timepoint"])) for p, r in zip(prepared, rows)],
            }
            if len(rows) == 2:
                out["images"]["trajectory"] = data_uri(trajectory_figure(rows[0]["radscore"], rows[1]["radscore"],
                                                                         info.model.cutoff))
        if len(rows) == 2:
            a, b = rows[0], rows[1]
            out["change"] = {"delta_radscore": b["radscore"] - a["radscore"],
                             "crossed_cutoff": a["group"] != b["group"], "from": a["group"], "to": b["group"]}
        return out


class _PageError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def create_app(model_dir: str | Path, settings: ServerSettings | None = None) -> FastAPI:
    """The FastAPI app serving the page for the model in ``model_dir``.

    Routes: ``GET /`` (the page), ``GET /static/*``, ``GET /api/health``,
    ``GET /api/model`` (name, cutoff, features, training size), ``POST /api/predict``
    (multipart: ``ct``, ``pet``, ``mask`` and optionally ``fu_ct``, ``fu_pet``,
    ``fu_mask``, ``patient_id``, ``mask_roi`` (an RTSTRUCT/SEG mask's ROI), ``keep``).

    Raises
    ------
    ModelFileError
        The model folder is missing or damaged (checked at start-up, not per request).
    """
    settings = settings or ServerSettings()
    info = ModelInfo(Path(model_dir))
    scorer = Scorer(info, settings)
    max_bytes = settings.max_upload_mb << 20
    app = FastAPI(title="radscore decision support", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.scorer = scorer
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def _limit_size(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > 6 * max_bytes + (1 << 20):
            return JSONResponse({"error": f"request larger than the limit ({6 * settings.max_upload_mb} MB)."},
                                status_code=413)
        return await call_next(request)

    # Light routes are coroutines: they answer on the event loop, not queued behind predictions in the threadpool.
    @app.get("/")
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/health")
    async def health():
        return {"status": "ok", "model": info.model.name}

    @app.get("/api/model")
    async def model_info():
        return info.summary()

    @app.post("/api/predict")
    def predict(ct: UploadFile | None = File(None), pet: UploadFile | None = File(None),
                mask: UploadFile | None = File(None), fu_ct: UploadFile | None = File(None),
                fu_pet: UploadFile | None = File(None), fu_mask: UploadFile | None = File(None),
                patient_id: str = Form("patient"), mask_roi: str = Form(""), keep: bool = Form(False)):
        t0 = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix="radscore-upload-"))
        kept = None
        try:
            roles = (*info.model.scan.modalities, "mask")  # the images the model was trained on
            needed = ", ".join(r.upper() if r != "mask" else "tumour mask" for r in roles)
            base = {r: f for r, f in {"ct": ct, "pet": pet, "mask": mask}.items() if r in roles}
            follow = {r: f for r, f in {"ct": fu_ct, "pet": fu_pet, "mask": fu_mask}.items() if r in roles}
            missing = [r.upper() if r != "mask" else "mask" for r, f in base.items() if not _given(f)]
            if missing:
                raise _PageError(f"missing baseline upload(s): {', '.join(missing)}. The model needs: {needed}.")
            given_fu = [r for r, f in follow.items() if _given(f)]
            if given_fu and len(given_fu) != len(roles):
                raise _PageError(f"a follow-up needs {needed}; only {', '.join(given_fu)} given.")
            pid = (patient_id or "patient").strip()[:64] or "patient"
            roi = mask_roi.strip()[:128] or None  # the ROI/segment name when the mask is an RTSTRUCT or SEG
            scans = [_save_scan(base, work / "baseline", pid, "baseline", max_bytes, roi)]
            if given_fu:
                scans.append(_save_scan(follow, work / "followup", pid, "followup", max_bytes, roi))
            result = scorer.score(scans)
            if keep:
                settings.keep_dir.mkdir(parents=True, exist_ok=True)
                kept = settings.keep_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
                shutil.copytree(work, kept)
            result["kept"] = str(kept) if kept else None
            result["seconds"] = round(time.perf_counter() - t0, 2)
            return result
        except RadscoreError as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        except _PageError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            for f in (ct, pet, mask, fu_ct, fu_pet, fu_mask):
                if f is not None:
                    f.file.close()
            _release_memory()

    return app


def _release_memory() -> None:
    """Give freed heap pages back to the OS after a prediction.

    glibc keeps memory freed by worker threads in per-thread arenas, so the server's RSS
    would stay at its peak after a burst; ``malloc_trim`` returns it (no-op elsewhere).
    """
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _given(f: UploadFile | None) -> bool:
    return f is not None and bool(f.filename)


def _save_scan(files: dict, folder: Path, patient: str, timepoint: str, max_bytes: int,
               mask_roi: str | None = None) -> ScanRef:
    """Save one scan's uploads; the :class:`ScanRef` the scan loader reads."""
    from radscore.web.uploads import save_upload

    paths = {}
    for role, f in files.items():
        try:
            paths[role] = str(save_upload(f.file, f.filename, folder, role, max_bytes))
        except ImageError as exc:
            exc.problem = f"{timepoint} {role.upper() if role != 'mask' else 'mask'}: {exc.problem}"
            exc.file = f.filename
            raise
    return ScanRef(patient, timepoint=timepoint, mask_roi=mask_roi, **paths)


def serve(model_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, *,
          settings: ServerSettings | None = None) -> None:
    """Run the page with uvicorn until interrupted (bound to loopback unless ``host`` says otherwise)."""
    import uvicorn

    app = create_app(model_dir, settings)
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s: the page is reachable from other machines; it has no authentication", host)
    logger.info("radscore page for model %s at http://%s:%d/", app.state.scorer.info.model.name, host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")
