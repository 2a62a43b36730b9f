"""Training diagnostics: per-layer statistics while a network learns, and what is wrong with it.

:class:`Diagnostics` is a callback for ``fit`` that records, from the real training passes (no
second forward pass), each layer's activations (mean, std, dead, saturated and non-finite
fractions), gradient norms, update/weight ratios, weight norms and batch-norm statistics, and
for recurrent layers the gradient's norm per time step (:mod:`.over_time`);
:func:`diagnose` does the same for one batch without training. Both give a :class:`Report`:
findings with advice (:data:`THRESHOLDS`), printable and as a dict. The guide is
``docs/guides/diagnostics.md``.
"""

from .recorder import Diagnostics, diagnose
from .report import THRESHOLDS, Finding, Report, describe_layers, find_problems
from .statistics import DEAD_ACTIVATIONS, SATURATION_BOUNDS, ActivationSums, activation_statistics

__all__ = [
    "DEAD_ACTIVATIONS",
    "SATURATION_BOUNDS",
    "THRESHOLDS",
    "ActivationSums",
    "Diagnostics",
    "Finding",
    "Report",
    "activation_statistics",
    "describe_layers",
    "diagnose",
    "find_problems",
]
