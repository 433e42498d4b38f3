"""Measuring SR images against their HR images:

* :mod:`~sruq.evaluation.metrics` -- PSNR and SSIM, the metric channel and crop;
* :mod:`~sruq.evaluation.lpips_metric` -- LPIPS (optional extra);
* :mod:`~sruq.evaluation.folders` -- a folder of SR images against its HR folder (the
  workflow's protocol, also behind ``sruq evaluate``);
* :mod:`~sruq.evaluation.bootstrap` -- the paired-bootstrap confidence interval of a PSNR
  difference.

This ``__init__`` imports nothing, so the numpy-only modules load without torch.
"""
