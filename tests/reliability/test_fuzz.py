"""Fault and fuzz campaign (issue 18 item 7): generated inputs through the command line.

Where tests/reliability/test_bad_inputs.py plants a fixed catalogue of corruptions, this
file lets hypothesis generate them: small images and masks (any size from one voxel,
tiny to huge spacings, flipped and permuted axes, every common dtype, NaN/Inf, labels,
a mask grid off the image's, cut-off and foreign files), PyRadiomics parameter files,
manifests and study.yaml mutations. The oracle is the CLI's contract (:mod:`radscore.cli`): exit 0 only for valid
input, with correct features; otherwise exit 2 with one ``error:`` line naming the file
and the problem; never a traceback or an ``unexpected error``; in ``radscore run`` every
scan that fails is listed in qc.csv with its patient.

The examples are derandomised, so CI runs the same ones each time; set
``RADSCORE_FUZZ_EXAMPLES=N`` for a longer campaign with fresh random examples.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from radscore.cli import main

_CAMPAIGN = int(os.environ.get("RADSCORE_FUZZ_EXAMPLES", "0"))


def fuzz_settings(n: int):
    """``n`` examples, derandomised (the same in every CI run) unless RADSCORE_FUZZ_EXAMPLES asks for more."""
    return settings(max_examples=_CAMPAIGN or n, derandomize=not _CAMPAIGN, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


def run_main(capsys, *args: str) -> tuple[int, str]:
    """The CLI in-process: (exit code, stderr). An exception escaping main() is the traceback a user would see."""
    capsys.readouterr()
    code = main(["-q", *args])
    return code, capsys.readouterr().err


def assert_clean_error(err: str, names: set[str] = frozenset()) -> str:
    """One ``error:`` line, naming one of ``names`` when given; no traceback, no unexpected error."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    assert "unexpected error" not in lines[0], lines[0]
    if names:
        assert any(n in lines[0] for n in names), (names, lines[0])
    return lines[0]


# =========================================================================== images and masks
SPACINGS = (1e-4, 0.01, 0.35, 1.0, 2.5, 4.0, 250.0, 1e4)
IMAGE_DTYPES = ("uint8", "int16", "int32", "float32", "float64")
FORMATS = (".nii.gz", ".nii", ".nrrd", ".mha")
NIFTI = (".nii.gz", ".nii")
# The mask's nonzero values: what a user's segmentation tool may have written.
LABELS = {"one": (1,), "two": (2,), "several": (1, 2, 3), "negative": (-1,), "half": (0.5,), "empty": ()}
# File-level damage: cut off (NIfTI, whose truncation radscore checks itself), emptied, or not an image.
DAMAGE = ("truncated", "empty", "garbage", "text", "gzip_garbage", "2d", "4d", "vector")


@dataclass(frozen=True)
class Grid:
    size: tuple[int, int, int]  # x, y, z
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]


@dataclass(frozen=True)
class ScanSpec:
    """Everything needed to write one image + mask pair and to know whether it is valid."""

    grid: Grid
    image_dtype: str
    image_format: str
    image_nonfinite: tuple[tuple[int, str], ...]  # (flat voxel index, "nan" | "inf" | "-inf")
    constant: bool
    mask_dtype: str
    mask_format: str
    labels: str  # a LABELS key
    box: tuple[tuple[int, int], ...]  # per axis (z, y, x) inclusive start and stop of the ROI box
    sparse: bool
    mask_nonfinite: tuple[tuple[int, str], ...]
    label_arg: int | None
    mask_grid: tuple | None  # how the mask's grid differs: ("origin"|"spacing"|"size"|"flip", axis, amount)
    image_damage: tuple | None  # (kind, amount)
    mask_damage: tuple | None
    compress: bool
    seed: int


def _directions():
    """Signed permutations (flips and axis swaps) and one oblique rotation."""
    out = []
    for perm in ((0, 1, 2), (1, 0, 2), (2, 1, 0), (0, 2, 1), (1, 2, 0), (2, 0, 1)):
        for signs in ((1, 1, 1), (-1, 1, 1), (1, -1, -1), (-1, -1, -1)):
            m = np.zeros((3, 3))
            for row, (col, s) in enumerate(zip(perm, signs)):
                m[row, col] = s
            out.append(tuple(float(x) for x in m.ravel()))
    c, s = np.cos(0.5), np.sin(0.5)
    out.append((float(c), float(-s), 0.0, float(s), float(c), 0.0, 0.0, 0.0, 1.0))
    return out


DIRECTIONS = _directions()


@st.composite
def grids(draw) -> Grid:
    size = tuple(draw(st.integers(1, 24)) for _ in range(3))
    spacing = draw(st.one_of(st.tuples(*[st.sampled_from(SPACINGS)] * 3),
                             st.sampled_from(SPACINGS).map(lambda s: (s, s, s))))
    origin = tuple(draw(st.sampled_from((0.0, -0.5, 12.25, -350.0, 1e4))) for _ in range(3))
    direction = draw(st.sampled_from(DIRECTIONS[:1]) | st.sampled_from(DIRECTIONS))
    return Grid(size, spacing, origin, direction)


def _nonfinite(draw, n_voxels: int):
    return tuple(draw(st.lists(st.tuples(st.integers(0, n_voxels - 1), st.sampled_from(("nan", "inf", "-inf"))),
                               min_size=1, max_size=2)))


