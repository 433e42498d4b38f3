"""The ``sruq`` command line: super-resolve any image with uncertainty you can see.

Example::

    sruq upscale photo.png --weights results/models/builtin-train/bicubic/x2/esrcnn/weights.pt
    sruq upscale photo.png --model esrcnn --scale 2 --samples 40 --out out/
    sruq upscale photo.png --model bicubic --scale 4
    sruq evaluate results/sr/builtin-test/bicubic/x2/bicubic results/data/builtin-test/hr --scale 2
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path

from sruq import __version__, layout
from sruq.errors import CLIError

DESCRIPTION = """\
sruq: single-image super-resolution with Monte-Carlo (MC) dropout uncertainty.

Commands:
  upscale   super-resolve one image and write the prediction, the MC mean, the
            per-pixel std (float .npy), a heatmap on a fixed colour scale, its
            colour bar, and the most/least certain patches.
  evaluate  score a folder of SR images (say, another repository's) against its HR
            images with the workflow's protocol: per-image PSNR/SSIM, the mean, a CSV.
"""

UPSCALE_HELP = """\
Super-resolve IMAGE (treated as the low-resolution input) and write into --out:
  lr_input.png     the LR input used (centre-cropped to a multiple of 64 in --mode patch)
  one_pass.png     one deterministic pass (dropout off)
  mc_mean.png      mean of the MC samples (dropout on; BatchNorm uses running statistics)
  std.npy          per-pixel std of the samples, float32 (H, W, C), lossless
  heatmap.png      the std (times the workflow's sigma-scaling factor of --model) on a
                   fixed log scale (--vmin..--vmax; dark = certain, bright = uncertain)
  colorbar.png     the colour bar of that scale
  details/most_certain/, details/least_certain/
                   original_lr_patch_i.png, mean_pred_patch_i.png, heatmap_i.png
Greyscale, palette, RGBA (alpha dropped), 16-bit (rounded to 8 bits) and EXIF-rotated
images are converted; unreadable files stop with a one-line error.
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors (a bad option value, a missing argument) as one line, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"sruq: error: {message} (see {self.prog} --help)\n")


def _candidates(name: str, scale: int | None, degradation: str | None,
                results: Path) -> list[Path]:
    """Weight files (:data:`sruq.layout.WEIGHTS`) of workflow model ``name`` in the results
    folder ``results`` matching the filters (``None``: any)."""
    return layout.glob(layout.WEIGHTS, results, model=name, scale=scale, degradation=degradation)


def _weights_wildcards(weights: Path, results: Path) -> dict[str, str]:
    """Training set (``dataset``), degradation, scale and model of a found weight file."""
    return layout.parse(layout.rooted(layout.WEIGHTS, results), weights)


def _describe(path: Path, results: Path) -> str:
    """``--scale S --degradation D`` (and the training set) of a workflow weight file."""
    w = _weights_wildcards(path, results)
    return (f"--scale {w['scale']} --degradation {w['degradation']} "
            f"(trained on {w['dataset']}: {path})")


def _find_weights(name: str, scale: int | None, degradation: str | None,
                  results: Path) -> Path:
    found = _candidates(name, scale, degradation, results)
    if not found:
        others = _candidates(name, None, None, results)
        if others:
            listing = "; ".join(_describe(p, results) for p in others)
            raise CLIError(f"--model {name!r}: no trained weights for the given --scale/"
                           f"--degradation; trained: {listing}")
        raise CLIError(
            f"--model {name!r}: no trained weights under "
            f"{layout.base_dir(layout.rooted(layout.WEIGHTS, results))} "
            f"(train it with the workflow, or give --weights FILE)"
        )
    if len(found) > 1:
        listing = "; ".join(_describe(p, results) for p in found)
        raise CLIError(f"--model {name!r} matches {len(found)} trained models, pick one with "
                       f"--scale/--degradation (or give --weights FILE): {listing}")
    return found[0]


def _calibration_of(weights: Path, results: Path) -> Path | None:
    """The workflow's sigma-scaling file of a weight file found under ``results``."""
    w = _weights_wildcards(weights, results)
    path = Path(layout.fill(layout.rooted(layout.CALIBRATION, results), method=w["model"],
                            degradation=w["degradation"], scale=w["scale"]))
    return path if path.is_file() else None


def _load_model(args: argparse.Namespace):
    """The model, and the sigma-scaling file the workflow fitted for it (if any)."""
    from sruq.checkpoint import load_trained
    from sruq.models import MODELS, build_model

    calibration = None
    if args.weights is not None:
        if not args.weights.is_file():
            raise CLIError(f"--weights {args.weights}: no such file")
        try:
            model = load_trained(args.weights)
        except (ValueError, RuntimeError, OSError) as err:
            raise CLIError(f"--weights {err}") from None  # the message starts with the path
    elif args.model in MODELS and not MODELS[args.model].trainable:
        if args.scale is None:
            raise CLIError(f"--model {args.model!r} needs --scale")
        model = build_model(args.model, args.scale)
    else:
        weights = _find_weights(args.model, args.scale, args.degradation, args.results)
        try:
            model = load_trained(weights)
        except (ValueError, RuntimeError, OSError) as err:
            raise CLIError(f"--model {args.model}: {err}") from None
        calibration = _calibration_of(weights, args.results)
    if args.scale is not None and model.scale != args.scale:
        raise CLIError(f"the model upscales x{model.scale}, not x{args.scale} (--scale)")
    return model, calibration


# Option names of MCSettings fields, so a settings error names the option the user typed.
OPTION_OF = {"samples": "--samples", "mode": "--mode", "vmin": "--vmin", "vmax": "--vmax",
             "cmap": "--cmap", "style": "--style", "norm": "--norm", "details": "--details"}


def _settings(args: argparse.Namespace):
    from sruq.uncertainty.settings import MCSettings

    try:
        return MCSettings(samples=args.samples, mode=args.mode, vmin=args.vmin,
                          vmax=args.vmax, cmap=args.cmap, style=args.style,
                          norm=args.norm, details=args.details)
    except ValueError as err:
        option = OPTION_OF.get(str(err).split()[0])
        if option is None and "log scale" in str(err):  # "a log scale needs vmin > 0"
            option = "--vmin"
        raise CLIError(f"{option}: {err}" if option else str(err)) from None


def _check_out(out: Path) -> None:
    """``--out`` must be a folder (or not exist yet) in a place sruq can write to."""
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: exists and is not a folder")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise CLIError(f"--out {out}: cannot write in {ancestor}")


def upscale(args: argparse.Namespace) -> Path:
    """The ``upscale`` command; returns the output folder.

    Every option, the output location, the image and the model are checked before any
    computation; the outputs are written into a temporary folder beside ``--out`` and
    moved into place at the end (:func:`sruq.uncertainty.outputs.output_folder`), so a failed or
    interrupted call leaves ``--out`` as it was.
    """

    from sruq.io import ImageReadError, read_image
    from sruq.predict import check_finite, mc_image, pick_device
    from sruq.progress import progress_bar
    from sruq.uncertainty.outputs import output_folder, write_image_outputs

    settings = _settings(args)
    if args.sigma_scale is not None and not args.sigma_scale > 0:
        raise CLIError(f"--sigma-scale must be positive, got {args.sigma_scale}")
    out = args.out or Path("sruq-out") / args.image.stem
    _check_out(out)
    try:
        lr = read_image(args.image)
    except ImageReadError as err:
        raise CLIError(str(err)) from None
    if args.mode == "patch" and min(lr.shape[:2]) < 64:
        raise CLIError(f"{args.image}: {lr.shape[0]}x{lr.shape[1]} pixels is smaller than one "
                       f"64x64 patch; use --mode tiled")
    model, calibration = _load_model(args)
    sigma_scale = args.sigma_scale
    if sigma_scale is None:
        from sruq.uncertainty.files import read_sigma_scale

        sigma_scale = read_sigma_scale(calibration)
    with progress_bar(total=2, desc=f"sruq upscale {args.image.name}", unit="step",
                      disable=args.quiet) as bar:
        bar.set_postfix_str(f"{settings.samples if model.has_dropout else 1} passes")
        device = pick_device(args.device)
        result, box = mc_image(model, lr, settings, args.seed, device)
        try:
            check_finite(result, f"{args.image} through {args.weights or args.model}")
        except ValueError as err:
            raise CLIError(str(err)) from None
        bar.update()
        bar.set_postfix_str(f"writing {out}")
        try:
            with output_folder(out) as tmp:
                write_image_outputs(tmp, lr, result, box, model.scale, settings,
                                    sigma_scale=sigma_scale)
        except OSError as err:
            raise CLIError(f"--out {out}: {err.strerror or err}") from None
        bar.update()
    return out


def build_parser() -> argparse.ArgumentParser:
    from sruq.uncertainty.settings import MCSettings

    defaults = MCSettings()
    parser = _Parser(
        prog="sruq", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--version", action="version", version=f"sruq {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("upscale", help="super-resolve one image with uncertainty",
                             description=UPSCALE_HELP,
                             formatter_class=argparse.RawTextHelpFormatter)
    up.add_argument("image", type=Path, metavar="IMAGE", help="the low-resolution image")
    which = up.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="NAME",
                       help="an interpolation baseline (bicubic, lanczos...: needs --scale) "
                            "or a model trained by the workflow (found under --results)")
    which.add_argument("--weights", type=Path, metavar="FILE",
                       help="a weights.pt written by training")
    up.add_argument("--scale", type=int, choices=(2, 3, 4, 8), help="upscaling factor")
    up.add_argument("--degradation", metavar="NAME",
                    help="with --model: the degradation preset the model was trained on "
                         "(when the workflow trained it on several)")
    up.add_argument("--samples", type=int, default=defaults.samples,
                    help=f"MC samples T (default {defaults.samples})")
    up.add_argument("--mode", choices=("tiled", "patch", "whole"), default="tiled",
                    help="tiled: any size, blended tiles (default); patch: the ESRCNN seed's "
                         "64x64 patches of the centre crop; whole: one pass")
    up.add_argument("--out", type=Path, metavar="DIR",
                    help="output folder (default sruq-out/<image name>)")
    up.add_argument("--results", type=Path, default=Path(layout.ROOT),
                    help=f"workflow results folder searched by --model (default {layout.ROOT})")
    up.add_argument("--seed", type=int, default=0, help="seed of the dropout masks")
    up.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda...")
    up.add_argument("--vmin", type=float, default=defaults.vmin,
                    help=f"heatmap scale minimum (std, default {defaults.vmin})")
    up.add_argument("--vmax", type=float, default=defaults.vmax,
                    help=f"heatmap scale maximum (std, default {defaults.vmax})")
    up.add_argument("--norm", choices=("log", "linear"), default=defaults.norm,
                    help=f"heatmap scale (default {defaults.norm}; the ESRCNN seed's: "
                         "--norm linear --vmin 0 --vmax 0.1 --cmap cool)")
    up.add_argument("--cmap", default=defaults.cmap,
                    help=f"matplotlib colormap (default {defaults.cmap})")
    up.add_argument("--style", choices=("cmap", "hsv"), default="cmap",
                    help="cmap, or the SRResBNN seed's HSV heatmap")
    up.add_argument("--sigma-scale", type=float, metavar="S",
                    help="draw the heatmap of S x std (default: the factor the workflow "
                         "fitted on its validation images for --model, else 1)")
    up.add_argument("--details", type=int, default=defaults.details,
                    help="patches in details/most_certain and least_certain")
    up.add_argument("--quiet", action="store_true", help="no progress bar")
    up.add_argument("--debug", action="store_true",
                    help="on an unexpected error, print the full traceback")
    from sruq.cli_evaluate import add_parser

    add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; expected failures are one line ``sruq: error: ...`` (exit
    status 2), an unexpected one also one line, with the traceback written to a file
    (``--debug`` shows it instead)."""
    from sruq.cli_evaluate import evaluate

    args = build_parser().parse_args(argv)
    command, untouched = {"upscale": (upscale, "--out"),
                          "evaluate": (evaluate, "--csv")}[args.command]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: temp folders go
    try:
        out = command(args)
    except CLIError as err:
        print(f"sruq: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sruq: interrupted; {untouched} was left as it was", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - reported in one line, traceback to a file
        if args.debug:
            raise
        with tempfile.NamedTemporaryFile("w", prefix="sruq-traceback-", suffix=".txt",
                                         delete=False) as fh:
            traceback.print_exc(file=fh)
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"sruq: error: unexpected {type(err).__name__}: {first} (traceback in "
              f"{fh.name}; --debug prints it)", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
