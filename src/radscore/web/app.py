"""The decision-support page: a FastAPI app that scores one uploaded patient with a trained model.

Each upload becomes a :class:`~radscore.io.scan.ScanRef`, is prepared once per request by
the one scan loader (:func:`radscore.imaging.preprocess.prepare_scan`, with the model's
stored settings) and extracted by the one runner; the Radscore comes from
:func:`radscore.pipeline.predict.score_extraction`, as in ``radscore predict``, so the page
and the command line give the same number. The model is loaded once per process.

Uploads are streamed into a temporary folder under hard limits (:mod:`radscore.web.form`,
:mod:`radscore.web.limits`) and the folder is deleted before the response is sent. They
are kept only when the server was started with a keep folder (``--keep-dir``): an
operator's decision, never a client's. No response names a server path.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from radscore.errors import ConfigError, ImageError, RadscoreError
from radscore.io.scan import ScanRef
from radscore.web.form import Received, receive_form
from radscore.web.limits import Admission, DiskBudget, Lease, LimitExceeded
from radscore.web.uploads import finish_upload

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
ROLES = ("ct", "pet", "mask")
DRAIN_SECONDS = 10.0  # longest a refused request's remaining body is read (and dropped) before answering


@dataclass(frozen=True)
class ServerSettings:
    """Limits of the page's server.

    Attributes
    ----------
    max_upload_mb : int
        Largest single file of a request (a zip's extracted size may be 4x this).
    max_request_mb : int
        Largest request body (all files of one request), counted as it is read: a chunked
        request is stopped at this many bytes like one that declares its length.
    max_temp_mb : int
        Temporary disk all requests together may use (uploads, extracted zips and the
        images prepared for scoring); a request that would pass it is refused with 413.
    max_concurrent : int
        Requests uploading or being scored at the same time (bounds disk and memory).
    max_waiting : int
        Requests queued for a slot; beyond this a request is refused with 503.
    keep_dir : Path or None
        Folder where every upload is kept after scoring; None (default): nothing is kept.
    keep_max_mb : int
        Quota of ``keep_dir``: an upload that would pass it is deleted like any other.
    """

    max_upload_mb: int = 512
    max_request_mb: int = 1024
    max_temp_mb: int = 4096
    max_concurrent: int = 2
    max_waiting: int = 8
    keep_dir: Path | None = None
    keep_max_mb: int = 10240

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_request_mb", "max_temp_mb", "max_concurrent", "keep_max_mb"):
            if getattr(self, name) < 1:
                raise ConfigError(f"server setting {name} must be at least 1, got {getattr(self, name)}.")
        if self.max_waiting < 0:
            raise ConfigError(f"server setting max_waiting must be >= 0, got {self.max_waiting}.")


class ModelInfo:
    """The loaded model plus the training Radscores it is compared with."""

    def __init__(self, model_dir: Path, trusted_key: str | Path | None = None):
        from radscore.modeling.artifact import load_model

        self.dir = model_dir
        self.model = load_model(model_dir, trusted_key=trusted_key)
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
    """Scores uploads; shared by the app's request handlers (admission bounds how many at once)."""

    def __init__(self, info: ModelInfo, settings: ServerSettings):
        from radscore.features.settings import spec_from_settings

        self.info = info
        self.settings = settings
        self.spec = spec_from_settings(info.model.scan.features)
        self._figures = threading.Lock()  # matplotlib's rc_context (used by figure_bytes) is global state
        self.keep_lock = threading.Lock()  # the keep folder's quota is checked and filled as one step

    def score(self, scans: list[ScanRef], lease: Lease) -> dict:
        """Score one patient's scans; ``lease`` holds the disk the prepared images take while extracting."""
        from radscore.features.runner import extract_prepared
        from radscore.features.tasks import stored_bytes
        from radscore.imaging.preprocess import prepare_scan
        from radscore.pipeline.predict import crop_size, score_extraction
        from radscore.web.views import (
            data_uri,
            distribution_figure,
            overlay_figure,
            trajectory_figure,
        )

        info = self.info
        prepared = []
        for ref in scans:
            try:
                prepared.append(prepare_scan(ref, info.model.scan, crop_size=crop_size(info.model)))
            except RadscoreError as exc:
                raise _PageError(f"{ref.timepoint}: {exc.message}") from None
        # The runner writes the prepared images to the temporary folder for its tasks: larger
        # than the upload (resampled, float32), so they are counted in the page's disk budget too.
        lease.reserve(sum(stored_bytes(p, self.spec) for p in prepared))
        extraction = extract_prepared(prepared, self.spec, workers=1, desc="scoring")
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


def create_app(model_dir: str | Path, settings: ServerSettings | None = None, *,
               trusted_key: str | Path | None = None) -> FastAPI:
    """The FastAPI app serving the page for the model in ``model_dir``.

    Routes: ``GET /`` (the page), ``GET /static/*``, ``GET /api/health`` (with the
    uploads' temporary disk in use, its peak and its limit),
    ``GET /api/model`` (name, cutoff, features, training size), ``POST /api/predict``
    (multipart: ``ct``, ``pet``, ``mask`` and optionally ``fu_ct``, ``fu_pet``,
    ``fu_mask``, ``patient_id``, ``mask_roi`` (an RTSTRUCT/SEG mask's ROI)). Answers of
    ``/api/predict``: 200, 400 (bad upload), 413 (a size or disk limit passed), 503 (busy).

    Parameters
    ----------
    trusted_key : path, optional
        Ed25519 public key (PEM) the model's signature must verify with.

    Raises
    ------
    ModelFileError
        The model folder is missing, damaged, or (with ``trusted_key``) unsigned or not
        signed by that key (checked at start-up, not per request).
    """
    settings = settings or ServerSettings()
    info = ModelInfo(Path(model_dir), trusted_key=trusted_key)
    scorer = Scorer(info, settings)
    budget = DiskBudget(settings.max_temp_mb << 20)
    admission = Admission(settings.max_concurrent, settings.max_waiting)
    max_request, max_file = settings.max_request_mb << 20, settings.max_upload_mb << 20
    app = FastAPI(title="radscore decision support", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.scorer = scorer
    app.state.budget = budget
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    roles = (*info.model.scan.modalities, "mask")  # the images the model was trained on
    file_fields = {**{r: ("baseline", r) for r in roles}, **{f"fu_{r}": ("followup", r) for r in roles}}

    # Light routes are coroutines: they answer on the event loop, not queued behind predictions in the threadpool.
    @app.get("/")
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/health")
    async def health():
        # the uploads' disk in use must come back to 0 between bursts, or the page would end
        # refusing every upload: shown so an operator (and tests/web/test_soak.py) can check it
        return {"status": "ok", "model": info.model.name, "temp_bytes_in_use": budget.used,
                "temp_bytes_peak": budget.peak, "temp_bytes_limit": budget.limit}

    @app.get("/api/model")
    async def model_info():
        return info.summary()

    @app.post("/api/predict")
    async def predict(request: Request):
        t0 = time.perf_counter()
        length = request.headers.get("content-length", "")
        too_long = length.isdigit() and int(length) > max_request
        work = None
        try:
            if too_long:  # refused before waiting for a slot
                raise LimitExceeded(f"the request is larger than the limit of {settings.max_request_mb} MB.")
            async with admission.slot():
                work = Path(tempfile.mkdtemp(prefix="radscore-upload-"))
                lease = budget.lease()
                try:
                    form = await receive_form(request.stream(), request.headers.get("content-type", ""), work,
                                              lease, max_request=max_request, max_file=max_file,
                                              file_fields=file_fields)
                    result = await run_in_threadpool(_score_form, scorer, form, work, lease, roles)
                finally:
                    await run_in_threadpool(shutil.rmtree, work, True)
                    lease.close()
                    _release_memory()
            result["seconds"] = round(time.perf_counter() - t0, 2)
            return result
        except ClientDisconnect:  # nobody to answer; the upload folder is already deleted
            logger.info("client disconnected during an upload")
            return JSONResponse({"error": "client disconnected."}, status_code=400)
        except LimitExceeded as exc:
            status, message = exc.status, exc.message
        except RadscoreError as exc:
            status, message = 400, _public(exc.message, work, settings, info)
        except _PageError as exc:
            status, message = exc.status, _public(exc.message, work, settings, info)
        # A refusal may come before the body is read to its end (a limit, the queue, a bad file
        # type). A client that sends its whole body before reading the answer (the page's fetch,
        # most HTTP libraries) then gets a connection reset instead of the answer, as the server
        # closes with unread bytes; so what is left is read and dropped first (no disk, no slot),
        # within the request limit and DRAIN_SECONDS. Not when the declared length is already
        # over the limit, nor for a client waiting to be told to send (Expect: 100-continue).
        waiting = work is None and "100-continue" in request.headers.get("expect", "").lower()
        if not (too_long or waiting):
            await _drain(request, max_request)
        # the body may not have been read to its end: the connection cannot carry another request
        headers = {"Connection": "close"} | ({"Retry-After": "30"} if status == 503 else {})
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    return app


async def _drain(request: Request, max_bytes: int, seconds: float = DRAIN_SECONDS) -> None:
    """Read and drop what is left of a refused request's body: at most ``max_bytes``, for at most ``seconds``."""
    read = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                read += len(chunk)
                if read > max_bytes:
                    return
    except (TimeoutError, ClientDisconnect):
        pass
    except RuntimeError:  # Starlette's "Stream consumed": the body was already read to its end
        pass


def _score_form(scorer: Scorer, form: Received, work: Path, lease: Lease, roles: tuple[str, ...]) -> dict:
    """Check the received files, score them and keep them if the server keeps uploads (in a worker thread)."""
    settings = scorer.settings
    needed = ", ".join(r.upper() if r != "mask" else "tumour mask" for r in roles)
    missing = [r.upper() if r != "mask" else "mask" for r in roles if r not in form.files]
    if missing:
        raise _PageError(f"missing baseline upload(s): {', '.join(missing)}. The model needs: {needed}.")
    given_fu = [r for r in roles if f"fu_{r}" in form.files]
    if given_fu and len(given_fu) != len(roles):
        raise _PageError(f"a follow-up needs {needed}; only {', '.join(given_fu)} given.")
    pid = (form.fields.get("patient_id") or "patient").strip()[:64] or "patient"
    roi = (form.fields.get("mask_roi") or "").strip()[:128] or None  # the ROI/segment name of an RTSTRUCT or SEG
    scans = [_scan_ref(form, "", roles, pid, "baseline", lease, settings.max_upload_mb << 22, roi)]
    if given_fu:
        scans.append(_scan_ref(form, "fu_", roles, pid, "followup", lease, settings.max_upload_mb << 22, roi))
    result = scorer.score(scans, lease)
    if settings.keep_dir is not None:
        with scorer.keep_lock:
            result["kept"] = _keep(work, settings)
    else:
        result["kept"] = False
    return result


def _scan_ref(form: Received, prefix: str, roles: tuple[str, ...], patient: str, timepoint: str, lease: Lease,
              max_zip: int, mask_roi: str | None) -> ScanRef:
    """Type-check (and unzip) one scan's received files; the :class:`ScanRef` the scan loader reads."""
    paths = {}
    for role in roles:
        path, filename = form.files[prefix + role]
        try:
            paths[role] = str(finish_upload(path, filename, role, lease, max_zip_bytes=max_zip))
        except ImageError as exc:
            exc.problem = f"{timepoint} {role.upper() if role != 'mask' else 'mask'}: {exc.problem}"
            exc.file = filename
            raise
    return ScanRef(patient, timepoint=timepoint, mask_roi=mask_roi, **paths)


def _keep(work: Path, settings: ServerSettings) -> bool:
    """Copy a scored upload into the server's keep folder, within its quota; whether it was kept."""
    keep = settings.keep_dir
    keep.mkdir(parents=True, exist_ok=True)
    size = _folder_bytes(work)
    if _folder_bytes(keep) + size > settings.keep_max_mb << 20:
        logger.warning("keep folder %s is over its quota of %d MB: this upload was not kept", keep,
                       settings.keep_max_mb)
        return False
    shutil.copytree(work, keep / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}")
    return True


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _public(message: str, work: Path | None, settings: ServerSettings, info: ModelInfo) -> str:
    """``message`` without server paths: the upload folder becomes the file's place in the upload.

    Loader errors name the file they read, which here is a path in the server's temporary
    folder; a client needs which of its uploads, not where the server put it.
    """
    roots = [(work, "upload")] if work is not None else []
    roots += [(Path(tempfile.gettempdir()), "temp"), (info.dir.resolve(), "model"), (info.dir, "model")]
    if settings.keep_dir is not None:
        roots.append((settings.keep_dir, "keep"))
    for root, label in roots:
        for form in {str(root), str(root.resolve())}:
            message = re.sub(re.escape(form) + r"(?:[/\\]([^\s'\",:]*))?",
                             lambda m, label=label: f"<{label}>/{m.group(1)}" if m.group(1) else f"<{label}>", message)
    return message


def _release_memory() -> None:
    """Give freed heap pages back to the OS after a prediction.

    glibc keeps memory freed by worker threads in per-thread arenas, so the server's RSS
    would stay at its peak after a burst; ``malloc_trim`` returns it (no-op elsewhere).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None; looked up once, as ``find_library`` runs ``ldconfig -p``
    in a child process: on every request that was a fork of the whole server."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def serve(model_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, *,
          settings: ServerSettings | None = None, trusted_key: str | Path | None = None) -> None:
    """Run the page with uvicorn until interrupted (bound to loopback unless ``host`` says otherwise).

    ``trusted_key``: refuse to start unless the model is signed by this Ed25519 public key.
    """
    import uvicorn

    app = create_app(model_dir, settings, trusted_key=trusted_key)
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s: the page is reachable from other machines; it has no authentication", host)
    logger.info("radscore page for model %s at http://%s:%d/", app.state.scorer.info.model.name, host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")
