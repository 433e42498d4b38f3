"""Classical SR methods and model wrappers; importing this registers the models.

* ``"sparse-coding"`` -- :class:`SparseCodingSR` (Yang et al. coupled dictionaries);
* ``"fd"`` -- :class:`WienerSR` (bicubic + Fourier-domain Wiener deconvolution);
* :class:`EdgeEnhanced` -- unsharp/Laplacian sharpening before or after any model;
* :class:`SelfEnsemble` -- x8 geometric self-ensemble with a per-pixel spread.
"""

from sruq.classical.edge import EdgeEnhanced
from sruq.classical.self_ensemble import SelfEnsemble
from sruq.classical.sparse_coding import DictionaryError, SparseCodingSR
from sruq.classical.wiener import WienerSR, wiener_deconvolve

__all__ = [
    "DictionaryError",
    "EdgeEnhanced",
    "SelfEnsemble",
    "SparseCodingSR",
    "WienerSR",
    "wiener_deconvolve",
]
