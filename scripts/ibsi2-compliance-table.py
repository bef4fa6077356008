"""Write the README's IBSI 2 compliance table from the IBSI 2 tests' own output.

Runs the IBSI 2 reference tests (phase 1 response maps, phase 2 statistics) with
``RADSCORE_IBSI2_RESULTS`` set, so each comparison is appended as one JSON line
(``tests/features/ibsi2_check.py``: ``record``), and replaces the text between the
``<!-- ibsi2-compliance:start -->`` and ``<!-- ibsi2-compliance:end -->`` markers of
README.md with a table: one row per phase 1 test (our max |diff| as a fraction of the
reference map's range; the criterion 1 %), the phase 1 tests without a reference map
(:data:`NO_REFERENCE_MAP`) marked as such, and one row per phase 2 configuration (the
statistic farthest from its consensus value, relative to its tolerance; the count within
tolerance). Rows are in test-id order (1_a_1 ... 10_b_2, then 1.A ... 9.B).

Usage (from the repository root, with ../shared/reference present)::

    PYTHONPATH=src .venv/bin/python scripts/ibsi2-compliance-table.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "features").glob("test_ibsi2_phase*.py"))
START, END = "<!-- ibsi2-compliance:start -->", "<!-- ibsi2-compliance:end -->"

#: IBSI 2 phase 1 tests without a consensus response map (the reference data's README), and ours
NO_REFERENCE_MAP = {
    "9_b_2": "not implemented (rotation-aligned Riesz)",
    "10_a": "not implemented (rotation-aligned Riesz)",
    "10_b_2": "not implemented (rotation-aligned Riesz)",
}


def _id_key(test_id: str) -> list[int | str]:
    """Natural order of test ids: ``2_a`` before ``10_a``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"[_.]", test_id)]


def run_tests(results: Path) -> int:
    env = {**os.environ, "RADSCORE_IBSI2_RESULTS": str(results), "RADSCORE_REQUIRE_REFERENCE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def table(rows: list[dict]) -> str:
    lines = ["| test id | ours | reference | pass |", "|---|---|---|---|"]
    phase1: dict[str, str] = {}
    phase2: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        kind, rest = r["test"].split(" ", 1)
        if kind == "phase1":
            phase1[rest] = (f"| {rest} | max \\|diff\\| = {r['ours']:.2e} of range | <= {r['tolerance']:.0%} of range "
                            f"| {'yes' if r['pass'] else 'no'} |")
        else:
            config, _tag = rest.split(" ")
            phase2[config].append(r)
    for test_id, ours in NO_REFERENCE_MAP.items():
        phase1.setdefault(test_id, f"| {test_id} | {ours} | no reference map | n/a |")
    lines += [phase1[test_id] for test_id in sorted(phase1, key=_id_key)]
    for config in sorted(phase2, key=_id_key):
        stats = phase2[config]
        worst = max(stats, key=lambda r: abs(r["ours"] - r["reference"]) / r["tolerance"])
        tag = worst["test"].split(" ")[-1]
        ok = sum(r["pass"] for r in stats)
        lines.append(f"| {config} | {ok}/{len(stats)} statistics in tolerance; farthest: {tag} = {worst['ours']:.4g} "
                     f"| {worst['reference']:.4g} +- {worst['tolerance']:.2g} | {'yes' if ok == len(stats) else 'no'} |")
    return "\n".join(lines)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "ibsi2.jsonl"
        code = run_tests(results)
        rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    if not rows:
        print("no IBSI 2 results were recorded; README unchanged", file=sys.stderr)
        return code or 1
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"README.md lacks the {START} / {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table(rows)}\n{END}{tail}")
    print(f"README.md: {len(rows)} comparisons written; pytest exit code {code}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