@st.composite
def scan_specs(draw) -> ScanSpec:
    """One scan, valid about one time in four; each fault is drawn on its own, so faults also combine."""
    grid = draw(grids())
    n = int(np.prod(grid.size))
    zyx = grid.size[::-1]

    def rare() -> bool:  # about one in six
        return draw(st.integers(0, 5)) == 0

    image_dtype = draw(st.sampled_from(IMAGE_DTYPES))
    floating = image_dtype.startswith("float")
    labels = "one" if draw(st.integers(0, 2)) else draw(st.sampled_from(list(LABELS)))
    mask_dtypes = {"negative": ("int16", "int32", "float32"), "half": ("float32", "float64")}.get(
        labels, ("uint8", "bool", "int16", "int32", "float32", "float64"))
    mask_dtype = draw(st.sampled_from(mask_dtypes))
    box = []
    for extent in zyx:
        a = draw(st.integers(0, extent - 1))
        b = draw(st.integers(a, extent - 1))
        box.append((a, b))
    mask_grid = None
    if rare():
        kind, amount = draw(st.sampled_from((("origin", 0.5), ("origin", 3.0), ("origin", 0.25), ("spacing", 2.0),
                                             ("spacing", 0.5), ("spacing", 1.1), ("size", 1), ("size", -1),
                                             ("flip", 0))))
        mask_grid = (kind, draw(st.integers(0, 2)), amount)
    damage = st.tuples(st.sampled_from(DAMAGE), st.floats(0.02, 0.98))
    image_damage = draw(damage) if rare() else None
    mask_damage = draw(damage) if rare() else None
    label_arg = None
    if rare():  # --label: one of the mask's (when it has some) or another
        label_arg = draw(st.sampled_from((1, 2, 3, -1, 7, 0)))
    return ScanSpec(
        grid=grid, image_dtype=image_dtype,
        image_format=NIFTI[0] if image_damage and image_damage[0] == "truncated" else draw(st.sampled_from(FORMATS)),
        image_nonfinite=_nonfinite(draw, n) if floating and rare() else (),
        constant=rare(),
        mask_dtype=mask_dtype,
        mask_format=NIFTI[1] if mask_damage and mask_damage[0] == "truncated" else draw(st.sampled_from(FORMATS)),
        labels=labels, box=tuple(box), sparse=draw(st.booleans()),
        mask_nonfinite=_nonfinite(draw, n) if mask_dtype.startswith("float") and rare() else (),
        label_arg=label_arg, mask_grid=mask_grid, image_damage=image_damage, mask_damage=mask_damage,
        compress=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)),
    )


def _image_values(spec: ScanSpec, rng: np.random.Generator) -> np.ndarray:
    shape = spec.grid.size[::-1]
    dtype = np.dtype(spec.image_dtype)
    if spec.constant:
        return np.full(shape, 7, dtype)
    if dtype.kind == "f":
        arr = rng.normal(40.0, 300.0, shape).astype(dtype)
    else:  # within the dtype, at most a CT's range: a wider one is a memory question, not a fuzz one
        info = np.iinfo(dtype)
        arr = rng.integers(max(info.min, -1100), min(info.max, 3000), shape, endpoint=True).astype(dtype)
    flat = arr.reshape(-1)
    for index, kind in spec.image_nonfinite:
        flat[index] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[kind]
    return arr


def _mask_values(spec: ScanSpec, rng: np.random.Generator) -> np.ndarray:
    shape = spec.grid.size[::-1]
    values = LABELS[spec.labels]
    roi = np.zeros(shape, bool)
    roi[tuple(slice(a, b + 1) for a, b in spec.box)] = True
    if spec.sparse:
        roi &= rng.random(shape) < 0.6
    arr = np.zeros(shape, np.float64)
    if values:
        arr[roi] = rng.choice(np.asarray(values, float), size=int(roi.sum()))
    dtype = np.uint8 if spec.mask_dtype == "bool" else np.dtype(spec.mask_dtype)
    arr = arr.astype(dtype)
    flat = arr.reshape(-1)
    for index, kind in spec.mask_nonfinite:
        flat[index] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[kind]
    return arr


def _image(arr: np.ndarray, grid: Grid) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(grid.spacing)
    img.SetOrigin(grid.origin)
    img.SetDirection(grid.direction)
    return img


def _mask_grid(arr: np.ndarray, grid: Grid, change: tuple | None) -> tuple[np.ndarray, Grid]:
    """The mask array and grid after ``change`` (the array is padded or cut for a size change)."""
    if change is None:
        return arr, grid
    kind, axis, amount = change  # axis in x, y, z order
    spacing, origin, size = list(grid.spacing), list(grid.origin), list(grid.size)
    direction = np.asarray(grid.direction).reshape(3, 3)
    if kind == "origin":  # shifted along the axis by a fraction of a voxel or more
        origin = list(np.asarray(origin) + direction[:, axis] * spacing[axis] * amount)
    elif kind == "spacing":
        spacing[axis] *= amount
    elif kind == "flip":
        direction = direction.copy()
        direction[:, axis] *= -1
    elif kind == "size":
        z_axis = 2 - axis
        if amount > 0 or size[axis] == 1:
            pad = [(0, 0)] * 3
            pad[z_axis] = (0, 1)
            arr = np.pad(arr, pad)
        else:
            arr = np.delete(arr, -1, axis=z_axis)
        size[axis] = arr.shape[z_axis]
    return arr, Grid(tuple(size), tuple(spacing), tuple(origin), tuple(direction.ravel()))


def _write(img: sitk.Image, path: Path, compress: bool) -> None:
    sitk.WriteImage(img, str(path), useCompression=compress)  # .nii.gz is compressed whatever the flag


