"""The ``sruq evaluate`` command: PSNR/SSIM of a folder of SR images against its HR folder
with exactly the workflow's protocol and checks (:func:`sruq.evaluation.folders.evaluate_folder`),
e.g. for SR images another repository made::

    sruq evaluate results/sr/builtin-test/bicubic/x2/bicubic results/data/builtin-test/hr --scale 2
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sruq.core.errors import CLIError

EVALUATE_HELP = """\
Score the SR images of SR_DIR against the HR images of HR_DIR as the workflow's metrics
rule does: PSNR and SSIM on the Y channel (BT.601 as MATLAB rgb2ycbcr; greyscale images
on their own channel; --channel rgb: the three channels) with --crop border pixels
removed (default: the scale), the HR images mod-cropped to multiples of --scale.

SR_DIR holds exactly one image per HR image, matched by stem (any format sruq reads:
.png, .jpg, .bmp, .tif...; an RGB image of a greyscale HR image becomes grey by its
channel mean), each the size of its mod-cropped HR image (scale x the LR size). A
missing or extra image, a file that is not an image or a wrong size stops with one line
naming the file (exit status 2).

Prints one row per image and the mean (PSNR to 2 decimals, SSIM to 4, as the tables),
writes the rows (image, psnr, ssim; 6 decimals, as the workflow's CSVs) to --csv
(default SR_DIR.csv, beside the folder) and prints that path last.
"""


def add_parser(commands: Any) -> None:
    """The ``evaluate`` subcommand on the ``sruq`` command's subparsers."""
    ev = commands.add_parser("evaluate", help="score a folder of SR images against HR images",
                             description=EVALUATE_HELP,
                             formatter_class=argparse.RawTextHelpFormatter)
    ev.add_argument("sr_dir", type=Path, metavar="SR_DIR", help="the folder of SR images")
    ev.add_argument("hr_dir", type=Path, metavar="HR_DIR", help="the folder of HR images")
    ev.add_argument("--scale", type=int, required=True,
                    help="the upscaling factor (HR images are mod-cropped to it)")
    ev.add_argument("--crop", type=int, metavar="N",
                    help="border pixels removed before measuring (default: --scale)")
    ev.add_argument("--channel", choices=("y", "rgb"), default="y",
                    help="y: BT.601 luma, the literature's protocol (default); rgb: mean over "
                         "the three channels")
    ev.add_argument("--csv", type=Path, metavar="OUT.csv",
                    help="where the per-image rows go (default SR_DIR.csv beside SR_DIR)")
    ev.add_argument("--debug", action="store_true",
                    help="on an unexpected error, print the full traceback")


def _folder(path: Path, name: str) -> Path:
    if not path.exists():
        raise CLIError(f"{name} {path}: no such folder")
    if not path.is_dir():
        raise CLIError(f"{name} {path}: not a folder")
    return path


def _inside(path: Path, folder: Path) -> bool:
    return folder.resolve() in path.resolve().parents


def default_csv(sr_dir: Path) -> Path:
    """``SR_DIR.csv`` beside the folder (never inside it, where it would be scored next)."""
    folder = sr_dir if sr_dir.name not in ("", ".", "..") else sr_dir.resolve()
    return folder.with_name(f"{folder.name}.csv")


def _check_csv(csv: Path, sr_dir: Path, hr_dir: Path) -> None:
    """``--csv`` is a file (or not there yet) outside both input folders, in a place sruq
    can write to."""
    if csv.is_dir():
        raise CLIError(f"--csv {csv}: is a folder")
    for name, folder in (("SR_DIR", sr_dir), ("HR_DIR", hr_dir)):
        if _inside(csv, folder):
            raise CLIError(f"--csv {csv}: inside {name} {folder}; write the scores elsewhere "
                           "(the input folders stay as they are)")
    from sruq.core.io import unwritable_ancestor

    blocked = unwritable_ancestor(csv)
    if blocked is not None:
        raise CLIError(f"--csv {csv}: cannot write in {blocked}")


def _table(frame: Any) -> str:
    """The rows and their mean as aligned text, with the tables' decimals."""
    from sruq.report.tables import METRICS

    columns = [("psnr", METRICS["psnr"]), ("ssim", METRICS["ssim"])]
    rows = [[str(name), *(f"{value:.{m.decimals}f}" for value, (_, m) in zip(values, columns))]
            for name, *values in frame[["image", "psnr", "ssim"]].itertuples(index=False)]
    rows.append(["mean", *(f"{frame[c].mean():.{m.decimals}f}" for c, m in columns)])
    header = ["image", *(m.label for _, m in columns)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join([r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:], widths[1:]))])
        for r in [header, *rows])


def evaluate(args: argparse.Namespace) -> Path:
    """The ``evaluate`` command: prints the per-image table and its mean, writes the CSV
    (atomically, after every image is scored) and returns its path."""
    if args.scale < 1:
        raise CLIError(f"--scale must be a positive integer, got {args.scale}")
    if args.crop is not None and args.crop < 0:
        raise CLIError(f"--crop must be 0 or more border pixels, got {args.crop}")
    sr_dir = _folder(args.sr_dir, "SR_DIR")
    hr_dir = _folder(args.hr_dir, "HR_DIR")
    if sr_dir.resolve() == hr_dir.resolve():
        raise CLIError(f"SR_DIR and HR_DIR are the same folder ({sr_dir}): scoring images "
                       "against themselves says nothing; give the SR images' folder first")
    csv = args.csv if args.csv is not None else default_csv(sr_dir)
    _check_csv(csv, sr_dir, hr_dir)

    from sruq.core.io import IMAGE_SUFFIXES, list_images, write_csv
    from sruq.evaluation.folders import evaluate_folder
    from sruq.evaluation.metrics import border

    if not list_images(hr_dir):
        raise CLIError(f"HR_DIR {hr_dir}: no image files (looked for "
                       f"{', '.join(IMAGE_SUFFIXES)})")
    try:  # a folder mismatch, an unreadable image, a crop too large for the images
        frame = evaluate_folder(sr_dir, hr_dir, args.scale, dataset="", degradation="",
                                method="", channel=args.channel, crop=args.crop)
    except ValueError as err:
        raise CLIError(str(err)) from None
    crop = border(args.crop, args.scale)
    channel = "Y (greyscale: its channel)" if args.channel == "y" else "RGB"
    print(f"{sr_dir} against {hr_dir}: x{args.scale}, {channel}, {crop} border pixels cropped")
    print(_table(frame))
    try:
        write_csv(frame[["image", "psnr", "ssim"]], csv)
    except OSError as err:
        raise CLIError(f"--csv {csv}: {err.strerror or err}") from None
    return csv
