"""Speed of the degradation code (prints numbers; asserts nothing).

(a) MATLAB bicubic x4 downscale of a 1356x2040 RGB image (DIV2K size): the
    vectorised ``matlab_downscale_uint8`` against a plain per-pixel loop
    implementation of the same MATLAB algorithm written here.  The loop is
    timed on the first ``--loop-rows`` output rows and extrapolated linearly
    (every output row costs the same); its rows are checked against the
    vectorised output.
(b) Real-ESRGAN second-order pipeline throughput on 256x256 RGB HR images, x4,
    on CPU, next to the plain ``bicubic`` preset.

Run:  .venv/bin/python benchmarks/bench_degrade.py
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from sruq.degrade import PRESETS, degrade_uint8, matlab_downscale_uint8


def _cubic(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


def _contributions(in_len: int, out_len: int, scale: float) -> list[list[tuple[int, float]]]:
    """MATLAB's ``contributions`` for the antialiased cubic kernel, one output at a time."""
    width = 4.0 / scale if scale < 1 else 4.0
    taps = int(math.ceil(width)) + 2
    result = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        pairs = []
        for j in range(taps):
            index = left + j
            arg = scale * (u - index) if scale < 1 else u - index
            weight = scale * _cubic(arg) if scale < 1 else _cubic(arg)
            pairs.append((min(max(index, 1), in_len) - 1, weight))  # replicate border
        total = sum(w for _, w in pairs)
        result.append([(i, w / total) for i, w in pairs if w != 0.0])
    return result


def _round_clip(value: float) -> int:
    return min(255, max(0, math.floor(value + 0.5)))


def loop_downscale(hr: np.ndarray, scale: int, rows: int) -> np.ndarray:
    """The first ``rows`` output rows of MATLAB uint8 bicubic downscaling, pixel by pixel."""
    height, width, channels = hr.shape
    out_h, out_w = math.ceil(height / scale), math.ceil(width / scale)
    vertical = _contributions(height, out_h, 1 / scale)
    horizontal = _contributions(width, out_w, 1 / scale)
    image = hr.tolist()
    out = np.zeros((rows, out_w, channels), dtype=np.uint8)
    for r in range(rows):
        # first pass (vertical), rounded to 8 bits as MATLAB does for uint8 images
        mid = [[_round_clip(sum(w * image[i][col][c] for i, w in vertical[r]))
                for c in range(channels)] for col in range(width)]
        for col in range(out_w):
            for c in range(channels):
                out[r, col, c] = _round_clip(sum(w * mid[i][c] for i, w in horizontal[col]))
    return out


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic (H, W, 3) uint8 test image with smooth and fine structure."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = 128 + 80 * np.sin(xx / 37.0)[..., None] * np.cos(yy / 23.0)[..., None]
    return np.clip(base + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)


def best_time(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_matlab(loop_rows: int) -> None:
    hr = synthetic_image(1356, 2040)
    scale = 4
    fast = matlab_downscale_uint8(hr, scale)
    t_fast = best_time(lambda: matlab_downscale_uint8(hr, scale), repeats=5)
    start = time.perf_counter()
    slow = loop_downscale(hr, scale, loop_rows)
    t_loop_rows = time.perf_counter() - start
    t_loop = t_loop_rows * fast.shape[0] / loop_rows
    diff = np.abs(slow.astype(int) - fast[:loop_rows].astype(int))
    print("(a) MATLAB bicubic x4, 1356x2040x3 uint8 -> "
          f"{fast.shape[0]}x{fast.shape[1]}x3, torch threads={torch.get_num_threads()}")
    print(f"    vectorised imresize : {t_fast * 1e3:9.1f} ms (best of 5)")
    print(f"    per-pixel loop      : {t_loop:9.1f} s  (extrapolated linearly from "
          f"{loop_rows} of {fast.shape[0]} output rows, which took {t_loop_rows:.2f} s)")
    print(f"    speed ratio         : {t_loop / t_fast:9.0f} x")
    print(f"    loop vs vectorised on those rows: max abs diff {diff.max()}, "
          f"{int((diff > 0).sum())} of {diff.size} values differ")


def bench_pipeline(images: int) -> None:
    hrs = [synthetic_image(256, 256, seed) for seed in range(images)]
    print(f"(b) degradation throughput, {images} HR images 256x256x3 -> 64x64 (x4), CPU, "
          f"torch threads={torch.get_num_threads()}")
    for name in ("realesrgan", "bicubic"):
        degrade_uint8(hrs[0], PRESETS[name], 4, np.random.default_rng(0))  # warm-up
        start = time.perf_counter()
        for seed, hr in enumerate(hrs):
            degrade_uint8(hr, PRESETS[name], 4, np.random.default_rng(seed))
        elapsed = time.perf_counter() - start
        print(f"    {name:<10}: {images / elapsed:8.1f} images/s ({elapsed / images * 1e3:.1f} "
              "ms per image)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-rows", type=int, default=8,
                        help="output rows of the per-pixel loop to time (default 8)")
    parser.add_argument("--images", type=int, default=100,
                        help="images for the pipeline throughput (default 100)")
    args = parser.parse_args()
    bench_matlab(args.loop_rows)
    bench_pipeline(args.images)


if __name__ == "__main__":
    main()
