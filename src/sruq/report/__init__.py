"""What a run shows: tables, figures and the results viewer.

* :mod:`~sruq.report.tables` -- the tidy per-image metrics table and the comparison tables;
* :mod:`~sruq.report.table_cells` -- how a metric is shown (label, better direction,
  decimals);
* :mod:`~sruq.report.figures` -- figures of the results;
* :mod:`~sruq.report.viewer` -- the results viewer, a static site (script and style sheet
  from ``sruq/static/``).

This ``__init__`` imports nothing.
"""
