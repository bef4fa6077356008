"""The ``radscore`` command line.

Every subcommand's ``--help`` documents its outputs. Errors in the user's input print
one line naming the patient, file or key and the fix, and exit with the code listed in
:mod:`radscore.errors` (2 input, 3 data, 4 output folder); never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from radscore import __version__
from radscore.catalog import SUV_METHODS
from radscore.config import PROTOCOLS
from radscore.errors import EXIT_OK, RadscoreError, UsageError

log = logging.getLogger("radscore")

RUN_OUTPUTS = """outputs written into DIR:
  report.html       self-contained study report (figures embedded), tables/ and figures/ beside it
  features.parquet  one row per patient, time point and lesion; one column per feature
  scores.csv        patient_id, timepoint, lesion_id, site, cohort, model, radscore, radscore_oof,
                    probability, group (radscore_oof: out-of-fold for training patients)
  metrics.json      per model and cohort (training apparent and out-of-fold, testing, external):
                    ROC and PR AUC with CIs, calibration, Hosmer-Lemeshow, metrics at the cutoff;
                    DeLong tests and NRI/IDI between models (schema: README)
  qc.csv            scans excluded or warned about, with the reason
  models/NAME/      the trained models (portable, no pickle), for `radscore predict`
  .radscore/        cache and stage records: a rerun reuses finished work"""


TRUSTED_KEY_HELP = ("refuse the model unless it is signed by this Ed25519 public key (radscore sign); without it "
                    "the model's hashes are checked, which detects corruption but not a deliberate edit")


OUT_FILE_HELP = "its folder must exist"


def _add_suv_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weight-kg", type=float, help="patient weight for a PET DICOM series that lacks PatientWeight "
                                                   "(overrides the tag)")
    p.add_argument("--dose-mbq", type=float, help="injected dose for a PET DICOM series that lacks "
                                                  "RadionuclideTotalDose (overrides the tag)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--scheduler", default=None, help="dask.distributed scheduler address, e.g. tcp://host:8786")


DEMO_PATIENTS = 120
DEMO_EXTERNAL = 40


def _add_simulate_options(p: argparse.ArgumentParser, external_default: int) -> None:
    p.add_argument("--study", choices=["nsclc", "mcrc"], default="nsclc",
                   help="which seed the simulated study follows: nsclc (PROTOCOL Study A, default) or mcrc (Study B: "
                        "four cohorts, RNA-seq, CD3/CD8, immunotherapy response)")
    p.add_argument("--patients", type=int, default=None,
                   help=f"--study nsclc: simulated patients split into training and testing (default {DEMO_PATIENTS})")
    p.add_argument("--external", type=int, default=None,
                   help="--study nsclc: add N patients acquired at three other simulated centres in turn (other PET "
                        "resolution, noise and calibration; CT slice thickness, kernel, lung density, contrast) as "
                        f"the cohort 'external' (default {external_default}); the manifest then names every "
                        "patient's cohort and scanner")
    p.add_argument("--cohort-sizes", default=None, metavar="TRAINING,INTERNAL,EXTERNAL_1,EXTERNAL_2",
                   help="--study mcrc: patients per cohort (default 105,60,42,99, the seed's); training at least 10, "
                        "0 leaves a cohort out")
    p.add_argument("--seed", type=int, default=42, help="random seed of the simulation (default 42)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radscore", description="PET/CT radiomics: from images to validated Radscores and a study report.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes: 0 ok, 2 bad input (config, manifest, image, model file, --out FILE in a missing folder),\n"
               "            3 data cannot support the analysis, 4 output folder not writable\n"
               "outputs:    a study folder (init DIR; simulate, demo, keygen --out) is created if missing; a single\n"
               "            output file (suv, rtstruct, segment, extract --out FILE) must go into an existing folder,\n"
               "            so a mistyped path is an error rather than a new folder",
    )
    parser.add_argument("--version", action="version", version=f"radscore {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info logging")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="see radscore COMMAND --help")

    p = sub.add_parser("demo", help="simulate a cohort (NSCLC or mCRC seed), run the whole study, write report.html",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=RUN_OUTPUTS.replace("DIR", "OUT"))
    p.add_argument("--out", default="radscore_demo", help="study folder to create (default: ./radscore_demo)")
    _add_simulate_options(p, external_default=DEMO_EXTERNAL)
    _add_run_options(p)

    p = sub.add_parser("init", help="write DIR/study.yaml with every setting of a protocol spelled out and commented")
    p.add_argument("dir", help="study folder (created if missing; an existing study.yaml is not overwritten)")
    p.add_argument("--protocol", choices=PROTOCOLS, default=PROTOCOLS[0],
                   help="preset: nsclc_seed (the seed's protocol, default) or quick (original image type only)")

    p = sub.add_parser("simulate", help="write a simulated study folder (images, manifest, tables, study.yaml)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="outputs: OUT/images/*.nii.gz (CT in HU, PET in SUV, masks), manifest.csv, clinical.csv, "
                              "expression.csv, study.yaml;\n"
                              "         nsclc also cells.csv; mcrc: one baseline liver-metastasis scan per patient, "
                              "the manifest's cohort\n"
                              "         column names training, internal, external_1, external_2 (expression.csv "
                              "holds the first three only)")
    p.add_argument("--out", required=True, help="study folder to write (created if missing)")
    _add_simulate_options(p, external_default=0)
    p.add_argument("--protocol", choices=PROTOCOLS, default=None,
                   help=f"--study nsclc: preset written into study.yaml (default {PROTOCOLS[0]}); the mCRC study "
                        "always uses its seed's preset")

    p = sub.add_parser("run", help="run the study in DIR (reuses finished stages)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=RUN_OUTPUTS)
    p.add_argument("dir", help="study folder holding study.yaml and the manifest")
    p.add_argument("--config", default=None, help="config file (default DIR/study.yaml)")
    p.add_argument("--json", action="store_true", help="print metrics.json to stdout")
    _add_run_options(p)

    p = sub.add_parser("predict", help="score new patients with a trained model",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="prints per patient: Radscore, probability, risk group vs the training cutoff, and "
                              "warnings (features outside the training range); --json prints one JSON object per "
                              "line: patient_id, model, radscore, probability, group, warnings")
    p.add_argument("model", help="model folder, e.g. DIR/models/comb")
    p.add_argument("--ct", help="CT image file or DICOM folder")
    p.add_argument("--pet", help="PET image file (SUV) or DICOM folder (converted to SUV)")
    p.add_argument("--mask", help="tumour mask: image file, or a DICOM RTSTRUCT/SEG file (with --mask-roi)")
    p.add_argument("--mask-roi", help="ROI name (RTSTRUCT) or segment label (SEG) when --mask is a DICOM file")
    p.add_argument("--weight-kg", type=float, help="patient weight when the PET DICOM lacks it")
    p.add_argument("--dose-mbq", type=float, help="injected dose when the PET DICOM lacks it")
    p.add_argument("--patient-id", default="patient", help="ID shown in the output (never read from DICOM)")
    p.add_argument("--manifest", help="CSV of many scans with the study manifest's columns (patient_id, ct, pet, "
                                      "mask; optional timepoint, lesion_id, mask_roi, mask_label, weight_kg, "
                                      "dose_mbq); paths relative to it")
    p.add_argument("--json", action="store_true", help="one JSON object per patient on stdout")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default 1)")
    p.add_argument("--trusted-key", metavar="PUBLIC.pem", help=TRUSTED_KEY_HELP)
    p.add_argument("--dicom-out", metavar="DIR", default=None,
                   help="also write each scan's VOIs as a DICOM SEG and its Radscore with the model's features as a "
                        "DICOM SR (TID 1500) into DIR/<patient>_<timepoint>_<lesion>/ (scans whose CT, or PET "
                        "without CT, is a DICOM series; others are listed as skipped in DIR/index.csv)")

    p = sub.add_parser("serve", help="start the decision-support page for a model (local web server)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="open http://HOST:PORT/ in a browser, upload CT, PET and mask (and optionally a "
                              "follow-up) and see the Radscore, risk group, training distribution and VOI overlays; "
                              "uploads are deleted after each response unless the server has a --keep-dir; a "
                              "request over a size limit is refused with 413, one over the queue with 503")
    p.add_argument("model", help="model folder, e.g. DIR/models/comb")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--max-upload-mb", type=int, default=512, help="largest single file (default 512 MB)")
    p.add_argument("--max-request-mb", type=int, default=1024,
                   help="largest request, all files together, counted as read (default 1024 MB)")
    p.add_argument("--max-temp-mb", type=int, default=4096,
                   help="temporary disk all requests together may use, extracted zips and prepared images "
                        "included (default 4096 MB)")
    p.add_argument("--max-concurrent", type=int, default=2,
                   help="requests uploading or being scored at once (default 2); up to 8 more wait")
    p.add_argument("--keep-dir", default=None,
                   help="keep every scored upload in this folder (default: keep nothing); clients cannot choose")
    p.add_argument("--keep-max-mb", type=int, default=10240, help="quota of --keep-dir (default 10240 MB)")
    p.add_argument("--trusted-key", metavar="PUBLIC.pem", help=TRUSTED_KEY_HELP)

    p = sub.add_parser("keygen", help="make an Ed25519 key pair for signing models (private.pem, public.pem)",
                       epilog="keep private.pem secret (written with mode 600); give public.pem to whoever runs "
                              "predict or serve with --trusted-key. openssl makes the same files: openssl genpkey "
                              "-algorithm ed25519 -out private.pem; openssl pkey -in private.pem -pubout -out "
                              "public.pem")
    p.add_argument("--out", required=True, help="folder to write the key pair into (existing keys are kept)")

    p = sub.add_parser("sign", help="sign a model folder with an Ed25519 private key (writes signature.json)",
                       epilog="the signature covers manifest.json, which holds every file's SHA-256, so with "
                              "--trusted-key an edit of any file is refused; without a key the hashes only detect "
                              "corruption")
    p.add_argument("model", help="model folder, e.g. DIR/models/comb")
    p.add_argument("--key", required=True, metavar="PRIVATE.pem", help="Ed25519 private key (radscore keygen)")

    p = sub.add_parser("suv", help="convert a PET DICOM series to an SUV image (prints the factor and tags used)")
    p.add_argument("dicom_dir", help="folder holding one PET DICOM series")
    p.add_argument("--out", required=True, help=f"output image, e.g. suv.nii.gz; {OUT_FILE_HELP}")
    p.add_argument("--method", default="bw", choices=list(SUV_METHODS),
                   help="SUV normalisation: " + ", ".join(f"{k} ({v})" for k, v in SUV_METHODS.items()))
    _add_suv_overrides(p)

    p = sub.add_parser("rtstruct", help="list the ROIs of an RTSTRUCT/SEG file, or rasterise one ROI to a mask")
    p.add_argument("file", help="RTSTRUCT or DICOM SEG file")
    p.add_argument("--list", action="store_true", dest="list_rois", help="print the ROI/segment names")
    p.add_argument("--roi", help="ROI name (RTSTRUCT) or segment label (SEG) to rasterise")
    p.add_argument("--image", help="DICOM image folder whose grid the mask is drawn on")
    p.add_argument("--out", help=f"output mask, e.g. mask.nii.gz; {OUT_FILE_HELP}")

    p = sub.add_parser("segment", help="semi-automatic PET lesion mask: threshold around a seed point or in a box")
    p.add_argument("pet", help="PET SUV image file or PET DICOM folder")
    p.add_argument("--out", required=True, help=f"output mask, e.g. mask.nii.gz; {OUT_FILE_HELP}")
    p.add_argument("--threshold", type=float, required=True, help="SUV (--mode suv) or percent of SUVmax")
    p.add_argument("--mode", default="percent_max", choices=["percent_max", "suv"],
                   help="what --threshold means: percent_max, a percentage of the lesion's SUVmax (default), or "
                        "suv, a fixed SUV")
    p.add_argument("--seed-mm", type=float, nargs=3, metavar=("X", "Y", "Z"), help="seed point (mm, patient LPS)")
    p.add_argument("--box-mm", type=float, nargs=6, metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"),
                   help="search box corners (mm, patient LPS)")
    p.add_argument("--method", default="bw", choices=list(SUV_METHODS),
                   help="SUV normalisation for a DICOM folder: " + ", ".join(SUV_METHODS))
    _add_suv_overrides(p)

    p = sub.add_parser("extract", help="features of one scan: an image + mask with a PyRadiomics parameter file, "
                                       "or a PET/CT scan through a study's whole protocol",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="PyRadiomics style (--image --mask [--params]): one CSV row: Image, Mask, then one "
                              "column per feature (original_glcm_Contrast, wavelet-LLH_firstorder_Mean, ...).\n"
                              "Study style (--ct --pet --mask [--config]): one CSV row: patient_id, then the study's "
                              "columns (pet_tumor_original_glcm_Contrast, ...), as in features.parquet.")
    p.add_argument("--image", help="PyRadiomics style: image file (NIfTI, NRRD, MHA) or DICOM folder")
    p.add_argument("--modality", default="ct", choices=["ct", "pet"],
                   help="PyRadiomics style: pet converts a PET DICOM folder to SUV (default ct: values as stored)")
    p.add_argument("--params", default=None, help="PyRadiomics style: parameter YAML (setting, imageType, "
                                                  "featureClass); default PyRadiomics' defaults")
    p.add_argument("--label", type=int, default=None, help="mask label to use (default: the params' setting "
                                                           "label, else 1; a mask with several labels needs it)")
    p.add_argument("--ct", help="study style: CT image file or DICOM folder")
    p.add_argument("--pet", help="study style: PET image file (SUV) or DICOM folder")
    p.add_argument("--config", default=None, help="study style: study.yaml whose protocol to run (default: "
                                                  "radscore's defaults)")
    p.add_argument("--mask", required=True, help="mask file, or a DICOM RTSTRUCT/SEG file (with --mask-roi)")
    p.add_argument("--mask-roi", default=None, help="ROI name (RTSTRUCT) or segment label (SEG)")
    p.add_argument("--patient-id", default="scan", help="ID in messages and the study-style row")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", required=True, help=f"CSV file to write; {OUT_FILE_HELP}")

    p = sub.add_parser("validate", help="check study.yaml and the manifest without running anything",
                       epilog="reports every config error at once, and every manifest row whose CT, PET or mask is "
                              "not given, missing or unreadable (patient, column, file, problem); exits 2 if any")
    p.add_argument("dir", help="study folder holding study.yaml and the manifest")
    p.add_argument("--config", default=None, help="config file (default DIR/study.yaml)")
    return parser


def _setup_logging(quiet: bool, verbose: bool) -> None:
    if quiet:
        os.environ["RADSCORE_QUIET"] = "1"
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("distributed", "matplotlib", "PIL", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # --verbose is radscore's debug log; numba's compiler debug log (megabytes on a first run) is not
    logging.getLogger("numba").setLevel(max(level, logging.INFO))


def _silence_itk() -> None:
    """Stop ITK printing its warnings ("WARNING: In .../itkImageSeriesReader.hxx ...") to stderr.

    They bypass logging, name C++ source files rather than the patient, and mostly concern
    what radscore checks and reports itself (slice spacing, truncation, NaN voxels). Forked
    worker processes inherit the setting.
    """
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)


def _print_headline(metrics: dict) -> None:
    """Each Radscore's AUC with its CI in every cohort but the apparent training one (and, in an
    mCRC study, the Rad-Score's AUC for immunotherapy response)."""
    from radscore.catalog import MODEL_TITLES

    for endpoint, block in (("", metrics), (" response", metrics.get("response", {}))):
        for model, entry in block.get("models", {}).items():
            for cohort, t in entry["cohorts"].items():
                if cohort == "training_apparent" or t.get("auc") is None:
                    continue
                ci = f"95% CI {t['auc_ci_low']:.3f}-{t['auc_ci_high']:.3f}" if "auc_ci_low" in t else "no CI"
                print(f"{MODEL_TITLES.get(model, model):>15}{endpoint} {cohort:<18} AUC {t['auc']:.3f} ({ci}, "
                      f"n={t['n']})")