def _damage(path: Path, damage: tuple, rng: np.random.Generator) -> None:
    """Replace or spoil the file at ``path`` (written already)."""
    kind, amount = damage
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: min(int(len(data) * amount), len(data) - 1)])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(rng.integers(0, 256, int(1 + 2000 * amount), dtype=np.uint8).tobytes())
    elif kind == "text":
        path.write_text("patient_id,comment\nP1,a spreadsheet saved under an image's name\n")
    elif kind == "gzip_garbage":
        path.write_bytes(gzip.compress(rng.integers(0, 256, 600, dtype=np.uint8).tobytes()))
    elif kind == "2d":
        sitk.WriteImage(sitk.GetImageFromArray(np.ones((4, 5), np.int16)), str(path))
    elif kind == "4d":
        sitk.WriteImage(sitk.GetImageFromArray(np.ones((2, 3, 4, 5), np.int16)), str(path))
    elif kind == "vector":
        sitk.WriteImage(sitk.GetImageFromArray(np.ones((3, 4, 5, 3), np.uint8), isVector=True), str(path))


@dataclass
class Written:
    image: Path
    mask: Path
    problems: list[tuple[str, set[str]]]  # (what is wrong, file names one of which the message must name)
    values: np.ndarray | None  # the image's values (float32 as radscore reads them), valid scans only
    roi: np.ndarray | None
    voxel_volume: float


def write_scan(spec: ScanSpec, folder: Path) -> Written:
    """Write the spec's files and decide, independently of radscore, what ``radscore extract`` must say."""
    rng = np.random.default_rng(spec.seed)
    image_path = folder / f"img_{spec.seed}{spec.image_format}"
    mask_path = folder / f"msk_{spec.seed}{spec.mask_format}"
    image_arr = _image_values(spec, rng)
    mask_arr, mask_grid = _mask_grid(_mask_values(spec, rng), spec.grid, spec.mask_grid)
    _write(_image(image_arr, spec.grid), image_path, spec.compress)
    _write(_image(mask_arr, mask_grid), mask_path, spec.compress)
    img_name, mask_name = {image_path.name}, {mask_path.name}
    problems = []
    if spec.image_damage:
        _damage(image_path, spec.image_damage, rng)
        problems.append((f"image {spec.image_damage[0]}", img_name))
    if spec.mask_damage:
        _damage(mask_path, spec.mask_damage, rng)
        problems.append((f"mask {spec.mask_damage[0]}", mask_name))
    if not np.isfinite(image_arr).all():
        problems.append(("image NaN/Inf", img_name))
    if not np.isfinite(mask_arr).all():
        problems.append(("mask NaN/Inf", mask_name))
    if spec.mask_grid is not None:
        problems.append((f"mask grid {spec.mask_grid}", img_name | mask_name))
    labels = np.unique(mask_arr[mask_arr != 0])
    roi = np.zeros(mask_arr.shape, bool)
    if spec.label_arg == 0:
        problems.append(("--label 0, the background", mask_name))
    elif spec.label_arg is not None:
        roi = mask_arr == spec.label_arg
        if not roi.any():
            problems.append((f"no voxel with label {spec.label_arg}", mask_name))
    elif labels.size == 0:
        problems.append(("empty mask", mask_name))
    elif labels.size > 1:
        problems.append((f"several labels {labels.tolist()} without --label", mask_name))
    elif labels[0] != 1:  # extract's default label is PyRadiomics' 1
        problems.append((f"label {labels[0]} without --label", mask_name))
    else:
        roi = mask_arr != 0
    if roi.any() and sum(int(np.ptp(ax)) > 0 for ax in np.nonzero(roi)) < 2:  # minimumROIDimensions: 2
        problems.append(("ROI spans fewer than 2 dimensions", mask_name))
    ok = not problems
    spacing = np.asarray(spec.grid.spacing, np.float32).astype(float)  # NIfTI, NRRD and MHA keep float32 or better
    return Written(image_path, mask_path, problems, image_arr.astype(np.float32) if ok else None,
                   roi if ok else None, float(np.prod(spacing)))


def check_extract(capsys, spec: ScanSpec, folder: Path) -> None:
    w = write_scan(spec, folder)
    out = folder / "features.csv"
    args = ["extract", "--image", str(w.image), "--mask", str(w.mask), "--out", str(out)]
    if spec.label_arg is not None:
        args += ["--label", str(spec.label_arg)]
    code, err = run_main(capsys, *args)
    event("valid" if not w.problems else "invalid: " + w.problems[0][0].split(" [")[0].split(" (")[0])
    if w.problems:
        assert code == 2, (w.problems, code, err)
        names = set().union(*(n for _, n in w.problems))
        assert_clean_error(err, names)
        assert not out.exists()
        return
    assert code == 0, err
    assert "Traceback" not in err and "error" not in err, err
    row = pd.read_csv(out).iloc[0]
    assert row["Image"] == str(w.image) and row["Mask"] == str(w.mask)
    features = row.drop(["Image", "Mask"]).astype(float)
    assert not np.isinf(features).any(), features[np.isinf(features)]
    # The right voxels of the right image: volume, mean and maximum from the arrays written.
    values = w.values[w.roi].astype(float)
    assert row["original_shape_VoxelVolume"] == pytest.approx(w.roi.sum() * w.voxel_volume, rel=1e-5)
    assert row["original_firstorder_Mean"] == pytest.approx(values.mean(), rel=1e-5, abs=1e-3)
    assert row["original_firstorder_Maximum"] == pytest.approx(values.max(), rel=1e-6, abs=1e-3)
    assert row["original_firstorder_Minimum"] == pytest.approx(values.min(), rel=1e-6, abs=1e-3)


IDENTITY = DIRECTIONS[0]


