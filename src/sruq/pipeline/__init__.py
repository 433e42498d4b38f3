"""What the Snakemake workflow plans with:

* :mod:`~sruq.pipeline.config` -- the config checks a schema cannot express, and the
  config prepared once for the rules;
* :mod:`~sruq.pipeline.methods` -- a config method name to its model, and each method's kind;
* :mod:`~sruq.pipeline.log` -- logging and clear failures for the step scripts.

This ``__init__`` imports nothing, so a step script that imports :mod:`~sruq.pipeline.log`
loads nothing else.
"""