def _write_simulated(args, out: Path, external_default: int, protocol: str | None = None,
                     workers: int | None = None) -> str:
    """Write the simulated study ``args`` ask for into ``out``; a description of what was written."""
    if args.study == "mcrc":
        from radscore.simulate.mcrc import DEFAULT_SIZES, cohort_sizes, write_mcrc_study

        given = [name for name, value in (("--patients", args.patients), ("--external", args.external),
                                          ("--protocol", protocol)) if value is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: for --study nsclc only.",
                             fix="size the mCRC cohorts with --cohort-sizes TRAINING,INTERNAL,EXTERNAL_1,EXTERNAL_2.")
        sizes = cohort_sizes(args.cohort_sizes if args.cohort_sizes is not None else DEFAULT_SIZES)
        what = f"{sum(sizes.values())} patients: " + ", ".join(f"{k} {v}" for k, v in sizes.items())
        log.info("simulating an mCRC study (%s) into %s", what, out)
        write_mcrc_study(out, list(sizes.values()), args.seed, workers=workers)
        return what
    from radscore.simulate import write_study

    if args.cohort_sizes is not None:
        raise UsageError("--cohort-sizes: for --study mcrc only.",
                         fix="size the NSCLC study with --patients and --external.")
    patients = DEMO_PATIENTS if args.patients is None else args.patients
    external = external_default if args.external is None else args.external
    log.info("simulating %d patients (+%d external) into %s", patients, external, out)
    write_study(out, patients, args.seed, protocol=protocol or PROTOCOLS[0], external=external, workers=workers)
    return f"{patients} patients" + (f" + {external} external" if external else "")