def _spec(**changes) -> ScanSpec:
    """A valid 6 x 5 x 4 scan with a 3 x 3 x 2 ROI, changed as given (regression examples)."""
    base = ScanSpec(grid=Grid((6, 5, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY), image_dtype="float32",
                    image_format=".nii.gz", image_nonfinite=(), constant=False, mask_dtype="uint8",
                    mask_format=".nii.gz", labels="one", box=((1, 2), (1, 3), (1, 3)), sparse=False,
                    mask_nonfinite=(), label_arg=None, mask_grid=None, image_damage=None, mask_damage=None,
                    compress=False, seed=0)
    return ScanSpec(**{**base.__dict__, **changes})


@fuzz_settings(200)
@given(spec=scan_specs())
# Found by this test: a mask half a voxel off an image with 1e-4 mm voxels passed as on its grid (same_grid's
# tolerance was a fixed 1e-4 mm) and extract exited 0 with the wrong voxels ...
@example(spec=_spec(grid=Grid((2, 1, 2), (1e-4,) * 3, (0.0, 0.0, 0.0), IDENTITY), box=((0, 1), (0, 0), (0, 1)),
                    mask_grid=("origin", 0, 0.5)))
# ... and so did a quarter-voxel shift 10 m from the origin (numpy's relative tolerance: 0.1 mm there).
@example(spec=_spec(grid=Grid((6, 5, 4), (0.35,) * 3, (1e4, 1e4, 1e4), IDENTITY), mask_grid=("origin", 0, 0.25)))
# Found by this test: ITK reads NaN in a NIfTI mask as 0, and the mask was accepted.
@example(spec=_spec(mask_dtype="float32", mask_nonfinite=((0, "nan"),)))
@example(spec=_spec(mask_dtype="float64", mask_nonfinite=((37, "inf"),)))  # inside the ROI: it shrank it
# Found while writing this test (then added to its labels): --label 0 took the background as the region, exit 0.
@example(spec=_spec(label_arg=0))
def test_extract_fuzzed_image_and_mask(capsys, spec):
    with tempfile.TemporaryDirectory() as tmp:
        check_extract(capsys, spec, Path(tmp))


# A few through a real process: what a user's terminal shows (logging to stderr included).
SUBPROCESS_CASES = {
    "valid": _spec(),
    "truncated image": _spec(image_damage=("truncated", 0.5)),
    "not an image": _spec(mask_damage=("garbage", 0.3)),
    "mask off the grid": _spec(mask_grid=("spacing", 2, 2.0)),
    "NaN in the mask": _spec(mask_dtype="float32", mask_nonfinite=((37, "nan"),)),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(SUBPROCESS_CASES))
def test_extract_in_a_process_prints_no_traceback(tmp_path, case):
    w = write_scan(SUBPROCESS_CASES[case], tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).parents[2] / "src"),
                                                                    os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run([sys.executable, "-m", "radscore", "extract", "--image", str(w.image), "--mask",
                           str(w.mask), "--out", str(tmp_path / "f.csv")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == (2 if w.problems else 0), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    if w.problems:
        assert_clean_error(proc.stderr, set().union(*(n for _, n in w.problems)))
    else:
        assert (tmp_path / "f.csv").is_file()


# =========================================================================== PyRadiomics parameter files
# PyRadiomics' settings with values it accepts (binWidht: a typo), then values a user may type by mistake.
PARAM_GOOD = {
    "label": ("1",), "minimumROIDimensions": ("1", "2", "3"), "minimumROISize": ("1", "5"),
    "geometryTolerance": ("0.001",), "correctMask": ("true", "false"), "binWidth": ("5", "25", "12.5"),
    "binCount": ("8", "32"), "voxelArrayShift": ("0", "1000"), "distances": ("[1]", "[1, 2]"),
    "symmetricalGLCM": ("true", "false"), "weightingNorm": ("manhattan", "euclidean", "infinity", "no_weighting"),
    "gldm_a": ("0", "1"), "force2D": ("true", "false"), "force2Ddimension": ("0", "1", "2"), "normalize": ("true",),
    "normalizeScale": ("100",), "removeOutliers": ("3",), "resegmentRange": ("[0, 200]", "[10]"),
    "resegmentMode": ("absolute", "relative", "sigma"), "resegmentShape": ("true",), "additionalInfo": ("false",),
    "binWidht": ("25",),
}
PARAM_VALUES = ("x", "''", "yes", "~", "-1", "0", "0.5", "1", "2", "3", "25", ".nan", ".inf", "[1]", "[]", "{}",
                "[0.5, x]", "manhattan", "absolute", "sigma", "[1, 2]")


@st.composite
def param_settings(draw) -> dict[str, str]:
    """Up to three settings, each with a value PyRadiomics accepts three times in four."""
    keys = draw(st.lists(st.sampled_from(list(PARAM_GOOD)), max_size=3, unique=True))
    return {k: draw(st.sampled_from(PARAM_GOOD[k] if draw(st.integers(0, 3)) else PARAM_VALUES)) for k in keys}


@fuzz_settings(100)
@given(setting=param_settings(), section=st.sampled_from(("setting",) * 8 + ("imageType", "featureClass")))
# Found by this test: a label the YAML gives as a word, a list or infinity, or a word or null for
# minimumROIDimensions, ended extract in int()'s traceback; a NaN or null bin width, or distances [], in an
# unexpected error or the engine's failure; an image type's parameters given as a list in dict()'s traceback.
@example(setting={"label": "x"}, section="setting")
@example(setting={"label": "[1]"}, section="setting")
@example(setting={"binWidth": ".nan"}, section="setting")
@example(setting={"binWidth": "~"}, section="setting")
@example(setting={"minimumROIDimensions": "~"}, section="setting")
@example(setting={"distances": "[]"}, section="setting")
@example(setting={}, section="imageType")
def test_extract_fuzzed_params(capsys, setting, section):
    """A parameter file's settings with any of PyRadiomics' names and any YAML value: features, or an error
    naming the file; never a traceback or an unexpected error."""
    with tempfile.TemporaryDirectory() as tmp:
        w = write_scan(_spec(labels="several" if "label" in setting else "one", image_dtype="uint8"), Path(tmp))
        params = Path(tmp) / "params.yaml"
        if section != "setting":  # the values under another section, or the section a list
            setting = {"Original": "[1]"} if section == "imageType" else {"glcm": "x"}
        params.write_text(f"{section}:\n" + "".join(f"  {k}: {v}\n" for k, v in setting.items()) if setting else "")
        code, err = run_main(capsys, "extract", "--image", str(w.image), "--mask", str(w.mask), "--params",
                             str(params), "--out", str(Path(tmp) / "f.csv"))
    event(f"exit {code}")
    assert code in (0, 2), (code, err)
    if code:
        line = assert_clean_error(err)
        if "params.yaml" in line:
            assert any(k in line for k in setting), (setting, line)


# =========================================================================== manifests through validate
def _cells(*good: str, bad: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """A manifest cell: mostly a good value, sometimes a bad one."""
    if not bad:
        return st.sampled_from(good)
    return st.integers(0, 11).flatmap(lambda i: st.sampled_from(bad if i == 0 else good))


PATHS = ("images/a_ct.nii.gz", "images/a_pet.nii.gz", "images/a_mask.nii.gz")
BAD_PATHS = ("", "missing.nii.gz", "/nonexistent/x.nii.gz", "images", "../outside.nii.gz", "images/a_ct.nii.gz ")
MANIFEST_CELLS = {
    "patient_id": _cells("P1", "P2", "P3", "0007", bad=("", " P1", "NA", "Ünï cøde", "a,b", '"', "P1\nP2")),
    "timepoint": _cells("baseline", "baseline", "followup", bad=("Baseline ", "", "week6", "0", "nan")),
    "lesion_id": _cells("1", "2", bad=("", "L1", "1.0", "nan")),
    "site": _cells("primary", "lymph_node", bad=("", "brain")),
    "ct": _cells(*PATHS, bad=BAD_PATHS),
    "pet": _cells(*PATHS, bad=BAD_PATHS),
    "mask": _cells(*PATHS, bad=BAD_PATHS),
    "mask_2": _cells(*PATHS, bad=BAD_PATHS),
    "mask_label": _cells("1", "2", bad=("", "x", "1.5", "-3", "1e400", "0")),
    "mask_roi": _cells("GTV", bad=("",)),
    "ndb": _cells("0", "1", bad=("", "2", "yes", "-1", "0.5", "1.0", "nan", "inf", "True")),
    "recist": _cells("CR", "PR", "SD", "PD", bad=("", "XX", "sd ")),
    "pfs_months": _cells("3", "12.5", bad=("", "abc", "-1")),
    "weight_kg": _cells("70", bad=("", "abc", "0", "-5")),
    "dose_mbq": _cells("350", bad=("", "1e-30", "inf")),
    "notes": _cells("x", bad=("",)),  # a column radscore does not know
}
REQUIRED_COLUMNS = ("patient_id", "timepoint", "lesion_id", "ct", "pet", "mask", "ndb")


def _csv_line(cells: list[str]) -> str:
    return ",".join('"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\n') else c for c in cells)


@st.composite
def manifests(draw) -> str:
    """A manifest's text: columns dropped, added, shuffled or doubled; cells good and bad; or a damaged file."""
    raw = draw(st.sampled_from(("csv",) * 12 + ("empty", "header only", "bom", "semicolons", "binary", "open quote")))
    if raw == "empty":
        return ""
    if raw == "binary":
        return draw(st.binary(min_size=1, max_size=200)).decode("latin-1")
    columns = [c for c in MANIFEST_CELLS if draw(st.integers(0, 29)) < (29 if c in REQUIRED_COLUMNS else 8)]
    columns = draw(st.permutations(columns))
    if columns and draw(st.integers(0, 9)) == 0:
        columns = [*columns, columns[0]]  # a column twice
    rows = [[draw(MANIFEST_CELLS[c]) for c in columns] for _ in range(draw(st.integers(0, 6)))]
    if rows and draw(st.integers(0, 3)) == 0:
        rows.append(list(rows[0]))  # a duplicate row (same patient, time point and lesion)
    if rows and draw(st.integers(0, 5)) == 0:
        rows[-1] = rows[-1][: draw(st.integers(0, len(columns)))]  # a short row
    sep = ";" if raw == "semicolons" else ","
    text = "\n".join([sep.join(columns)] + ([] if raw == "header only" else [_csv_line(r) for r in rows])) + "\n"
    if raw == "bom":
        text = "\ufeff" + text
    if raw == "open quote":
        text += '"P9,baseline\n'
    return text


@st.composite
def clinical_tables(draw) -> str | None:
    """A clinical table's text (None: the study has none): ages by patient, or a damaged file."""
    kind = draw(st.sampled_from(("none",) * 4 + ("csv",) * 3 + ("empty", "binary", "no patient_id")))
    if kind == "none":
        return None
    if kind == "empty":
        return ""
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=100)).decode("latin-1")
    ids = draw(st.lists(st.sampled_from(("P1", "P2", "P3", "P9", "")), max_size=5))
    ages = draw(st.lists(st.sampled_from(("61", "", "abc")), min_size=len(ids), max_size=len(ids)))
    header = "id,age" if kind == "no patient_id" else "patient_id,age"
    return "\n".join([header] + [f"{i},{a}" for i, a in zip(ids, ages)]) + "\n"


