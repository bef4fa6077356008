"""PyRadiomics' 3-D shape features, exactly, without PyRadiomics.

PyRadiomics' ``RadiomicsShape`` (3.1.4, ``radiomics/shape.py`` and ``src/cshape.c``) builds a
marching-cubes mesh of the mask padded by one voxel, with every vertex at the midpoint of a
grid edge between a voxel inside and one outside, and computes from it:

- **SurfaceArea**: the sum of the triangles' areas; **MeshVolume**: the signed volume of the
  closed mesh (divergence theorem, one tetrahedron per triangle with the origin);
- **Maximum 3-D / 2-D diameters**: the largest distance between two mesh vertices (in 2-D:
  two vertices in the same axial slice, column or row plane).

The mesh's triangles in each cube follow the classic marching-cubes case table (Lorensen &
Cline 1987), of which PyRadiomics keeps the 128 configurations whose last corner is outside
and uses the complement's triangles (volume sign reversed) for the other 128. The
triangulation of the ambiguous configurations changes the area and volume, so the same
table is needed for the same values. radscore does not carry a copy: :func:`case_table`
asks PyMCubes (the maintained marching-cubes library, BSD-3) for the triangles of each of
the 128 single-cube configurations and applies PyRadiomics' complement rule;
``tests/features/test_shape.py`` compares every feature with PyRadiomics'.

What is faster than ``cshape.c`` without changing a value:

- the diameters: ``cshape.c`` compares every pair of mesh vertices, O(V^2) (9 s per VOI on
  a 370 cm^3 tumour at 1 mm). The farthest pair of a point set lies on its convex hull, so
  only the hull's points are compared (3-D), and per plane only that plane's hull (2-D).
  Distances are computed with the same operations on the same coordinates, so the maxima
  are the same floating-point numbers;
- the cube loop is a numba kernel (the same sums in the same cube order).

The PCA features (axis lengths, elongation, flatness) use the same numpy calls as
PyRadiomics on the voxel centres' physical coordinates.

References: van Griethuysen JJM et al., Cancer Res 2017;77:e104 (PyRadiomics); Zwanenburg A
et al., Radiology 2020;295:328 (IBSI, section 3.1); Lorensen WE, Cline HE, SIGGRAPH 1987.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from radscore.runtime.jit import kernel

#: Features of ``RadiomicsShape.enableAllFeatures()``, in the order PyRadiomics returns them
#: (method names sorted; the deprecated Compactness1, Compactness2 and
#: SphericalDisproportion are not enabled there and are only computed when named).
FEATURE_NAMES: tuple[str, ...] = (
    "Elongation", "Flatness", "LeastAxisLength", "MajorAxisLength", "Maximum2DDiameterColumn",
    "Maximum2DDiameterRow", "Maximum2DDiameterSlice", "Maximum3DDiameter", "MeshVolume",
    "MinorAxisLength", "Sphericity", "SurfaceArea", "SurfaceVolumeRatio", "VoxelVolume",
)
DEPRECATED_NAMES: tuple[str, ...] = ("Compactness1", "Compactness2", "SphericalDisproportion")

#: Cube corners as (z, y, x) offsets, in PyRadiomics' corner order (bit k of a cube's
#: configuration is corner k inside the mask).
CORNERS = np.array([(0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0)])
#: At most 5 triangles per cube configuration (marching cubes).
_MAX_TRIANGLES = 5
#: Below this many points the pairwise maximum is cheaper than a convex hull.
_HULL_MIN_POINTS = 64


@functools.lru_cache(maxsize=1)
def case_table() -> tuple[np.ndarray, np.ndarray]:
    """The triangles of each cube configuration 0..127, as PyRadiomics uses them.

    Returns
    -------
    triangles : ndarray of float64, shape (128, 5, 3, 3)
        Triangle ``t`` of configuration ``c``: three vertices as (z, y, x) offsets in the cube
        (0, 0.5 or 1), wound so that the signed volume of a mask's mesh is positive.
    counts : ndarray of int64, shape (128,)
        Number of triangles of each configuration.
    """
    import mcubes  # PyMCubes: the classic case table, one single-cube volume at a time

    triangles = np.zeros((128, _MAX_TRIANGLES, 3, 3))
    counts = np.zeros(128, dtype=np.int64)
    for c in range(1, 128):
        cube = np.ones((2, 2, 2))
        for k in range(8):
            if c >> k & 1:
                cube[tuple(CORNERS[k])] = 0.0  # the table marks corners below the level
        verts, faces = mcubes.marching_cubes(cube, 0.5)
        tri = verts[faces]
        counts[c] = len(tri)
        triangles[c, : len(tri)] = tri[:, ::-1]  # reversed winding: outward for the inside corners
    return triangles, counts


@kernel
def _mesh_area_volume(mask: np.ndarray, spacing: np.ndarray, triangles: np.ndarray,
                      counts: np.ndarray) -> tuple[float, float]:
    """Surface area and volume of the marching-cubes mesh of ``mask`` (padded, uint8)."""
    area = 0.0
    volume6 = 0.0
    nz, ny, nx = mask.shape
    a = np.empty(3)
    b = np.empty(3)
    c = np.empty(3)
    for iz in range(nz - 1):
        for iy in range(ny - 1):
            for ix in range(nx - 1):
                idx = 0
                for k in range(8):
                    if mask[iz + _CZ[k], iy + _CY[k], ix + _CX[k]]:
                        idx |= 1 << k
                sign = 1.0
                if idx & 0x80:
                    idx ^= 0xFF
                    sign = -1.0
                if idx == 0:
                    continue
                origin = (float(iz), float(iy), float(ix))
                for t in range(counts[idx]):
                    for d in range(3):
                        a[d] = (origin[d] + triangles[idx, t, 0, d]) * spacing[d]
                        b[d] = (origin[d] + triangles[idx, t, 1, d]) * spacing[d]
                        c[d] = (origin[d] + triangles[idx, t, 2, d]) * spacing[d]
                    cx = a[1] * b[2] - b[1] * a[2]
                    cy = a[2] * b[0] - b[2] * a[0]
                    cz = a[0] * b[1] - b[0] * a[1]
                    volume6 += sign * (cx * c[0] + cy * c[1] + cz * c[2])
                    for d in range(3):
                        a[d] -= c[d]
                        b[d] -= c[d]
                    cx = a[1] * b[2] - b[1] * a[2]
                    cy = a[2] * b[0] - b[2] * a[0]
                    cz = a[0] * b[1] - b[0] * a[1]
                    area += 0.5 * np.sqrt(cx * cx + cy * cy + cz * cz)
    return area, volume6 / 6.0


_CZ = CORNERS[:, 0].copy()
_CY = CORNERS[:, 1].copy()
_CX = CORNERS[:, 2].copy()


def _line_extremes(points: np.ndarray, along: int) -> np.ndarray:
    """The points that are the first or last on their grid line parallel to axis ``along``.

    A point strictly between two others on a line is inside a segment of the set, and such a
    point is never an end of the farthest pair (nor of any plane's farthest pair): dropping
    them changes no diameter and leaves ~2 points per line.
    """
    keys = [d for d in range(3) if d != along]
    order = np.lexsort((points[:, along], points[:, keys[1]], points[:, keys[0]]))
    srt = points[order]
    new_line = np.any(srt[1:, keys] != srt[:-1, keys], axis=1)
    first = np.concatenate(([True], new_line))
    last = np.concatenate((new_line, [True]))
    return srt[first | last]


def _hull_points(points: np.ndarray) -> np.ndarray:
    """The points that can be an end of the 3-D farthest pair: the convex hull's.

    Points qhull reports as coplanar with a facet are kept as well, so a vertex lost to
    qhull's facet merging on the voxel grid's flat faces cannot drop the maximum. Small or
    degenerate sets are returned whole.
    """
    if len(points) < _HULL_MIN_POINTS:
        return points
    try:
        hull = ConvexHull(points, qhull_options="Qc")
    except QhullError:
        return points
    keep = np.union1d(hull.vertices, hull.coplanar[:, 0] if len(hull.coplanar) else [])
    return np.ascontiguousarray(points[keep.astype(np.intp)])


@kernel
def _max_sq_distance_per_group(points: np.ndarray, starts: np.ndarray) -> float:
    """Largest squared distance between two rows of the same group (rows starts[g]:starts[g+1])."""
    best = 0.0
    for g in range(starts.shape[0] - 1):
        for i in range(starts[g], starts[g + 1]):
            for j in range(i + 1, starts[g + 1]):
                d0 = points[i, 0] - points[j, 0]
                d1 = points[i, 1] - points[j, 1]
                d2 = points[i, 2] - points[j, 2]
                dist = d0 * d0 + d1 * d1 + d2 * d2
                best = max(best, dist)
    return best


def _edge_midpoints(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """The mesh's vertices: midpoints of grid edges between a voxel inside and one outside.

    The same points, with the same coordinates (grid index + 0 or 0.5, times the spacing),
    as the vertices ``cshape.c`` stores for its diameters.
    """
    parts = []
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(None, -1)
        hi[axis] = slice(1, None)
        idx = np.argwhere(mask[tuple(lo)] != mask[tuple(hi)]).astype(np.float64)
        idx[:, axis] += 0.5
        parts.append(idx)
    return np.concatenate(parts) * spacing


def mesh_diameters(vertices: np.ndarray) -> tuple[float, float, float, float]:
    """PyRadiomics' (slice, column, row, 3-D) maximum diameters of a vertex set (z, y, x) in mm.

    A 2-D diameter is the largest distance between two vertices with the same z (slice),
    y (column) or x (row) coordinate.
    """
    if len(vertices) < 2:
        return 0.0, 0.0, 0.0, 0.0
    out = []
    for axis in range(3):
        # per plane of this axis, the ends of each line of the plane are the candidates
        along = (axis + 1) % 3
        pts = _line_extremes(vertices, along)
        pts = pts[np.argsort(pts[:, axis], kind="stable")]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(pts[:, axis])) + 1, [len(pts)]))
        out.append(_max_sq_distance_per_group(np.ascontiguousarray(pts), starts))
    pts = vertices
    for along in range(3):
        pts = _line_extremes(pts, along)
    hull = _hull_points(pts)
    full = _max_sq_distance_per_group(hull, np.array([0, len(hull)]))
    return tuple(float(np.sqrt(x)) for x in (*out, full))  # type: ignore[return-value]


def shape_features(mask: np.ndarray, spacing: Sequence[float], names: Sequence[str] = FEATURE_NAMES) -> dict[str, float]:
    """PyRadiomics' 3-D shape features of one mask.

    Parameters
    ----------
    mask : ndarray of bool, shape (z, y, x)
        The VOI; it must not be empty. PyRadiomics' extractor gives its shape class the
        mask cropped to its bounding box, and so should a caller: the classic case table
        leaves holes in some meshes (e.g. one voxel thick), where the divergence-theorem
        volume then depends on the array's origin, as in PyRadiomics.
    spacing : sequence of float
        Voxel spacing (x, y, z) in mm, as ``SimpleITK.Image.GetSpacing()``.
    names : sequence of str, optional
        Features to return, in this order; default :data:`FEATURE_NAMES` (PyRadiomics'
        ``enableAllFeatures``). :data:`DEPRECATED_NAMES` may be named too.

    Returns
    -------
    dict of str to float
        PyRadiomics' feature names (without the ``original_shape_`` prefix).
    """
    unknown = [n for n in names if n not in FEATURE_NAMES + DEPRECATED_NAMES]
    if unknown:
        raise ValueError(f"unknown shape feature(s) {unknown}; known: {', '.join(FEATURE_NAMES + DEPRECATED_NAMES)}")
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 3 or not m.any():
        raise ValueError(f"shape features need a non-empty 3-D mask, got shape {m.shape} with {int(m.sum())} voxels")
    padded = np.pad(m, 1).astype(np.uint8)
    sp = np.asarray(tuple(spacing)[::-1], dtype=np.float64)  # (z, y, x), as PyRadiomics' pixelSpacing
    triangles, counts = case_table()
    area, volume = _mesh_area_volume(padded, sp, triangles, counts)
    slice_d, column_d, row_d, max_d = mesh_diameters(_edge_midpoints(padded, sp))
    ev = _eigenvalues(padded, sp)
    n_voxels = int(m.sum())
    values = {
        "MeshVolume": volume,
        "VoxelVolume": n_voxels * (sp[0] * sp[2] * sp[1]),
        "SurfaceArea": area,
        "SurfaceVolumeRatio": area / volume,
        "Sphericity": (36 * np.pi * volume ** 2) ** (1.0 / 3.0) / area,
        "Compactness1": volume / (area ** (3.0 / 2.0) * np.sqrt(np.pi)),
        "Compactness2": (36.0 * np.pi) * (volume ** 2.0) / (area ** 3.0),
        "SphericalDisproportion": area / (36 * np.pi * volume ** 2) ** (1.0 / 3.0),
        "Maximum3DDiameter": max_d,
        "Maximum2DDiameterSlice": slice_d,
        "Maximum2DDiameterColumn": column_d,
        "Maximum2DDiameterRow": row_d,
        "MajorAxisLength": _sqrt_or_nan(ev[2]) * 4,
        "MinorAxisLength": _sqrt_or_nan(ev[1]) * 4,
        "LeastAxisLength": _sqrt_or_nan(ev[0]) * 4,
        "Elongation": np.sqrt(ev[1] / ev[2]) if ev[1] >= 0 and ev[2] >= 0 else np.nan,
        "Flatness": np.sqrt(ev[0] / ev[2]) if ev[0] >= 0 and ev[2] >= 0 else np.nan,
    }
    return {n: float(values[n]) for n in names}


def _sqrt_or_nan(x: float) -> float:
    return float(np.sqrt(x)) if x >= 0 else float("nan")


def _eigenvalues(padded: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of the voxel centres' covariance, as PyRadiomics computes them.

    Same calls in the same order (``np.linalg.eigvals``, the general eigensolver, of the product,
    tiny negatives from rounding set to 0), so the values are PyRadiomics' own.
    """
    coords = np.array(np.where(padded != 0), dtype="int").T
    n = len(coords)
    physical = coords * spacing[None, :]
    physical -= np.mean(physical, axis=0)
    physical /= np.sqrt(n)
    covariance = np.dot(physical.T.copy(), physical)
    # a product that is not exactly symmetric can give complex eigenvalues with zero or
    # rounding-size imaginary parts; PyRadiomics' values keep only the real part
    ev = np.real(np.linalg.eigvals(covariance))
    ev[(ev < 0) & (ev > -1e-10)] = 0
    ev.sort()
    return ev


def warm_up() -> None:
    """Build the case table and load the compiled kernels (before forking workers)."""
    shape_features(np.ones((2, 2, 2), dtype=bool), (1.0, 1.0, 1.0))
