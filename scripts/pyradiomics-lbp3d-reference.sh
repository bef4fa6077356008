#!/usr/bin/env bash
# Writes tests/features/data/lbp3d_pyradiomics.json: PyRadiomics' *own* LBP-3D
# (imageoperations.getLBP3DImage) first-order and GLCM features on a few cases, the
# reference of tests/features/test_lbp3d_pyradiomics.py.
#
# PyRadiomics' LBP-3D imports scipy.special.sph_harm, removed in SciPy 1.15, so it runs
# here in a throw-away venv with SciPy 1.16 (the last release that has it). The inputs
# are built by radscore's environment (tests/features/lbp3d_cases.py: seeded synthetic
# volumes, and the STS_001 PET in SUV from ../shared/reference) and handed over as NRRD
# files with their sha256 fingerprints, which go into the JSON.
#
# Usage: scripts/pyradiomics-lbp3d-reference.sh
#   RADSCORE_PYTHON  Python of radscore's environment (default: .venv/bin/python of the repo)
#   RADSCORE_REFERENCE_DIR  the shared reference folder (default: ../shared/reference)
#   PYTHON_FOR_VENV  interpreter for the SciPy 1.16 venv (default: python3.11, else python3)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
radscore_python="${RADSCORE_PYTHON:-$repo/.venv/bin/python}"
venv_python="${PYTHON_FOR_VENV:-$(command -v python3.11 || command -v python3)}"
export RADSCORE_REFERENCE_DIR="${RADSCORE_REFERENCE_DIR:-$repo/../shared/reference}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "1/3 inputs (radscore's environment: $radscore_python)"
PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" "$radscore_python" "$repo/scripts/pyradiomics_lbp3d_reference.py" \
    inputs "$work/inputs"

echo "2/3 venv with SciPy 1.16 and PyRadiomics ($venv_python)"
"$venv_python" -m venv "$work/venv"
# SciPy 1.16 supports NumPy < 2.6; pyradiomics-bhklab builds its C extension (gcc) in an
# isolated build environment when no wheel fits. trimesh gives LBP-3D its icosphere.
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
    "scipy==1.16.*" "numpy>=2,<2.4" "pyradiomics-bhklab==3.1.4" trimesh SimpleITK 2>&1 \
    | grep -v "^WARNING: Location" || true

echo "3/3 PyRadiomics' LBP-3D features"
"$work/venv/bin/python" "$repo/scripts/pyradiomics_lbp3d_reference.py" \
    extract "$work/inputs" "$repo/tests/features/data/lbp3d_pyradiomics.json"