GOOD_MANIFEST = ("patient_id,timepoint,ct,pet,mask,ndb\n"
                 + "".join(f"P{i},baseline,{PATHS[0]},{PATHS[1]},{PATHS[2]},{i % 2}\n" for i in range(4)))
STUDY_YAML = "protocol: quick\nmanifest: manifest.csv\ntables: {clinical: null, expression: null, cells: null}\n"


def write_study_folder(folder: Path, manifest: str, study_yaml: str = STUDY_YAML, clinical: str | None = None) -> Path:
    """A study folder for validate: study.yaml, manifest.csv, the image files the good paths name, and
    ``clinical`` as the clinical table (age a clinical variable) when given."""
    (folder / "images").mkdir(parents=True)
    for p in PATHS:
        (folder / p).write_bytes(b"")  # validate reads no image
    if clinical is not None:
        study_yaml = study_yaml.replace("clinical: null", "clinical: clinical.csv") + "clinical: [age]\n"
        (folder / "clinical.csv").write_text(clinical, encoding="latin-1")
    (folder / "study.yaml").write_text(study_yaml)
    (folder / "manifest.csv").write_text(manifest, encoding="utf-8", errors="surrogateescape")
    return folder


def check_validate(capsys, folder: Path) -> tuple[int, str]:
    """validate's contract: exit 0, 2 or 3; an error is one line, never a traceback."""
    code, err = run_main(capsys, "validate", str(folder))
    assert code in (0, 2, 3), (code, err)
    assert "Traceback" not in err, err
    if code:
        assert_clean_error(err)
    return code, err


