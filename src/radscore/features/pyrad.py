"""Quieting PyRadiomics' logger while the shape class is still PyRadiomics' own.

The plain-PyRadiomics oracle moved to the tests (``tests/features/pyrad_oracle.py``); this
stub goes with the shape class's replacement.
"""

from __future__ import annotations

import logging


def quiet_pyradiomics() -> None:
    """Keep PyRadiomics' errors only (it attaches a handler at import and logs every step at INFO).

    A no-op where PyRadiomics is not installed: nothing of it will log then.
    """
    try:
        import radiomics
    except ImportError:
        return
    radiomics.setVerbosity(40)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