def cmd_demo(args) -> int:
    from radscore.pipeline.run import run_study

    t0 = time.perf_counter()
    out = Path(args.out)
    if not (out / "study.yaml").exists():
        if args.scheduler is None:
            from radscore.runtime.jit import compile_in_background

            compile_in_background()  # a fresh install's kernels compile while the cohort is simulated
        _write_simulated(args, out, DEMO_EXTERNAL, workers=args.workers)
    metrics = run_study(out, workers=args.workers, scheduler=args.scheduler)
    _print_headline(metrics)
    print(f"report: {out / 'report.html'}  ({time.perf_counter() - t0:.0f} s)")
    return EXIT_OK


def cmd_init(args) -> int:
    from radscore.config import config_from_dict, dump_config
    from radscore.errors import OutputError
    from radscore.runtime.files import atomic_write_text

    out = Path(args.dir)
    path = out / "study.yaml"
    if path.exists():
        raise OutputError(f"{path} exists; not overwritten.", fix="remove it or choose another folder.")
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# radscore study, protocol preset '{args.protocol}': every setting spelled out with its default.\n"
              "# Edit what your study needs; keys you delete take the preset's value. Check with: radscore validate "
              f"{out}\n")
    atomic_write_text(path, header + dump_config(config_from_dict({"protocol": args.protocol}), comments=True))
    print(f"wrote {path}; add manifest.csv beside it (see README, 'manifest.csv columns'), then: radscore run {out}")
    return EXIT_OK


