"""radscore.features.matrices against PyRadiomics' C matrices (``radiomics._cmatrices``).

Every comparison is exact (``np.array_equal`` plus shape and dtype): the numba kernels count
the same things in the same order, including the NGTDM's floating-point column.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from radiomics import _cmatrices as C
from radiomics import imageoperations

from radscore.catalog import SEED_IMAGE_TYPES
from radscore.features import matrices as M
from radscore.features.filters import bounding_box, filtered_images

NAMES = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _call(mod, name, image, mask, Ng, distances=(1,), alpha=0, force2D=False, dim=0):
    """One matrix the way PyRadiomics' feature classes call it (glcm.py, glrlm.py, ...)."""
    d = np.array(distances)
    if name == "glcm":
        return mod.calculate_glcm(image, mask, d, Ng, force2D, dim)
    if name == "glrlm":
        return mod.calculate_glrlm(image, mask, Ng, int(np.max(image.shape)), force2D, dim)
    if name == "glszm":
        return mod.calculate_glszm(image, mask, Ng, int(np.sum(mask)), force2D, dim)
    if name == "gldm":
        return mod.calculate_gldm(image, mask, d, Ng, alpha, force2D, dim)
    return mod.calculate_ngtdm(image, mask, d, Ng, force2D, dim)


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _assert_same(name, image, mask, Ng, **kw):
    """Same arrays as the C function, or the same exception type where it fails."""
    try:
        ref = _as_tuple(_call(C, name, image, mask, Ng, **kw))
    except Exception as exc:  # e.g. RuntimeError "Error getting angle count." for a 1-voxel box
        with pytest.raises(type(exc)):
            _call(M, name, image, mask, Ng, **kw)
        return
    ours = _as_tuple(_call(M, name, image, mask, Ng, **kw))
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape and a.dtype == b.dtype, (name, a.shape, b.shape, a.dtype, b.dtype)
        assert np.array_equal(a, b), (name, np.argwhere(a != b)[:5])


def _binned(values, mask, **disc):
    binned, _ = imageoperations.binImage(values, mask, **disc)
    return binned, int(binned[mask].max())


# --- the benchmark patient: 22 image types x 4 VOIs per image, each VOI on its own box ------

@pytest.fixture(scope="module")
def patient():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import extraction as bench

    arrays, vois = bench.simulate_patient(0)
    return bench._images(arrays), vois


@pytest.mark.slow
@pytest.mark.parametrize("image_name, disc", [
    ("ct", {"binWidth": 25.0}), ("pet", {"binWidth": 0.25}), ("petct", {"binCount": 64}),
])
def test_benchmark_patient_identical(patient, image_name, disc):
    images, vois = patient
    union = np.logical_or.reduce(list(vois.values()))
    ubox = bounding_box(union)
    typed = dict(filtered_images(images[image_name], ubox, SEED_IMAGE_TYPES, union, disc))
    assert len(typed) == 22
    for voi in vois.values():
        own = bounding_box(voi)
        rel = tuple(slice(s.start - u.start, s.stop - u.start) for s, u in zip(own, ubox))
        mask = voi[own]
        for arr in typed.values():
            binned, Ng = _binned(np.ascontiguousarray(arr[rel]), mask, **disc)
            for name in NAMES:
                _assert_same(name, binned, mask, Ng)


# --- random small cases ------------------------------------------------------------------