@fuzz_settings(150)
@given(manifest=manifests(), clinical=clinical_tables())
# Found by this test: an empty or undecodable clinical table ended validate (and run) with pandas' traceback.
@example(manifest=GOOD_MANIFEST, clinical="")
@example(manifest=GOOD_MANIFEST, clinical="\xff\xfe\x00")
def test_validate_fuzzed_manifest(capsys, manifest, clinical):
    with tempfile.TemporaryDirectory() as tmp:
        code, _ = check_validate(capsys, write_study_folder(Path(tmp), manifest, clinical=clinical))
        event("ok" if code == 0 else f"exit {code}")


# Found while writing this test: scan_refs took int() of mask_label, so 1.5 became label 1 without a word.
@pytest.mark.parametrize("value", ["1.5", "x", "inf"])
def test_validate_refuses_a_mask_label_that_is_not_a_whole_number(capsys, tmp_path, value):
    manifest = GOOD_MANIFEST.replace("ndb\n", "ndb,mask_label\n", 1).replace(",0\n", f",0,{value}\n", 1)
    code, err = check_validate(capsys, write_study_folder(tmp_path, manifest.replace(",1\n", ",1,\n")))
    assert code == 2 and "mask_label" in err, err


def test_predict_manifest_that_is_not_a_csv_is_an_input_error(capsys, tmp_path):
    """Found while writing this file: predict --manifest read the CSV without read_manifest's guard."""
    (tmp_path / "m.csv").write_bytes(b"")
    code, err = run_main(capsys, "predict", str(tmp_path / "no_model"), "--manifest", str(tmp_path / "m.csv"))
    assert code == 2
    assert_clean_error(err, {"m.csv"})


# =========================================================================== study.yaml through validate
# YAML scalars and collections as a user may type them: YAML 1.1 booleans, nulls, non-finite and huge
# numbers, wrong types, dates, tags.
RAW_VALUES = ("yes", "no", "on", "off", "~", "null", "''", "abc", "-1", "0", "1e3", "1.0e+400", ".inf", "-.inf",
              ".nan", "99999999999999999999999", "-0.5", "1.5", "2", "[]", "[1, two]", "{}", "{a: 1}",
              "2001-12-14", "!!binary aGVsbG8=", "!!python/tuple [1]", "[0.0, 0.0, 0.0]", "[-1, 1, 1]", "'42'",
              "[.nan, 1.0, 1.0]", "[1.0, .inf, 1.0]", "[two]")
PLACEHOLDER = "FUZZ_VALUE_HERE"


def _config_paths(data, prefix=()) -> list[tuple[str, ...]]:
    """Every key path of the config, sections and leaves."""
    out = []
    for key, value in data.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out += _config_paths(value, (*prefix, key))
    return out


def _base_config() -> dict:
    from radscore.config import config_from_dict

    data = config_from_dict({"protocol": "quick"}).to_dict()
    data["tables"] = {"clinical": None, "expression": None, "cells": None}
    data["clinical"] = []
    return data


BASE_CONFIG = _base_config()
CONFIG_PATHS = _config_paths(BASE_CONFIG)


@st.composite
def config_mutations(draw) -> tuple[str, tuple[str, ...], str]:
    """(study.yaml text, the key path changed, what was done): one key set to a raw value or an unknown key added."""
    import copy

    import yaml

    data = copy.deepcopy(BASE_CONFIG)
    path = draw(st.sampled_from(CONFIG_PATHS))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.integers(0, 4)) == 0:  # an unknown key beside it (a typo of it)
        typo = path[-1] + draw(st.sampled_from(("s", "_", "x")))
        parent[typo] = 1
        return yaml.safe_dump(data, sort_keys=False), (*path[:-1], typo), "unknown key"
    raw = draw(st.sampled_from(RAW_VALUES))
    parent[path[-1]] = PLACEHOLDER
    return yaml.safe_dump(data, sort_keys=False).replace(PLACEHOLDER, raw), path, raw