def cmd_simulate(args) -> int:
    out = Path(args.out)
    what = _write_simulated(args, out, 0, args.protocol)
    print(f"wrote {out} ({what}); run it with: radscore run {out}")
    return EXIT_OK


def cmd_run(args) -> int:
    from radscore.pipeline.run import run_study

    metrics = run_study(args.dir, config_path=args.config, workers=args.workers, scheduler=args.scheduler)
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        _print_headline(metrics)
        print(f"report: {Path(args.dir) / 'report.html'}")
    return EXIT_OK


def cmd_validate(args) -> int:
    from radscore.catalog import modalities_text
    from radscore.errors import ManifestError
    from radscore.io.manifest import file_problems
    from radscore.pipeline.context import Study

    study = Study.open(args.dir, args.config)
    manifest = study.manifest()
    modalities = study.config.for_manifest(manifest).scan.modalities
    problems = file_problems(manifest, modalities)
    for name in ("expression", "cells"):  # the clinical table is read with the manifest
        rel = getattr(study.config.tables, name)
        if rel and not (study.root / rel).is_file():
            problems.append(f"tables.{name} {study.root / rel}: file not found.")
    if problems:
        raise ManifestError(f"{len(problems)} file problem(s):" + "".join(f"\n  {p}" for p in problems),
                            file=str(study.root / study.config.manifest),
                            fix="correct the paths (relative to the manifest) or remove the rows; radscore run "
                                "would exclude these scans.")
    if "label" in manifest.columns and "mask_label" not in manifest.columns:
        print("warning: the manifest's column 'label' is not read; the label to use in a mask holding several is "
              "the column 'mask_label'", file=sys.stderr)
    print(f"ok: {manifest['patient_id'].nunique()} patients, {len(manifest)} scans, "
          f"{modalities_text(modalities)}; every file the manifest names opens; config {study.config.name!r}")
    return EXIT_OK


