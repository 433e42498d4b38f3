"""Wrappers around any SR model of :mod:`sruq.models` (each is an ``SRModel`` itself):

* :mod:`~sruq.wrappers.edge` -- :class:`EdgeEnhanced`, unsharp/Laplacian sharpening
  before or after the model (the ``+edge-pre`` / ``+edge-post`` variants);
* :mod:`~sruq.wrappers.self_ensemble` -- :class:`SelfEnsemble`, the x8 geometric
  self-ensemble with a per-pixel spread (the ``+x8`` variant).

This ``__init__`` imports nothing (import from the modules).
"""
