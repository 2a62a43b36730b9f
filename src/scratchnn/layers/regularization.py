"""Old home of ``Dropout`` and ``BatchNorm``, kept so that old imports keep working.

They now live in :mod:`scratchnn.layers.dropout` and :mod:`scratchnn.layers.batch_norm`.
"""

from .batch_norm import BatchNorm
from .dropout import Dropout

__all__ = ["BatchNorm", "Dropout"]
