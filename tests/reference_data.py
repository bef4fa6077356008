"""Where ``../shared/reference`` is, and the one rule for tests that need it.

A plain module (not ``conftest``): helper modules import it by this unique name, which
pytest's ``conftest`` modules (one per test folder, all named ``conftest``) do not have.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("RADSCORE_REFERENCE_DIR", REPO.parent / "shared" / "reference"))


def require_reference(sub: str = "") -> Path:
    """``REFERENCE / sub``; skips with the reason where it is absent, fails under RADSCORE_REQUIRE_REFERENCE=1."""
    path = REFERENCE / sub if sub else REFERENCE
    if not path.exists():
        reason = f"reference data not found at {path} (clone the shared/ folder beside the repo)"
        if os.environ.get("RADSCORE_REQUIRE_REFERENCE") == "1":
            pytest.fail(reason + "; RADSCORE_REQUIRE_REFERENCE=1 forbids skipping")
        pytest.skip(reason)
    return path
