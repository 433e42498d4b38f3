"""Counter-based dropout masks, computed with tensor ops on the activations' device.

A mask element is a pure function of (seed, dropout call, sample, image, element position
in *image* coordinates): an integer hash, no generator state.  Sample ``t`` therefore gets
the same mask however the T samples are split into chunks, whatever tile of the image is
being computed, and on any device.

The hash is the SplitMix64 finaliser on int64 tensors: additions and multiplications wrap
modulo 2**64 (two's complement, on CPU and CUDA alike) and right shifts are masked to be
logical, so the tensor code computes exactly the unsigned 64-bit function :func:`mix_int`.

Element dropout (``nn.Dropout``) draws only the dropped positions, as a Bernoulli process:
the gaps between dropped elements are geometric, ``floor(log(U) / log(1 - p)) + 1``, which
costs about ``p n`` hashes instead of ``n``.  A process runs in each *unit*: one image row
``Y`` of one sample, ``L`` columns ``[bx L, (bx + 1) L)`` of it (``bx`` in image
coordinates) and every channel, in channels-last order.  Gap ``k`` of a unit comes from
hash ``k // 2`` of the unit's key (its high or low 32 bits), so any tile that overlaps a
unit sees the same dropped positions there and keeps the ones inside it.  The log is taken
in float64, so two devices disagree only if their logs differ in the last bit right at an
integer (about 1e-15 per gap).  Uniforms have 32 bits: gaps longer than about
``23 / p`` (probability about 2**-33) are cut to that length.

Feature dropout (``nn.Dropout1d/2d/3d``) hashes each (sample, image, channel) once and
drops it when the top 53 bits fall below ``p * 2**53`` (an exact integer comparison).
"""

from __future__ import annotations

import math

import torch

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
BLOCK = 64
"""Columns per unit of element dropout (image coordinates; tiles waste at most two per row)."""
GROUP = 3 << 16
"""Candidate gaps per batch of units' first draw on the CPU, so that a batch's hashes, logs
and positions stay in a 2 MiB L2 cache (measured on ESRCNN's maps: 160k-200k gaps 3-5 %
faster than 262k, 64k 10 % slower); other devices do all at once."""


def _signed(value: int) -> int:
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


def mix_int(z: int) -> int:
    """SplitMix64's finaliser on a Python int (the reference for :func:`mix`)."""
    z &= MASK64
    z ^= z >> 30
    z = (z * MIX1) & MASK64
    z ^= z >> 27
    z = (z * MIX2) & MASK64
    return z ^ (z >> 31)


def key_int(*fields: int) -> int:
    """Hash of a tuple of non-negative ints, as a signed int64 (for keys shared by a call)."""
    z = 0
    for value in fields:
        z = mix_int(z + value * GOLDEN)
    return _signed(z)


def mix(z: torch.Tensor) -> torch.Tensor:
    """:func:`mix_int` on an int64 tensor, in place (returns ``z``)."""
    scratch = torch.empty_like(z)
    for shift, factor in ((30, _signed(MIX1)), (27, _signed(MIX2)), (31, 0)):
        torch.bitwise_right_shift(z, shift, out=scratch)
        z ^= scratch.bitwise_and_((1 << (64 - shift)) - 1)
        if factor:
            z *= factor
    return z


