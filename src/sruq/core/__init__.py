"""The basics every part of sruq stands on, one module per concern (import from them):

* :mod:`~sruq.core.errors` -- errors shared by several modules and the one count check;
* :mod:`~sruq.core.io` -- reading images with one input policy, atomic writes;
* :mod:`~sruq.core.images` -- mod-crop, SR/HR pairs and their checks, per-image seeds;
* :mod:`~sruq.core.color`, :mod:`~sruq.core.tensors` -- the BT.601 coefficients and luma
  (numpy), uint8 <-> tensors and colour conversion on tensors;
* :mod:`~sruq.core.channels` -- the one channel policy (grey through RGB models, colour
  through Y models);
* :mod:`~sruq.core.imresize` -- MATLAB-compatible bicubic resizing;
* :mod:`~sruq.core.filters` -- a normalised Gaussian and 'same'-size 2-D filtering on
  tensors (replicated borders);
* :mod:`~sruq.core.arrays`, :mod:`~sruq.core.progress` -- numpy arrays from numbers,
  progress of long work;
* :mod:`~sruq.core.schema` -- the config schema (``schemas/config.schema.yaml``) and its
  checks; :mod:`~sruq.core.layout` -- the results tree: every path and result name.

This ``__init__`` imports nothing, so each module loads only what it needs.
"""
