"""Time per image of ``sruq upscale`` on a folder of 10 images in one call (the model
loaded once) against 10 separate calls, one per image (Python, torch and the model
started ten times): prints both and their ratio (asserts nothing).

The images are crops of scikit-image's builtin photos; the model is an untrained ESRCNN
x2 with dropout (the weights' values do not change the time), MC dropout with
``--samples`` passes, on the CPU, one thread by default.  Each variant runs ``--repeat``
times, interleaved, and the fastest run counts.

Run:  .venv/bin/python benchmarks/bench_upscale_folder.py  [--images 10] [--size 96]
      [--samples 8] [--repeat 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from sruq.models import build_model
from sruq.models.checkpoint import save_weights

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "cat", "immunohistochemistry",
          "retina", "hubble_deep_field", "page")


def make_images(folder: Path, count: int, size: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        name = PHOTOS[i % len(PHOTOS)]
        image = np.asarray(getattr(data, name)())
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        top = (i * 17) % max(1, image.shape[0] - size)
        crop = np.ascontiguousarray(image[top:top + size, :size, :3])
        path = folder / f"{i:02d}-{name}.png"
        Image.fromarray(crop.astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def sruq(*args: str, threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sruq.cli", "upscale", *args, "--quiet"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--size", type=int, default=96, help="LR side in pixels")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-upscale-"))
    try:
        images = make_images(work / "photos", args.images, args.size)
        weights = work / "weights.pt"
        save_weights(weights, build_model("esrcnn", 2, dropout=0.04), "esrcnn", 0, None)
        common = ["--weights", str(weights), "--samples", str(args.samples), "--device", "cpu"]
        folder_times, separate_times = [], []
        for run in range(args.repeat):
            out = work / f"folder-{run}"
            folder_times.append(sruq(str(work / "photos"), *common, "--out", str(out),
                                     threads=args.threads))
            separate_times.append(sum(
                sruq(str(path), *common, "--out", str(work / f"separate-{run}" / path.stem),
                     threads=args.threads) for path in images))
        folder, separate = min(folder_times), min(separate_times)
        n = len(images)
        print(f"{n} images of {args.size}x{args.size} LR px, ESRCNN x2, MC dropout T="
              f"{args.samples}, CPU, {args.threads} thread(s), best of {args.repeat}")
        print(f"one call on the folder:  {folder:6.2f} s  ({folder / n:.3f} s per image)")
        print(f"{n} separate calls:       {separate:6.2f} s  ({separate / n:.3f} s per image)")
        print(f"separate / folder:       {separate / folder:6.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