def cmd_serve(args) -> int:
    from radscore.web import ServerSettings, serve

    settings = ServerSettings(max_upload_mb=args.max_upload_mb, max_request_mb=args.max_request_mb,
                              max_temp_mb=args.max_temp_mb, max_concurrent=args.max_concurrent,
                              keep_dir=Path(args.keep_dir) if args.keep_dir else None, keep_max_mb=args.keep_max_mb)
    serve(args.model, host=args.host, port=args.port, settings=settings, trusted_key=args.trusted_key)
    return EXIT_OK


def cmd_keygen(args) -> int:
    from radscore.modeling.signing import generate_keypair

    private, public = generate_keypair(args.out)
    print(f"wrote {private} (secret: signs models) and {public} (give to users: --trusted-key)")
    return EXIT_OK


def cmd_sign(args) -> int:
    from radscore.modeling.signing import sign_model

    path = sign_model(args.model, args.key)
    print(f"signed: {path}")
    return EXIT_OK


def _predict_refs(args) -> list:
    """The scans ``radscore predict`` was given, as scan references."""
    from radscore.errors import ManifestError
    from radscore.io.scan import ScanRef, scan_refs

    if args.manifest:
        import pandas as pd

        from radscore.io.manifest import PATH_COLUMNS, resolve_path

        try:  # as read_manifest: a damaged file is the user's to fix, not a traceback
            man = pd.read_csv(args.manifest, dtype={"patient_id": str, "lesion_id": str})
        except (OSError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise ManifestError(f"not a readable CSV ({exc}).", file=args.manifest) from None
        missing = [c for c in ("patient_id", "mask") if c not in man.columns]
        if missing or not {"ct", "pet"} & set(man.columns):
            raise ManifestError(f"missing column(s) {missing or ['ct or pet']}.", file=args.manifest,
                                fix="give patient_id, mask and the images the model uses (ct, pet).")
        base = Path(args.manifest).parent
        for c in PATH_COLUMNS:
            if c in man.columns:
                man[c] = [resolve_path(base, v) for v in man[c]]
        return scan_refs(man)
    if not (args.mask and (args.ct or args.pet)):
        raise ManifestError("give --mask with --ct and --pet (or the one image a PET-only or CT-only model uses), "
                            "or --manifest.", fix="see radscore predict --help.")
    return [ScanRef(args.patient_id, ct=args.ct, pet=args.pet, mask=args.mask, mask_roi=args.mask_roi,
                    weight_kg=args.weight_kg, dose_mbq=args.dose_mbq)]


def cmd_predict(args) -> int:
    from radscore.modeling.artifact import load_model
    from radscore.pipeline.predict import predict_scans

    refs = _predict_refs(args)
    model = load_model(args.model, trusted_key=args.trusted_key)
    out = predict_scans(model, refs, workers=args.workers or 1)
    if args.dicom_out:
        from radscore.pipeline.dicom_export import export_dicom, model_result

        # score_extraction keeps the scans' order: row i is refs[i]
        results = {ref.key: [model_result(model, row["radscore"], row["features"])]
                   for ref, row in zip(refs, out.to_dict("records")) if not row["error"]}
        index = export_dicom([ref for ref, err in zip(refs, out["error"]) if not err], model.scan, results,
                             args.dicom_out)
        for row in index[index["status"] != "written"].to_dict("records"):
            print(f"{row['patient_id']}: no DICOM SEG/SR ({row['status']}): {row['reason']}", file=sys.stderr)
    failed = 0
    for row in out.to_dict("records"):
        if row["error"]:
            failed += 1
            print(f"error: {row['error']}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({k: row[k] for k in ("patient_id", "model", "radscore", "probability", "group",
                                                  "warnings")}))
        else:
            print(f"{row['patient_id']}: Radscore {row['radscore']:.4f}, probability {row['probability']:.3f}, "
                  f"group {row['group']}")
            for w in row["warnings"]:
                print(f"  warning: {w}")
    return EXIT_OK if failed == 0 else 2


