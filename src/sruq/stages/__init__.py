"""The workflow's steps, one module per stage and rule file (``workflow/rules/<stage>.smk``).

Each step script in ``workflow/scripts`` calls one function of one stage module; each
stage module imports only what its stage needs, so its conda env (``envs/<stage>.yaml``)
lists only that (``tests/test_envs.py`` checks it):

* :mod:`~sruq.stages.data` -- locate, prepare and degrade the datasets;
* :mod:`~sruq.stages.train` -- training patches, networks, the sparse-coding dictionary;
* :mod:`~sruq.stages.infer` -- super-resolve with every method, uncertainty outputs;
* :mod:`~sruq.stages.evaluate` -- PSNR/SSIM, sigma scaling, uncertainty metrics, tables
  (numpy, no torch); :mod:`~sruq.stages.lpips` -- the LPIPS column (torch, torchvision);
* :mod:`~sruq.stages.report` -- figures (matplotlib, no torch).
"""