@st.composite
def cases(draw):
    shape = tuple(draw(st.integers(1, 6)) for _ in range(3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    Ng = draw(st.integers(1, 5))
    image = rng.integers(1, Ng + 1, size=shape)
    mask = rng.random(shape) < draw(st.sampled_from([0.2, 0.5, 0.9, 1.0]))
    mask.flat[rng.integers(mask.size)] = True  # PyRadiomics never calls with an empty mask
    kw = dict(
        distances=draw(st.sampled_from([(1,), (2,), (1, 2), (1, 3)])),
        alpha=draw(st.integers(0, 2)),
        force2D=draw(st.booleans()),
        dim=draw(st.integers(0, 2)),
    )
    return image, mask, int(image[mask].max()), kw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_small_cases_identical(case):
    image, mask, Ng, kw = case
    for name in NAMES:
        _assert_same(name, image, mask, Ng, **kw)


# --- edge cases ----------------------------------------------------------------------------

def _edge_cases():
    rng = np.random.default_rng(3)
    img = rng.integers(1, 5, size=(5, 6, 7))
    one = np.zeros(img.shape, bool)
    one[2, 3, 4] = True
    corner = np.zeros(img.shape, bool)
    corner[0, 0, 0] = True
    full = np.ones(img.shape, bool)  # every voxel touches... the box edge on some side
    edge = rng.random(img.shape) < 0.6
    edge[0, :, :] = edge[-1, :, :] = edge[:, 0, :] = edge[:, :, -1] = True
    slab = np.zeros(img.shape, bool)
    slab[2] = rng.random(img.shape[1:]) < 0.7  # one slice: 2-D for the angles that move in z
    checker = (np.indices(img.shape).sum(axis=0) % 2 == 0)  # runs of length 1 only
    sparse = np.zeros(img.shape, bool)
    sparse[0, 0, 0] = sparse[4, 0, 0] = True  # one z-line with 2 voxels, never adjacent
    return {
        "one voxel": (img, one),
        "one voxel at the corner": (img, corner),
        "full box": (img, full),
        "mask touching the box edge": (img, edge),
        "single gray level": (np.ones_like(img), edge),
        "single slice": (img, slab),
        "checkerboard": (img, checker),
        "two voxels far apart on a line": (img, sparse),
        "flat box (1 slice)": (img[:1], edge[:1]),
        "line box (1 x 1 x n)": (img[:1, :1], edge[:1, :1]),
        "single voxel box": (img[:1, :1, :1], full[:1, :1, :1]),
        "gray levels absent from the mask": (img * 3, edge),
    }


@pytest.mark.parametrize("label", list(_edge_cases()))
@pytest.mark.parametrize("name", NAMES)
def test_edge_cases_identical(label, name):
    image, mask = _edge_cases()[label]
    _assert_same(name, image, mask, int(image[mask].max()))
    _assert_same(name, image, mask, int(image[mask].max()) + 2)  # Ng above the largest level


@pytest.mark.parametrize("name", NAMES)
def test_input_types_identical(name):
    """Non-contiguous, float and uint8 inputs are cast the way the C functions cast them."""
    rng = np.random.default_rng(5)
    image = rng.integers(1, 6, size=(6, 8, 10))
    mask = rng.random(image.shape) < 0.7
    for img, msk in [(image[:, ::2, ::-1], mask[:, ::2, ::-1]), (image.astype(np.float64) + 0.4, mask),
                     (image.astype(np.int32), mask.astype(np.uint8))]:
        _assert_same(name, img, msk, 5)


@pytest.mark.parametrize("name", NAMES)
def test_gray_level_out_of_range_raises_like_c(name):
    image = np.full((3, 3, 3), 2)
    mask = np.ones((3, 3, 3), bool)
    for mod in (C, M):  # Ng = 1 < gray level 2
        with pytest.raises(IndexError):
            _call(mod, name, image, mask, 1)


@pytest.mark.parametrize("name", NAMES)
def test_voxel_based_and_non_3d_refused(name):
    """No radscore path asks for them: a clear error instead of the C functions."""
    rng = np.random.default_rng(1)
    image = rng.integers(1, 4, size=(4, 5, 6))
    mask = np.ones(image.shape, bool)
    fn = getattr(M, "calculate_" + name)
    args = {"glcm": (np.array([1]), 3), "glrlm": (3, 6), "glszm": (3, 120), "gldm": (np.array([1]), 3, 0),
            "ngtdm": (np.array([1]), 3)}[name]
    with pytest.raises(ValueError, match="voxel-based"):
        fn(image, mask, *args, False, 0, 1, np.array([[1, 2], [2, 3], [3, 1]]))
    with pytest.raises(ValueError, match="3-D"):
        fn(image[0], mask[0], *args, False, 0)


@st.composite
def angle_args(draw):
    ndim = draw(st.integers(1, 4))
    size = np.array([draw(st.integers(1, 7)) for _ in range(ndim)])
    distances = np.array(draw(st.lists(st.integers(-1, 5), min_size=0, max_size=3)), dtype=int)
    return size, distances, draw(st.booleans()), draw(st.booleans()), draw(st.integers(-1, 4))


@settings(max_examples=400, deadline=None)
@given(angle_args())
def test_generate_angles_identical(args):
    """Same offsets in the same order (the matrices' last axis), or the same exception type."""
    try:
        ref = C.generate_angles(*args)
    except RuntimeError as exc:  # the only failure: no offsets
        with pytest.raises(type(exc)):
            M.generate_angles(*args)
        return
    ours = M.generate_angles(*args)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize("size", [(5, 5, 5), (1, 9, 9), (9, 2, 9), (3, 3, 1), (20, 30, 40)])
@pytest.mark.parametrize("distances", [(1,), (2,), (1, 2), (3, 1), (1, 1), (2, 5)])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("force2D, dim", [(False, 0), (True, 0), (True, 1), (True, 2)])
def test_generate_angles_identical_grid(size, distances, bidirectional, force2D, dim):
    args = (np.array(size), np.array(distances), bidirectional, force2D, dim)
    try:
        ref = C.generate_angles(*args)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            M.generate_angles(*args)
        return
    assert np.array_equal(M.generate_angles(*args), ref)


def test_generate_angles_casts_like_c():
    """Float sizes and distances are truncated, as the C function's NPY_INT cast."""
    args = (np.array([5.9, 4.2, 6.0]), np.array([1.7, 2.2]), True, False, 0)
    assert np.array_equal(M.generate_angles(*args), C.generate_angles(*args))


def test_gldm_ngtdm_one_pass_identical():
    rng = np.random.default_rng(2)
    image = rng.integers(1, 7, size=(7, 8, 9))
    mask = rng.random(image.shape) < 0.6
    gldm, ngtdm = M.gldm_ngtdm(M.labels_of(image, mask), np.array([1]), 6, 1, False, 0)
    assert np.array_equal(gldm, C.calculate_gldm(image, mask, np.array([1]), 6, 1, False, 0))
    assert np.array_equal(ngtdm, C.calculate_ngtdm(image, mask, np.array([1]), 6, False, 0))


def test_glrlm_run_longer_than_nr_raises():
    """PyRadiomics passes Nr = max(shape), so runs always fit; a smaller Nr is refused here.

    (cmatrices.c only checks the flat index, so there a too-small Nr can shift counts into
    the next gray level's row; these kernels raise instead of writing out of bounds.)
    """
    image = np.ones((2, 2, 6), int)
    mask = np.ones(image.shape, bool)
    M.calculate_glrlm(image, mask, 1, 6, False, 0)
    with pytest.raises(IndexError):
        M.calculate_glrlm(image, mask, 1, 5, False, 0)


def test_kernels_compile_without_a_writable_cache():
    """A function numba cannot cache (here: no source file) still compiles, uncached."""
    from radscore.runtime.jit import kernel

    namespace: dict = {}
    exec("def twice(x):\n    return 2 * x\n", namespace)  # '<string>': numba has no cache locator
    compiled = kernel(namespace["twice"])
    assert compiled(21) == 42
    assert type(compiled._cache).__name__ == "NullCache"
    from radscore.features import matrices

    from radscore.features import log_filter, shape
    from radscore.imaging import separable

    for fn in (matrices._glcm_kernel, shape._mesh_area_volume, log_filter._iir_lines, separable._prefilter_lines):
        assert type(fn._cache).__name__ == "FunctionCache", fn  # the real kernels are cached


def test_one_labels_shared_by_every_matrix():
    """The matrices from one shared ``Labels`` (GLSZM's flood fill first) equal PyRadiomics' C ones:
    the flood fill must not consume the shared array, and a wider distance widens its ring."""
    rng = np.random.default_rng(5)
    image = rng.integers(1, 6, size=(6, 7, 8))
    mask = rng.random(image.shape) < 0.7
    labels = M.labels_of(image, mask)
    d = np.array([1, 2])
    assert np.array_equal(M.glszm(labels, 5, False, 0), C.calculate_glszm(image, mask, 5, int(mask.sum()), False, 0))
    P, angles = M.glcm(labels, d, 5, False, 0)
    P_c, angles_c = C.calculate_glcm(image, mask, d, 5, False, 0)
    assert np.array_equal(P, P_c) and np.array_equal(angles, angles_c)
    assert np.array_equal(M.glrlm(labels, 5, 8, False, 0)[0], C.calculate_glrlm(image, mask, 5, 8, False, 0)[0])
    gldm, ngtdm = M.gldm_ngtdm(labels, d, 5, 0, False, 0)
    assert np.array_equal(gldm, C.calculate_gldm(image, mask, d, 5, 0, False, 0))
    assert np.array_equal(ngtdm, C.calculate_ngtdm(image, mask, d, 5, False, 0))
