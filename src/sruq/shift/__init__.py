"""Degradation shift: telling inputs unlike the training data, and what it does to the
uncertainty.

* :mod:`~sruq.shift.statistics` -- simple statistics of an LR image (numpy): spectral band
  ratios, the noise floor, JPEG blockiness, the variance of the Laplacian;
* :mod:`~sruq.shift.scores` -- the image-level shift-score interface (:class:`ShiftScore`),
  its candidates and the fitted set of them (:class:`ShiftFit`, numpy);
* :mod:`~sruq.shift.features` -- a network's pooled intermediate features (torch);
* :mod:`~sruq.shift.scoring` -- fitting every score for a trained model and scoring the
  workflow's images (torch);
* :mod:`~sruq.shift.calibration` -- intervals that stay honest on flagged inputs (numpy);
* :mod:`~sruq.shift.table` -- the shift table of a run (pandas).

This ``__init__`` imports nothing, so the numpy- and pandas-only modules load without torch.
"""