@fuzz_settings(150)
@given(mutation=config_mutations())
# Found by a longer campaign: a string path under tables is refused by the table reader, which names the path.
@example(mutation=(STUDY_YAML.replace("clinical: null", "clinical: '42'"), ("tables", "clinical"), "'42'"))
def test_validate_fuzzed_config(capsys, mutation):
    text, path, what = mutation
    with tempfile.TemporaryDirectory() as tmp:
        code, err = check_validate(capsys, write_study_folder(Path(tmp), GOOD_MANIFEST, text))
        folder = str(Path(tmp).resolve())
    event("ok" if code == 0 else f"exit {code}")
    if err.startswith(f"error: {folder}/study.yaml: ") and "not valid YAML" not in err:
        assert path[-1] in err, (path, what, err)  # the key is named
    elif code:  # a value the config takes, refused where it is used: the file it names (a table, the manifest)
        assert path[-1] in err or folder in err, (path, what, err)
    if what == "unknown key":
        assert code == 2 and path[-1] in err, (path, err)


def _float_keys(data=BASE_CONFIG, prefix=()) -> list[tuple[str, ...]]:
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _float_keys(value, (*prefix, key))
        elif isinstance(value, float):
            out.append((*prefix, key))
    return out


def test_validate_refuses_non_finite_numbers(capsys, tmp_path):
    """Found by test_validate_fuzzed_config's values: no setting means anything by NaN or infinity (null is
    'none'), so validate must refuse them and name the key."""
    import yaml

    accepted = []
    cases = [(path, raw) for path in _float_keys() for raw in (".nan", ".inf")]
    cases += [(("preprocess", "spacing_mm"), "[.nan, 1.0, 1.0]"), (("preprocess", "spacing_mm"), "[.inf, .inf, .inf]")]
    for i, (path, raw) in enumerate(cases):
        data = yaml.safe_load(yaml.safe_dump(BASE_CONFIG))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = PLACEHOLDER
        text = yaml.safe_dump(data, sort_keys=False).replace(PLACEHOLDER, raw)
        code, err = check_validate(capsys, write_study_folder(tmp_path / str(i), GOOD_MANIFEST, text))
        if code == 0:
            accepted.append(f"{'.'.join(path)}: {raw}")
        else:
            assert path[-1] in err, err
    assert not accepted, accepted


# =========================================================================== scans through a tiny run
def _read(folder: Path, rel: str) -> sitk.Image:
    return sitk.ReadImage(str(folder / rel))


def _rewrite(folder: Path, rel: str, arr: np.ndarray, like: sitk.Image) -> None:
    img = sitk.GetImageFromArray(arr)
    img.CopyInformation(like)
    sitk.WriteImage(img, str(folder / rel), useCompression=True)


def _mask_edit(edit):
    """A fault that rewrites the mask's array (float for NaN), keeping its grid."""
    def apply(folder, row, role, damage, rng):
        m = _read(folder, row["mask"])
        _rewrite(folder, row["mask"], edit(sitk.GetArrayFromImage(m).astype(np.float32), row), m)
        return row["mask"]
    return apply


def _nonfinite_voxels(folder, row, role, damage, rng):
    role = "pet" if role == "mask" else role
    img = _read(folder, row[role])
    arr = sitk.GetArrayFromImage(img).astype(np.float32)
    arr.reshape(-1)[rng.integers(0, arr.size, 3)] = [np.nan, np.inf, -np.inf][int(rng.integers(0, 3))]
    _rewrite(folder, row[role], arr, img)
    return row[role]


def _nan_in_tumour(arr, row):
    arr[tuple(np.argwhere(arr > 0)[0])] = np.nan
    return arr


def _labels_1_and_2(arr, row):
    arr[(arr > 0) & (np.arange(arr.shape[0])[:, None, None] > np.median(np.nonzero(arr)[0]))] = 2
    return arr


def _with_label(label, mask_edit=None):
    def apply(folder, row, role, damage, rng):
        if mask_edit is not None:
            _mask_edit(mask_edit)(folder, row, role, damage, rng)
        row["mask_label"] = label
        return row["mask"]
    return apply


def _moved_mask(shift_voxels):
    def apply(folder, row, role, damage, rng):
        m = _read(folder, row["mask"])
        m.SetOrigin(tuple(np.asarray(m.GetOrigin()) + np.asarray(m.GetSpacing()) * shift_voxels))
        sitk.WriteImage(m, str(folder / row["mask"]), useCompression=True)
        return row["mask"]
    return apply


def _damaged(folder, row, role, damage, rng):
    _damage(folder / row[role], damage, rng)
    return row[role]


def _missing(folder, row, role, damage, rng):
    row[role] = f"images/not_there_{role}.nii.gz"
    return row[role]


def _blank(folder, row, role, damage, rng):
    row[role] = ""
    return None


