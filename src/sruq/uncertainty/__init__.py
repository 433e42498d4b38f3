"""Uncertainty of super-resolution outputs, one module per concern (import from them):

* :mod:`~sruq.uncertainty.sources` -- the uncertainty sources, one class each (MC dropout,
  x8, TTA, MC-BatchNorm, deep ensemble), and ``SOURCES``, the registry the workflow's
  rules and ``sruq upscale`` both go through;
* :mod:`~sruq.uncertainty.mc` -- batched MC-dropout passes over a cached deterministic prefix;
* :mod:`~sruq.uncertainty.tiling` -- tiled MC inference of large images;
* :mod:`~sruq.uncertainty.settings` -- the ``mc:`` and ``heatmap:`` settings of a run
  (:class:`MCSettings`, :class:`HeatmapSettings`);
* :mod:`~sruq.uncertainty.files` -- the file contract of the per-image outputs;
* :mod:`~sruq.uncertainty.outputs`, :mod:`~sruq.uncertainty.details` -- writing them;
* :mod:`~sruq.uncertainty.heatmaps` -- colour scales of std maps;
* :mod:`~sruq.uncertainty.quality` -- uncertainty-quality metrics (numpy only);
* :mod:`~sruq.uncertainty.plots` -- sparsification and reliability figures.

The package itself imports nothing, so the metric and report steps that use only the
numpy modules run without torch.
"""
