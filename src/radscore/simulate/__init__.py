"""The simulated cohorts behind ``radscore demo`` and the tests: the NSCLC study (see :mod:`.cohort`,
:mod:`.phantom`, :mod:`.study`) and the mCRC study (:mod:`.mcrc`)."""

from radscore.simulate.mcrc import write_mcrc_study
from radscore.simulate.study import write_study

__all__ = ["write_mcrc_study", "write_study"]