def _check_output_file(path: str | None) -> None:
    """A single output file (``--out FILE``) goes into an existing folder.

    Checked before any work, so that a mistyped path ends the command at once instead of
    silently creating a folder tree (study folders, ``--out DIR``, are created instead).
    """
    if path is None:
        return
    folder = Path(path).parent
    if not folder.is_dir():
        raise UsageError("the folder of --out does not exist.", file=str(folder),
                         fix="create the folder first, or correct the path.")


def cmd_suv(args) -> int:
    from radscore.imaging.commands import cmd_suv as run

    _check_output_file(args.out)
    return run(args.dicom_dir, args.out, args.method, weight_kg=args.weight_kg, dose_mbq=args.dose_mbq)


def cmd_rtstruct(args) -> int:
    from radscore.imaging.commands import cmd_rtstruct as run

    _check_output_file(args.out)
    return run(args.file, list_rois=args.list_rois, roi=args.roi, image_dir=args.image, out=args.out)


def cmd_segment(args) -> int:
    from radscore.imaging.commands import cmd_segment as run

    _check_output_file(args.out)
    return run(args.pet, args.out, args.threshold, mode=args.mode, seed_mm=args.seed_mm, box_mm=args.box_mm,
               method=args.method, weight_kg=args.weight_kg, dose_mbq=args.dose_mbq)


