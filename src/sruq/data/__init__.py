"""Datasets and training data:

* :mod:`~sruq.data.catalogue` -- the known datasets and where they come from;
* :mod:`~sruq.data.download`, :mod:`~sruq.data.archives` -- fetching (a local mirror
  first), verifying and safely extracting them;
* :mod:`~sruq.data.datasets` -- where a dataset's HR images are;
* :mod:`~sruq.data.patches` -- cutting aligned LR/HR training patches;
* :mod:`~sruq.data.patchset` -- a patch set on disk (numpy and torch only).

This ``__init__`` imports nothing.
"""
