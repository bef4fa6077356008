"""The reliability suite's shared study: simulated and run once per session."""

from pathlib import Path

import pytest

from radscore.simulate import write_study
from reliability_helpers import CHEAP, N_PATIENTS, SEED, patch_config, run_cli


@pytest.fixture(scope="session")
def base_study(tmp_path_factory) -> Path:
    """A simulated study run once end to end (outputs and cache); copy it, never modify it."""
    folder = tmp_path_factory.mktemp("reliability") / "base"
    write_study(folder, N_PATIENTS, seed=SEED, protocol="quick")
    patch_config(folder, CHEAP)
    assert run_cli("run", str(folder), "--workers", "2") == 0
    return folder
