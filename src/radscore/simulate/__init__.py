"""The simulated cohort behind ``radscore demo`` and the tests (see :mod:`.cohort`, :mod:`.phantom`)."""

from radscore.simulate.study import write_study

__all__ = ["write_study"]
