"""Glue for the thin scripts in ``workflow/scripts``: logging and clear failures."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def log_to(path: str | Path) -> Iterator[None]:
    """Send stdout, stderr, logging and progress bars of a step to its log file.

    An exception ends the step with one line ``sruq: error: ...`` on the console
    (and the full traceback in the log), instead of a traceback wall.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        logging.basicConfig(stream=fh, level=logging.INFO, force=True)
        try:
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                yield
        except Exception as err:  # noqa: BLE001 - reported, then the step fails
            traceback.print_exc(file=fh)
            message = f"sruq: error: {err}"
            print(message, file=fh)
            print(f"{message} (log: {path})", file=sys.__stderr__)
            raise SystemExit(1) from None