def cmd_extract(args) -> int:
    from radscore.errors import ConfigError
    from radscore.features.commands import cmd_extract as run

    if bool(args.image) == bool(args.ct or args.pet):
        raise ConfigError("give either --image (PyRadiomics style) or --ct and --pet (study style).",
                          fix="see radscore extract --help.")
    if args.image is None and not (args.ct and args.pet):
        raise ConfigError("the study style needs both --ct and --pet.", fix="see radscore extract --help.")
    _check_output_file(args.out)
    return run(args.image, args.mask, args.params, args.out, label=args.label, modality=args.modality, ct=args.ct,
               pet=args.pet, mask_roi=args.mask_roi, config=args.config, patient_id=args.patient_id,
               workers=args.workers)


COMMANDS = {"init": cmd_init, "demo": cmd_demo, "simulate": cmd_simulate, "run": cmd_run, "validate": cmd_validate, "predict": cmd_predict,
            "serve": cmd_serve, "keygen": cmd_keygen, "sign": cmd_sign, "suv": cmd_suv, "rtstruct": cmd_rtstruct,
            "segment": cmd_segment, "extract": cmd_extract}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_OK
    _setup_logging(args.quiet, args.verbose)
    _silence_itk()
    try:
        return COMMANDS[args.command](args)
    except RadscoreError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished work is cached; run the same command again to resume.", file=sys.stderr)
        return 130
