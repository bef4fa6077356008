"""Pictures for the decision-support page: VOI overlays, the training distribution, the trajectory.

Figures are drawn on Agg canvases (no pyplot, thread-safe per figure) and returned as
PNG data URIs so the page needs nothing from elsewhere.
"""

from __future__ import annotations

import base64

import numpy as np
import SimpleITK as sitk

from radscore.imaging.preprocess import PreparedScan
from radscore.catalog import VOIS
from radscore.report.figures import figure_bytes

VOI_COLOURS = {"tumor": "#00e5ff", "core": "#39ff14", "ring": "#ff3df2", "tumor_ring": "#b0b0b0"}
# tumor_ring = tumour + ring: its border is the ring's outer border, drawn under the ring.
CT_WINDOW = (-160.0, 240.0)  # soft-tissue window (level 40, width 400 HU)


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def data_uri(fig, dpi: int = 110) -> str:
    """A figure as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(figure_bytes(fig, "png", dpi=dpi)).decode()


def tumour_slices(tumor: np.ndarray, n: int = 3) -> list[int]:
    """``n`` axial slice indices spread over the tumour's z-extent (largest-area slice in the middle)."""
    area = tumor.reshape(tumor.shape[0], -1).sum(axis=1)
    zs = np.nonzero(area)[0]
    if zs.size == 0:
        return [tumor.shape[0] // 2]
    mid = int(np.argmax(area))
    picks = {int(zs[0] + (zs[-1] - zs[0]) * 0.2), mid, int(zs[0] + (zs[-1] - zs[0]) * 0.8)}
    return sorted(picks)[:n]


def _crop_box(vois: dict[str, np.ndarray], shape: tuple[int, ...], margin: int = 12) -> tuple[slice, slice]:
    union = np.zeros(shape, dtype=bool)
    for v in vois.values():
        union |= v
    if not union.any():
        return slice(None), slice(None)
    ys, xs = np.nonzero(union.any(axis=0))
    return (slice(max(ys.min() - margin, 0), ys.max() + margin + 1),
            slice(max(xs.min() - margin, 0), xs.max() + margin + 1))


def _outlines(vois: dict[str, np.ndarray], z: int, ys: slice, xs: slice) -> np.ndarray:
    """RGBA image of the VOIs' in-plane borders (one voxel wide); the tumour is drawn last, on top."""
    from matplotlib.colors import to_rgba
    from scipy import ndimage

    shape = vois[next(iter(vois))][z][ys, xs].shape if vois else (1, 1)
    rgba = np.zeros(shape + (4,), dtype=float)
    for name in ("tumor_ring", "ring", "core", "tumor"):
        voi = vois.get(name)
        if voi is None:
            continue
        sl = voi[z][ys, xs]
        edge = sl & ~ndimage.binary_erosion(sl)
        rgba[edge] = to_rgba(VOI_COLOURS[name])
    return rgba


def overlay_figure(prepared: PreparedScan, title: str = ""):
    """PET (top row) and CT (bottom row; either alone in a one-modality study) at a few tumour
    slices with the four VOIs' outlines."""
    rows = []
    if "pet" in prepared.images:
        pet = sitk.GetArrayFromImage(prepared.images["pet"])
        tumor = prepared.vois.get("tumor", np.zeros(pet.shape, dtype=bool))
        pet_max = float(np.percentile(pet[tumor], 99)) if tumor.any() else float(pet.max())
        rows.append((pet, {"cmap": "hot", "vmin": 0.0, "vmax": max(pet_max, 1e-6)}, "PET (SUV)"))
    if "ct" in prepared.images:
        rows.append((sitk.GetArrayFromImage(prepared.images["ct"]),
                     {"cmap": "gray", "vmin": CT_WINDOW[0], "vmax": CT_WINDOW[1]},
                     f"CT (W{CT_WINDOW[1] - CT_WINDOW[0]:.0f}/L{sum(CT_WINDOW) / 2:.0f})"))
    shape = rows[0][0].shape
    tumor = prepared.vois.get("tumor", np.zeros(shape, dtype=bool))
    zs = tumour_slices(tumor)
    ys, xs = _crop_box(prepared.vois, shape)
    sp = next(iter(prepared.images.values())).GetSpacing()
    aspect = sp[1] / sp[0]
    fig = _figure(2.3 * len(zs) + 0.6, 0.4 + 2.25 * len(rows))
    axes = fig.subplots(len(rows), len(zs), squeeze=False)
    for col, z in enumerate(zs):
        for row, (arr, kw, _) in enumerate(rows):
            ax = axes[row, col]
            ax.imshow(arr[z][ys, xs], interpolation="nearest", aspect=aspect, **kw)
            ax.imshow(_outlines(prepared.vois, z, ys, xs), interpolation="nearest", aspect=aspect)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"slice {z}", fontsize=8)
    for row, (_, _, label) in enumerate(rows):
        axes[row, 0].set_ylabel(label, fontsize=8)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=VOI_COLOURS[n], lw=2,
                      label=(n if n != "tumor_ring" else "tumor_ring (outer = ring)")
                      + ("" if n in prepared.vois else " (left out)")) for n in VOIS]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def distribution_figure(training: np.ndarray, cutoff: float, points: dict[str, float], positive: str | None):
    """Histogram of the training Radscores with the cutoff and the patient's scan(s)."""
    fig = _figure(5.2, 2.6)
    ax = fig.add_subplot()
    if training.size:
        ax.hist(training, bins=min(20, max(5, training.size // 3)), color="#b8c7da", edgecolor="#7d8fa8")
    ax.axvline(cutoff, color="#b42318", ls="--", lw=1.2, label=f"cutoff {cutoff:.3f}")
    marks = {"baseline": "#1f4e9c", "follow-up": "#e07b00"}
    for name, v in points.items():
        ax.axvline(v, color=marks.get(name, "k"), lw=2.2, label=f"{name} {v:.3f}")
    ax.set_xlabel(f"Radscore (log-odds of {positive or 'class 1'})")
    ax.set_ylabel("training patients")
    ax.legend(fontsize=7, frameon=False)
    return fig


def trajectory_figure(baseline: float, followup: float, cutoff: float):
    """Baseline to follow-up Radscore with the cutoff line."""
    fig = _figure(3.6, 2.8)
    ax = fig.add_subplot()
    ax.axhline(cutoff, color="#b42318", ls="--", lw=1.2, label="cutoff")
    ax.plot([0, 1], [baseline, followup], "-o", color="#1f4e9c", lw=2)
    for x, v in ((0, baseline), (1, followup)):
        ax.annotate(f"{v:.3f}", (x, v), textcoords="offset points", xytext=(8, 4), fontsize=8)
    ax.set_xticks([0, 1], ["baseline", "follow-up"])
    ax.set_xlim(-0.3, 1.4)
    ax.set_ylabel("Radscore")
    ax.legend(fontsize=7, frameon=False)
    return fig
