"""Intervals that stay honest on inputs unlike the training data (numpy only).

The calibration file of an uncertainty source (rule ``calibrate``) holds its
split-conformal factor ``conformal_q`` fitted on the validation images at the training
degradation, and ``shift_q``: the same factor fitted on the validation images degraded with
each *other* degradation of the run.  An image the shift score flags
(:mod:`sruq.shift.scores`) gets the widest of those factors -- leaving out the degradation
it is tested on, so a shift is judged by a calibration that never saw it; an image that is
not flagged keeps ``conformal_q``.  The same ratio widens its sigma-scaled std for the UCE
after this calibration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def flagged_q(shift_q: Mapping[str, float], tested_on: str | None) -> float | None:
    """The factor of a flagged image tested on ``tested_on``: the largest ``shift_q`` of
    the other degradations (``None`` when none is left; ``tested_on`` ``None``: an image of
    unknown degradation, which may use them all)."""
    left = [q for degradation, q in shift_q.items()
            if degradation != tested_on and q is not None and math.isfinite(q)]
    return max(left) if left else None


def image_q(conformal_q: float, shift_q: Mapping[str, float], flagged: bool,
            tested_on: str | None) -> float:
    """The conformal factor of one image: :func:`flagged_q` when flagged (and larger than
    ``conformal_q``), else ``conformal_q``."""
    if not flagged:
        return conformal_q
    q = flagged_q(shift_q, tested_on)
    return conformal_q if q is None else max(conformal_q, q)
