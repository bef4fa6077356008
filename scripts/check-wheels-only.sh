#!/usr/bin/env bash
# Wheels-only install check: radscore's core install needs no compiler and no PyRadiomics.
#
# In a fresh venv in a temporary folder: `pip install --only-binary :all: <repo>` (core,
# no extras), then a small end-to-end run on a simulated scan:
#   1. PyRadiomics is not installed, and `import radscore.features.engine` works without it;
#   2. `radscore simulate` (12 patients), then `radscore extract` of one CT with texture and
#      first-order classes (parameter file below) and with PyRadiomics' defaults (all
#      classes, shape included), and the study-style extract of the same scan (PET and CT);
#   3. `radscore demo` on 24 simulated patients (no extras: deep features, Dask, the page
#      and gseapy are skipped or unused).
# Exits non-zero at the first failure; with PyRadiomics absent, anything importing
# `radiomics` fails the run.
#
# Installs the repo's committed HEAD (git archive: no caches or venvs), not uncommitted edits.
# Usage: scripts/check-wheels-only.sh [repo]   (PYTHON=python3.11 to choose the interpreter;
# KEEP=1 keeps the temporary folder). Downloads the core wheels (pip's cache is used).
set -euo pipefail

REPO=$(cd "${1:-$(dirname "$0")/..}" && pwd)
PYTHON=${PYTHON:-python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/radscore-wheels.XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$TMP"' EXIT; else echo "keeping $TMP"; fi
START=$SECONDS
step() { printf '\n== %s (%ds)\n' "$1" $((SECONDS - START)); }

step "fresh venv ($PYTHON) in $TMP"
"$PYTHON" -m venv "$TMP/venv"
PY="$TMP/venv/bin/python"
"$PY" -m pip install --quiet --upgrade pip

step "pip install --only-binary :all: $REPO (core, no extras)"
# a copy without the work tree's caches and venvs, so pip builds only what the repo ships
git -C "$REPO" archive --format=tar HEAD | (mkdir -p "$TMP/src" && tar -x -C "$TMP/src")
"$PY" -m pip install --quiet --only-binary :all: "$TMP/src"

step "PyRadiomics absent; radscore.features.engine imports without it"
"$PY" - <<'EOF'
import importlib.util
import sys

if importlib.util.find_spec("radiomics") is not None:
    sys.exit("FAIL: PyRadiomics (radiomics) was installed by the core install")
import radscore.features.engine  # noqa: F401
import radscore.features.matrices  # noqa: F401
import radscore.features.commands  # noqa: F401

if "radiomics" in sys.modules:
    sys.exit("FAIL: importing radscore's feature modules imported radiomics")
print("ok: no radiomics; radscore.features.engine, matrices and commands import")
EOF

RS="$TMP/venv/bin/radscore"
step "radscore simulate --patients 12"
"$RS" simulate --patients 12 --external 0 --out "$TMP/sim" >/dev/null
# the first manifest row's CT, PET and mask
"$PY" -c 'import sys; from pathlib import Path; import pandas as pd
root = Path(sys.argv[1]); row = pd.read_csv(root / "manifest.csv").iloc[0]
print(*(root / row[c] for c in ["ct", "pet", "mask"]))' "$TMP/sim" > "$TMP/paths.txt"
read -r CT PET MASK < "$TMP/paths.txt"

step "radscore extract (PyRadiomics style, texture and first order, no shape)"
cat > "$TMP/params.yaml" <<'EOF'
setting: {binWidth: 25}
imageType: {Original: {}, LoG: {sigma: [2.0]}}
featureClass: {firstorder: [], glcm: [], glrlm: [], glszm: [], gldm: [], ngtdm: []}
EOF
"$RS" extract --image "$CT" --mask "$MASK" --params "$TMP/params.yaml" --out "$TMP/texture.csv"
"$PY" -c "import pandas as pd, sys; r = pd.read_csv(sys.argv[1]); print('ok:', r.shape[1] - 2, 'features')" \
    "$TMP/texture.csv"

step "radscore extract (PyRadiomics style, PyRadiomics' defaults: shape included)"
"$RS" extract --image "$CT" --mask "$MASK" --out "$TMP/defaults.csv"
"$PY" -c "import pandas as pd, sys; r = pd.read_csv(sys.argv[1]); print('ok:', r.shape[1] - 2, 'features')" \
    "$TMP/defaults.csv"

step "radscore extract (study style: PET and CT, four VOIs)"
"$RS" extract --ct "$CT" --pet "$PET" --mask "$MASK" --out "$TMP/study.csv"
"$PY" -c "import pandas as pd, sys; r = pd.read_csv(sys.argv[1]); print('ok:', r.shape[1] - 1, 'features')" \
    "$TMP/study.csv"

step "radscore demo --patients 24 --external 0 (the seed's protocol on a small cohort)"
"$RS" demo --patients 24 --external 0 --workers 2 --out "$TMP/demo" > "$TMP/demo.log" 2>&1 \
    || { tail -20 "$TMP/demo.log"; exit 1; }
test -s "$TMP/demo/report.html" && test -s "$TMP/demo/metrics.json"
echo "ok: report.html and metrics.json written"

step "all passed"
