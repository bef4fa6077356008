"""Two halves of ``scripts/pyradiomics-lbp3d-reference.sh`` (read its header).

``inputs DIR`` (radscore's environment): writes each case of
``tests/features/lbp3d_cases.py`` as ``DIR/<case>_image.nrrd`` / ``_mask.nrrd`` and
``DIR/cases.json`` (description, fingerprint).

``extract DIR OUT`` (the SciPy 1.16 venv; imports no radscore code): runs PyRadiomics'
extractor with its own LBP-3D on every case and writes OUT.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: (subdivisions, radius) of the icospheres whose vertices are fingerprinted
ICOSPHERES = [(0, 1.0), (1, 1.0), (1, 2.5), (2, 1.0), (2, 1.7), (3, 1.0)]


def write_inputs(folder: Path) -> None:
    import os

    import SimpleITK as sitk

    sys.path.insert(0, str(HERE.parent / "tests" / "features"))
    import lbp3d_cases as cases

    folder.mkdir(parents=True)
    built = {name: (cases.synthetic(seed, dtype),
                    f"tests/features/lbp3d_cases.py synthetic(seed={seed}, dtype={dtype.__name__})")
             for name, (seed, dtype) in cases.SYNTHETIC.items()}
    ref = Path(os.environ["RADSCORE_REFERENCE_DIR"])
    pet_description = ("tests/features/lbp3d_cases.py pet(): shared/reference/pet/sts_001_raw_fdg_pet "
                       "(TCIA STS_001 FDG PET, DICOM) in SUVbw as loaded by radscore, GTV_Mass of its "
                       f"RTSTRUCT, box + {cases.PET_MARGIN} voxels")
    built[cases.PET_CASE] = (cases.pet(ref), pet_description)
    meta = {}
    for name, ((image, mask), description) in built.items():
        sitk.WriteImage(image, str(folder / f"{name}_image.nrrd"))
        sitk.WriteImage(mask, str(folder / f"{name}_mask.nrrd"))
        meta[name] = {"description": description, "input_sha256": cases.fingerprint(image, mask),
                      "voxels_in_mask": int((sitk.GetArrayFromImage(mask) > 0).sum())}
    settings = {"setting": cases.SETTINGS, "imageType": cases.IMAGE_TYPES, "featureClass": cases.CLASSES}
    (folder / "cases.json").write_text(json.dumps({"cases": meta, "params": settings}, indent=1))


def extract(folder: Path, out: Path) -> None:
    import hashlib
    from importlib.metadata import version

    import numpy as np
    import scipy.special
    import SimpleITK as sitk
    from radiomics import featureextractor

    if not hasattr(scipy.special, "sph_harm"):
        raise SystemExit(f"SciPy {scipy.__version__} has no sph_harm: PyRadiomics' LBP-3D cannot run")
    spec = json.loads((folder / "cases.json").read_text())
    params = spec["params"]
    extractor = featureextractor.RadiomicsFeatureExtractor(**params["setting"])
    extractor.disableAllImageTypes()
    extractor.enableImageTypes(**params["imageType"])
    extractor.disableAllFeatures()
    extractor.enableFeaturesByName(**{c: [] for c in params["featureClass"]})
    result = {}
    for name, meta in spec["cases"].items():
        image = sitk.ReadImage(str(folder / f"{name}_image.nrrd"))
        mask = sitk.ReadImage(str(folder / f"{name}_mask.nrrd"))
        row = extractor.execute(image, mask)
        features = {k: float(v) for k, v in row.items() if k.startswith("lbp-3D-")}
        if not any(k.startswith("lbp-3D-k_") for k in features):
            raise SystemExit(f"{name}: PyRadiomics yielded no LBP-3D image (see its log)")
        result[name] = {**meta, "image_dtype": str(sitk.GetArrayViewFromImage(image).dtype), "features": features}
        print(f"  {name}: {len(features)} features")
    # trimesh's icosphere as PyRadiomics builds it, by the sha256 of its float64 vertex
    # array: radscore must give the same vertices in the same order (see lbp3d.py)
    from trimesh.creation import icosphere

    icospheres = {f"{s} {r}": hashlib.sha256(np.ascontiguousarray(icosphere(s, r).vertices, dtype="<f8").tobytes())
                  .hexdigest() for s, r in ICOSPHERES}
    doc = {
        "about": "PyRadiomics' own LBP-3D (imageoperations.getLBP3DImage) features, written by "
                 "scripts/pyradiomics-lbp3d-reference.sh; reference of tests/features/test_lbp3d_pyradiomics.py. "
                 "Values made by PyRadiomics, never by radscore.",
        "versions": {"python": platform.python_version(), **{p: version(p) for p in (
            "numpy", "scipy", "pyradiomics-bhklab", "trimesh", "SimpleITK")}},
        "params": params,
        "cases": result,
        "icosphere_vertices_sha256": icospheres,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    if sys.argv[1] == "inputs":
        write_inputs(Path(sys.argv[2]))
    elif sys.argv[1] == "extract":
        extract(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
