"""The ``sruq`` command line: super-resolve any image with uncertainty you can see.

Example::

    sruq upscale photo.png --weights results/models/builtin-train/bicubic/x2/esrcnn/weights.pt
    sruq upscale photo.png --model esrcnn --scale 2 --samples 40 --out out/
    sruq upscale photo.png --model bicubic --scale 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sruq import __version__

DESCRIPTION = """\
sruq: single-image super-resolution with Monte-Carlo (MC) dropout uncertainty.

Commands:
  upscale   super-resolve one image and write the prediction, the MC mean, the
            per-pixel std (float .npy), a heatmap on a fixed colour scale, its
            colour bar, and the most/least certain patches.
"""

UPSCALE_HELP = """\
Super-resolve IMAGE (treated as the low-resolution input) and write into --out:
  lr_input.png     the LR input used (centre-cropped to a multiple of 64 in --mode patch)
  one_pass.png     one deterministic pass (dropout off)
  mc_mean.png      mean of the MC samples (dropout on; BatchNorm uses running statistics)
  std.npy          per-pixel std of the samples, float32 (H, W, C), lossless
  heatmap.png      the std on a fixed scale (--vmin..--vmax; cool = certain, warm = uncertain)
  colorbar.png     the colour bar of that scale
  details/most_certain/, details/least_certain/
                   original_lr_patch_i.png, mean_pred_patch_i.png, heatmap_i.png
Greyscale, palette, RGBA (alpha dropped), 16-bit (rounded to 8 bits) and EXIF-rotated
images are converted; unreadable files stop with a one-line error.
"""


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _find_weights(name: str, scale: int | None, results: Path) -> Path:
    pattern = f"*/*/x{scale}/{name}/weights.pt" if scale else f"*/*/x*/{name}/weights.pt"
    found = sorted((results / "models").glob(pattern))
    if not found:
        raise CLIError(
            f"--model {name!r}: no trained weights under {results / 'models'} "
            f"(train it with the workflow, or give --weights FILE)"
        )
    if len(found) > 1:
        listing = ", ".join(str(p) for p in found)
        raise CLIError(f"--model {name!r} is ambiguous ({listing}); give --scale or --weights")
    return found[0]


def _load_model(args: argparse.Namespace):
    from sruq.checkpoint import load_trained
    from sruq.models import MODELS, build_model

    if args.weights is not None:
        if not args.weights.is_file():
            raise CLIError(f"--weights {args.weights}: no such file")
        try:
            model = load_trained(args.weights)
        except (ValueError, RuntimeError, OSError) as err:
            raise CLIError(f"--weights {args.weights}: {err}") from None
    elif args.model in MODELS and not MODELS[args.model].trainable:
        if args.scale is None:
            raise CLIError(f"--model {args.model!r} needs --scale")
        model = build_model(args.model, args.scale)
    else:
        model = load_trained(_find_weights(args.model, args.scale, args.results))
    if args.scale is not None and model.scale != args.scale:
        raise CLIError(f"the model upscales x{model.scale}, not x{args.scale} (--scale)")
    return model


def upscale(args: argparse.Namespace) -> Path:
    """The ``upscale`` command; returns the output folder."""
    from tqdm import tqdm

    from sruq.inference import pick_device
    from sruq.io import ImageReadError, read_image
    from sruq.predict import MCSettings, mc_image, write_image_outputs

    try:
        lr = read_image(args.image)
    except ImageReadError as err:
        raise CLIError(str(err)) from None
    if args.mode == "patch" and min(lr.shape[:2]) < 64:
        raise CLIError(f"{args.image}: {lr.shape[0]}x{lr.shape[1]} pixels is smaller than one "
                       f"64x64 patch; use --mode tiled")
    try:
        settings = MCSettings(samples=args.samples, mode=args.mode, vmin=args.vmin,
                              vmax=args.vmax, cmap=args.cmap, style=args.style,
                              details=args.details)
    except ValueError as err:
        raise CLIError(str(err)) from None
    out = args.out or Path("sruq-out") / args.image.stem
    with tqdm(total=3, desc=f"sruq upscale {args.image.name}", unit="step",
              disable=args.quiet) as bar:
        bar.set_postfix_str("loading model")
        model = _load_model(args)
        bar.update()
        bar.set_postfix_str(f"{settings.samples if model.has_dropout else 1} passes")
        device = pick_device(args.device)
        result, box = mc_image(model, lr, settings, args.seed, device)
        bar.update()
        bar.set_postfix_str(f"writing {out}")
        write_image_outputs(out, lr, result, box, model.scale, settings)
        bar.update()
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    up.add_argument("--samples", type=int, default=40, help="MC samples T (default 40)")
    up.add_argument("--mode", choices=("tiled", "patch", "whole"), default="tiled",
                    help="tiled: any size, blended tiles (default); patch: the ESRCNN seed's "
                         "64x64 patches of the centre crop; whole: one pass")
    up.add_argument("--out", type=Path, metavar="DIR",
                    help="output folder (default sruq-out/<image name>)")
    up.add_argument("--results", type=Path, default=Path("results"),
                    help="workflow results folder searched by --model (default results)")
    up.add_argument("--seed", type=int, default=0, help="seed of the dropout masks")
    up.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda...")
    up.add_argument("--vmin", type=float, default=0.0, help="heatmap scale minimum (std)")
    up.add_argument("--vmax", type=float, default=0.1, help="heatmap scale maximum (std)")
    up.add_argument("--cmap", default="cool", help="matplotlib colormap (default cool)")
    up.add_argument("--style", choices=("cmap", "hsv"), default="cmap",
                    help="cmap, or the SRResBNN seed's HSV heatmap")
    up.add_argument("--details", type=int, default=5,
                    help="patches in details/most_certain and least_certain")
    up.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out = upscale(args)
    except CLIError as err:
        print(f"sruq: error: {err}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
