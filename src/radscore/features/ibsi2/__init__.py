"""IBSI 2 convolutional filters and the intensity statistics of IBSI 2 phase 2.

A second filter mode beside the PyRadiomics-exact filters of :mod:`radscore.features.filters`
(which stay the default for the seed protocol). Every filter is a pure function
``(z, y, x) image, (z, y, x) spacing in mm, parameters -> float64 response map``, with the
boundary modes and 2-D / 3-D variants IBSI 2 defines (Depeursinge A et al., "Standardised
convolutional filtering for radiomics", arXiv:2006.05470).

- :mod:`.convolution` - boundary modes, separable / dilated / dense convolution;
- :mod:`.statistics` - the 18 intensity statistics IBSI 2 phase 2 scores.
"""

from radscore.features.ibsi2.convolution import BOUNDARY_MODES, convolve_1d, convolve_nd, convolve_separable
from radscore.features.ibsi2.statistics import STATISTIC_TAGS, intensity_statistics

__all__ = [
    "BOUNDARY_MODES",
    "STATISTIC_TAGS",
    "convolve_1d",
    "convolve_nd",
    "convolve_separable",
    "intensity_statistics",
]