def combine(key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Keys of ``(key, value)`` pairs (broadcast): ``mix(key + value * GOLDEN)``."""
    return mix(key + value * _signed(GOLDEN))


def sample_keys(seed: int, call: int, start: int, samples: int, device: torch.device
                ) -> torch.Tensor:
    """Key of each sample ``start .. start + samples - 1`` of dropout call ``call``."""
    base = torch.tensor(key_int(seed, call), dtype=torch.int64, device=device)
    return combine(base, torch.arange(start, start + samples, device=device))


def feature_drops(keys: torch.Tensor, images: int, channels: int, p: float) -> torch.Tensor:
    """Boolean ``(samples * images, channels)``: which (sample, image, channel) are dropped."""
    device = keys.device
    per_image = combine(keys[:, None], torch.arange(images, device=device))
    z = combine(per_image[..., None], torch.arange(channels, device=device))
    threshold = min(int(p * 2.0**53), 1 << 53)
    return ((z >> 11) & ((1 << 53) - 1) < threshold).reshape(-1, channels)


def _gaps(unit_keys: torch.Tensor, first: int, count: int, inv_log_keep: float,
          dtype: torch.dtype) -> torch.Tensor:
    """Gaps ``first .. first + count - 1`` (both even) of each unit, ``(U, count)`` of
    ``dtype`` (int32 where :func:`index_dtype` allows: converting to int64 costs six times
    as much on the CPU).

    Gap ``2 i`` and ``2 i + 1`` are the two 32-bit halves of hash ``i + 1`` (an int32 view:
    low half first on the little-endian CPUs and GPUs torch runs on).  The gap is the floor
    of a float64 at least 1 (less only by rounding, far from 0), which the integer
    conversion (truncation) gives.
    """
    device = unit_keys.device
    steps = torch.arange(first // 2 + 1, (first + count) // 2 + 1, device=device)
    z = mix(unit_keys[:, None] + steps * _signed(GOLDEN)).view(torch.int32)
    gaps = torch.empty(z.shape, dtype=torch.float64, device=device).copy_(z)
    gaps.add_(2.0**31 + 0.5).log_()  # log of U * 2**32
    return gaps.mul_(inv_log_keep).add_(1 - 32 * math.log(2) * inv_log_keep).to(dtype)


def _longest_gap(p: float) -> int:
    """More than the longest gap :func:`_gaps` can give for rate ``p``: that of the smallest
    uniform, ``U = 2**-33``."""
    return math.floor(1 - 33 * math.log(2) / math.log1p(-p)) + 1


def _round_sizes(p: float, width: int) -> tuple[int, int]:
    """Gaps drawn per unit of ``width`` elements: ``(first, more)`` (see :func:`_positions`)."""
    mean = p * width  # dropped per unit
    first = 2 * math.ceil((mean + math.sqrt(mean) + 4) / 2)
    more = 2 * math.ceil((2 * math.sqrt(mean) + 8) / 2)
    return first, more


def index_dtype(numel: int, p: float, width: int) -> torch.dtype:
    """int32 when every candidate position of a block of ``numel`` elements in units of
    ``width`` fits in it (one round of gaps past the block's end), else int64."""
    first, more = _round_sizes(p, width)
    reach = numel + max(first, more) * _longest_gap(p)
    return torch.int32 if reach < 2**31 else torch.int64


def _select_ranges(pos: torch.Tensor, lo: torch.Tensor | None, hi: torch.Tensor,
                   out: torch.Tensor | None = None) -> torch.Tensor:
    """Each row's ``lo <= pos < hi`` (``pos``: ascending rows; ``lo`` None for no lower
    bound), row after row, written to the start of ``out`` (a new tensor if None).

    A row's kept elements are one slice of it, found by binary search, and one gather
    copies every slice: its flat indices are a running sum of ones with a jump where a
    row's slice starts (on the CPU a boolean ``masked_select`` costs twice as much: it
    counts and ranks the selection in int64 first)."""
    units, width = pos.shape
    if out is None:
        out = pos.new_empty(pos.numel())
    if not units:
        return out[:0]
    dtype = torch.int32 if pos.numel() < 2**31 else torch.int64
    counts = torch.searchsorted(pos, hi[:, None], out_int32=True).squeeze(1).to(dtype)
    first = torch.arange(0, units * width, width, dtype=dtype, device=pos.device)
    if lo is not None:
        start = torch.searchsorted(pos, lo[:, None], out_int32=True).squeeze(1)
        counts.sub_(start)
        first.add_(start)
    ends = torch.cumsum(counts, 0, dtype=dtype)
    total = int(ends[-1])
    jump = first.clone()  # from the flat index after the previous row's slice
    jump[1:] -= first[:-1] + counts[:-1]
    jump[0] -= 1
    step = torch.ones(total + 1, dtype=dtype, device=pos.device)
    step.index_add_(0, ends - counts, jump)  # empty slices' jumps add up
    index = torch.cumsum(step[:total], 0, dtype=dtype)
    return torch.index_select(pos.view(-1), 0, index, out=out[:total])


def _sink_outside(pos: torch.Tensor, lo: torch.Tensor | None, hi: torch.Tensor, sink: int
                  ) -> torch.Tensor:
    """``pos`` flat, with the elements outside ``lo <= pos < hi`` (per row) set to ``sink``."""
    outside = pos >= hi[:, None]
    if lo is not None:
        outside |= pos < lo[:, None]
    return pos.masked_fill_(outside, sink).view(-1)


Units = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""Units of element dropout: keys, first and end position (flat in the block), last
position drawn so far."""


def _draw(units: Units, done: int, count: int, inv_log_keep: float
          ) -> tuple[torch.Tensor, Units]:
    """Positions ``done .. done + count - 1`` of each unit's Bernoulli process, ``(U,
    count)`` ascending rows, and the units that need more (their last position drawn is
    before their end)."""
    keys, lo, hi, last = units
    gaps = _gaps(keys, done, count, inv_log_keep, last.dtype)
    gaps[:, 0] += last
    pos = torch.cumsum(gaps, dim=1, dtype=last.dtype)
    last = pos[:, -1]
    todo = (last < hi - 1).nonzero().squeeze(1)
    return pos, (keys[todo], lo[todo], hi[todo], last[todo])


def _positions(unit_keys: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, base: torch.Tensor,
               p: float, group: int, sink: int, ordered: bool = False) -> list[torch.Tensor]:
    """Dropped ``base + pos`` for unit positions ``lo <= pos < hi`` (``base``'s dtype), in pieces;
    candidates outside that range come out as ``sink`` (cheaper than compacting them away).

    Each unit gets ``first`` gaps (enough for most), in batches of ``group`` candidates;
    then the units whose last position is still inside, from every batch together, get
    ``more``, until none is left (a round is some fifty small tensor ops: the later ones
    run once, not once per batch).  With ``ordered`` the
    candidates outside are left out and there are two pieces: every unit's first draw
    (ascending: the units ascend, and so do the positions within a unit), written into one
    buffer as the batches go, and the rest, in no order.
    """
    if not len(unit_keys):
        return [base.new_empty(0)] * 2 if ordered else []
    inv_log_keep = 1.0 / math.log1p(-p)
    first, more = _round_sizes(p, int(hi.max()))
    check_lo = bool((lo > 0).any())
    lo, hi = lo + base, hi + base
    pieces: list[torch.Tensor] = []  # ordered: the draws after the first
    ascending = base.new_empty(len(unit_keys) * first if ordered else 0)
    filled = 0

    def inside(pos: torch.Tensor, units: Units, out: torch.Tensor | None = None
               ) -> torch.Tensor:
        lower = units[1] if check_lo else None
        if ordered:
            return _select_ranges(pos, lower, units[2], out)
        return _sink_outside(pos, lower, units[2], sink)

    per_group = max(1, group // first)
    open_units: list[Units] = []
    for start in range(0, len(unit_keys), per_group):
        part = slice(start, start + per_group)
        units = (unit_keys[part], lo[part], hi[part], base[part] - 1)
        pos, still = _draw(units, 0, first, inv_log_keep)
        if ordered:
            filled += len(inside(pos, units, ascending[filled:]))
        else:
            pieces.append(inside(pos, units))
        open_units.append(still)
    keys, lows, highs, lasts = (torch.cat(t) for t in zip(*open_units, strict=True))
    units, done = (keys, lows, highs, lasts), first
    while len(units[0]):
        pos, still = _draw(units, done, more, inv_log_keep)
        pieces.append(inside(pos, units))
        units, done = still, done + more
    if ordered:
        return [ascending[:filled], torch.cat(pieces) if pieces else base.new_empty(0)]
    return pieces


def zero_at(flat: torch.Tensor, dropped: torch.Tensor) -> None:
    """Zero the elements ``dropped`` (flat indices, int32 or int64) of the flat ``flat``
    in place (``scatter_``, which takes int64 only; ``index_fill_`` is a fifth slower)."""
    flat.scatter_(0, dropped.long(), 0.0)


def element_drops(keys: torch.Tensor, shape: tuple[int, int, int, int], origin: tuple[int, int],
                  p: float, ordered: bool = False) -> list[torch.Tensor]:
    """Dropped elements of a ``(N, H, W, C)`` block: row-major flat indices, in pieces that
    may also hold ``N H W C`` (one past the end: zero a spare element there); int32 where
    every candidate fits (:func:`index_dtype`; on the CPU the float64 conversion, cumsum
    and selection then take a sixth, a third and four fifths of their int64 time), else
    int64.

    ``N = samples * images`` (sample-major), ``keys`` one per sample; the block's element
    ``(n, y, x, c)`` is element ``(oy + y, ox + x, c)`` of its image (``origin = (oy, ox)``).
    ``ordered``: the same elements in two pieces without the spare index, the first
    ascending (what a sparse row-compressed matrix needs; about 99 % of them for ``p C
    BLOCK`` in the hundreds), the second in no order.
    """
    n, h, w, c = shape
    device = keys.device
    if p >= 1:
        every = torch.arange(n * h * w * c, device=device)
        return [every, every[:0]] if ordered else [every]
    samples = len(keys)
    images = n // samples
    dtype = index_dtype(n * h * w * c, p, BLOCK * c)
    oy, ox = origin
    cols = torch.arange(ox // BLOCK, (ox + w - 1) // BLOCK + 1, device=device)
    unit = combine(keys[:, None], torch.arange(images, device=device))  # (samples, images)
    unit = combine(unit[..., None], torch.arange(oy, oy + h, device=device))
    unit = combine(unit[..., None], cols).reshape(-1)
    left = cols * BLOCK - ox  # block start in the tile's columns
    lo = ((-left).clamp(min=0) * c).to(dtype)
    hi = ((w - left).clamp(max=BLOCK) * c).to(dtype)
    rows = torch.arange(n * h, device=device)[:, None] * (w * c)
    base = (rows + left * c).reshape(-1).to(dtype)
    count = n * h
    group = GROUP if device.type == "cpu" else 1 << 62
    return _positions(unit, lo.repeat(count), hi.repeat(count), base, p, group, n * h * w * c,
                      ordered)
