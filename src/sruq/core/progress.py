"""Progress of long work: a tqdm bar on a terminal, plain log lines anywhere else.

Rule logs are files, where tqdm's carriage-return redraws pile up into hundreds of KB of
``train srcnn x2: 3%|...`` per training. :func:`progress_bar` gives a tqdm bar when its stream
is a terminal and otherwise a :class:`LineProgress`, which writes one readable line every
``every`` percent (and at the end): count, percentage, the latest postfix (loss,
validation PSNR...), elapsed time and the estimated time left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

EVERY_PERCENT = 5


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class LineProgress:
    """The part of tqdm's interface sruq uses, as plain lines (see the module docs)."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: float | None = None,
                 initial: float = 0, desc: str = "", unit: str = "it", disable: bool = False,
                 file: IO[str] | None = None, every: float = EVERY_PERCENT,
                 **_: Any) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.disable, self.file, self.every = disable, file, every
        self.postfix = ""
        self._start_n, self._start = initial, time.perf_counter()
        self._next = self._step_after(initial)
        self._closed = False
        self._written: float | None = None

    def _step_after(self, n: float) -> float:
        if not self.total:
            return float("inf")
        step = self.total * self.every / 100
        return (int(n // step) + 1) * step

    def _write(self) -> None:
        if self.disable:
            return
        elapsed = time.perf_counter() - self._start
        done = f"{self.n:g}/{self.total:g} {self.unit}" if self.total else f"{self.n:g} {self.unit}"
        percent = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        eta = ""
        if self.total and rate > 0:
            eta = f", eta {_clock((self.total - self.n) / rate)}"
        postfix = f" {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {done}{percent}{postfix}, elapsed {_clock(elapsed)}{eta}",
              file=self.file or sys.stderr, flush=True)
        self._written = self.n

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.n >= self._next:
            self._next = self._step_after(self.n)
            self._write()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = " ".join(f"{k}={v}" for k, v in values.items() if v != "")

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._written != self.n:
                self._write()  # the end, unless its line was just written

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()


def progress_bar(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """A tqdm bar when ``kwargs['file']`` (default stderr) is a terminal, else a
    :class:`LineProgress` with the same arguments."""
    stream = kwargs.get("file") or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm import tqdm

        return tqdm(iterable, **kwargs)
    return LineProgress(iterable, **kwargs)
