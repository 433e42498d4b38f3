"""Model wrappers (the classical methods sparse coding and FD are models of
:mod:`sruq.models`):

* :class:`EdgeEnhanced` -- unsharp/Laplacian sharpening before or after any model;
* :class:`SelfEnsemble` -- x8 geometric self-ensemble with a per-pixel spread.
"""

from sruq.classical.edge import EdgeEnhanced
from sruq.classical.self_ensemble import SelfEnsemble

__all__ = ["EdgeEnhanced", "SelfEnsemble"]