# fault -> (apply(folder, row, role, damage, rng) -> the file it spoiled, must the scan be excluded, is that
# file named in the message). role: ct, pet or mask, for the faults that take one.
RUN_FAULTS = {
    "none": (lambda *a: None, False, False),
    "one label 2": (_mask_edit(lambda a, r: a * 2), False, False),  # run takes any single label
    "labels 1, 2 and mask_label 2": (_with_label(2, _labels_1_and_2), False, False),
    "mask a quarter voxel off": (_moved_mask(0.25), False, False),  # resampled onto the CT, with a warning
    "damaged file": (_damaged, True, True),
    "NaN/Inf voxels": (_nonfinite_voxels, True, True),
    "NaN in the mask": (_mask_edit(_nan_in_tumour), True, True),
    "empty mask": (_mask_edit(lambda a, r: a * 0), True, False),
    "several labels": (_mask_edit(_labels_1_and_2), True, True),
    "mask_label not in the mask": (_with_label(7), True, True),
    "mask_label 0": (_with_label(0), True, True),
    "mask off the image": (_moved_mask(1000.0), True, False),
    "missing file": (_missing, True, True),
    "empty path cell": (_blank, True, False),
}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")  # the analyses' small-cohort fits
@fuzz_settings(2)
@given(faults=st.lists(st.tuples(st.sampled_from(list(RUN_FAULTS)), st.sampled_from(("ct", "pet", "mask")),
                                 st.tuples(st.sampled_from(DAMAGE), st.floats(0.05, 0.95))),
                       min_size=4, max_size=6),
       seed=st.integers(0, 2**32 - 1))
def test_run_lists_every_bad_scan(base_study, capsys, faults, seed):
    """Copies of the study's scans, each spoiled as drawn, as extra lesions: one run must exclude exactly the
    bad ones, each in qc.csv with its patient, extract the rest, and finish (the cohort itself is whole)."""
    from reliability_helpers import copy_study, patch_config

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_study(base_study, Path(tmp) / "study")
        # cheaper later stages; the extraction settings, and with them the cache, are the study's
        patch_config(folder, {"model": {"nested_cv_folds": None}, "clinical": [],
                              "tables": {"clinical": None, "expression": None, "cells": None}})
        man = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str, "lesion_id": str})
        primaries = man[(man["timepoint"] == "baseline") & (man["lesion_id"] == "1")]
        planted, extra = [], []
        for k, (fault, role, damage) in enumerate(faults):
            row = primaries.iloc[k % len(primaries)].to_dict()
            lesion = f"f{k}"
            for col in ("ct", "pet", "mask", "mask_2"):
                new = f"images/{row['patient_id']}_baseline_L{lesion}_{col}.nii.gz"
                (folder / new).write_bytes((folder / row[col]).read_bytes())
                row[col] = new
            row.update(lesion_id=lesion, site="lymph_node")
            apply, bad, names_file = RUN_FAULTS[fault]
            spoiled = apply(folder, row, role, damage, rng)
            extra.append(row)
            planted.append((row["patient_id"], lesion, fault, bad, Path(spoiled).name if names_file else None))
            event(fault)
        pd.concat([man, pd.DataFrame(extra)], ignore_index=True).to_csv(folder / "manifest.csv", index=False)

        code, err = run_main(capsys, "run", str(folder), "--workers", "2")
        assert code == 0, err
        qc = pd.read_csv(folder / "qc.csv", dtype={"patient_id": str, "lesion_id": str})
        features = pd.read_parquet(folder / "features.parquet")
    assert not qc["problem"].str.contains("unexpected error|Traceback").any(), qc["problem"].tolist()
    for pid, lesion, fault, bad, file in planted:
        rows = qc[(qc["patient_id"] == pid) & (qc["lesion_id"] == lesion)]
        excluded = rows[rows["severity"] == "excluded"]
        extracted = ((features["patient_id"] == pid) & (features["lesion_id"].astype(str) == lesion)).any()
        assert extracted != (len(excluded) == 1), (fault, rows.to_dict("records"), extracted)  # one or the other
        if bad:
            assert len(excluded) == 1, (fault, rows.to_dict("records"))
            problem = excluded["problem"].iloc[0]
            assert f"patient {pid}" in problem, (fault, problem)
            if file:
                assert file in problem, (fault, file, problem)
        else:
            assert extracted, (fault, rows.to_dict("records"))


@st.composite
def run_manifests(draw) -> str:
    """Eight to ten patients of both classes (enough for the split) whose cells are drawn as in manifests()."""
    optional = [c for c in ("site", "mask_2", "mask_label", "mask_roi", "weight_kg", "notes") if draw(st.booleans())]
    columns = ["patient_id", "timepoint", "lesion_id", "ct", "pet", "mask", "ndb", *optional]
    rows = []
    for i in range(draw(st.integers(8, 10))):
        cells = {c: draw(MANIFEST_CELLS[c]) for c in columns}
        cells.update(patient_id=f"P{i}", timepoint="baseline", lesion_id="1", ndb=str(i % 2))
        rows.append([cells[c] for c in columns])
    return "\n".join([",".join(columns)] + [_csv_line(r) for r in rows]) + "\n"


@pytest.mark.slow
@fuzz_settings(40)
@given(manifest=st.one_of(manifests(), run_manifests(), run_manifests()))
def test_run_fuzzed_manifest(capsys, manifest):
    """A generated manifest whose images are empty files (or missing): run refuses the manifest, or lists every
    scan as excluded in qc.csv and stops with a clear error (no scan is left to model); never a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_study_folder(Path(tmp), manifest)
        code, err = run_main(capsys, "run", str(folder), "--workers", "1")
        event(f"exit {code}" + (" after qc.csv" if (folder / "qc.csv").exists() else ""))
        assert code in (2, 3), (code, err)
        assert_clean_error(err)
        if (folder / "qc.csv").exists():
            from radscore.io.manifest import read_manifest

            qc = pd.read_csv(folder / "qc.csv", dtype=str, keep_default_na=False)
            qc = qc[qc["severity"] == "excluded"]
            excluded = set(zip(qc["patient_id"], qc["timepoint"], qc["lesion_id"]))
            for r in read_manifest(folder / "manifest.csv").itertuples():
                assert (r.patient_id, r.timepoint, r.lesion_id) in excluded, (r, qc.to_dict("records"))
