"""The ``sruq`` command (``python -m sruq.cli`` too):

* :mod:`~sruq.cli.main` -- the parser, one-line errors and exit statuses;
* :mod:`~sruq.cli.upscale` -- ``sruq upscale``;
* :mod:`~sruq.cli.source` -- what ``--model``/``--weights``/``--source`` name;
* :mod:`~sruq.cli.evaluate` -- ``sruq evaluate``;
* :mod:`~sruq.cli.manifest` -- the folders sruq writes for a user, with a manifest of
  their files.
"""
