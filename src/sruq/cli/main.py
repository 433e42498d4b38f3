"""The ``sruq`` command line: super-resolve any image with uncertainty you can see.

Example::

    sruq upscale photo.png --weights results/models/builtin-train/bicubic/x2/esrcnn/weights.pt
    sruq upscale photo.png --model esrcnn --scale 2 --samples 40 --out out/
    sruq upscale photo.png --model bicubic --scale 4
    sruq upscale photos/ --model esrcnn+x8 --out sr-photos/
    sruq evaluate results/sr/builtin-test/bicubic/x2/bicubic results/data/builtin-test/hr --scale 2
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import traceback

from sruq import __version__
from sruq.core.errors import CLIError

DESCRIPTION = """\
sruq: single-image super-resolution with Monte-Carlo (MC) dropout uncertainty.

Commands:
  upscale   super-resolve an image, or folders of them, and write the prediction,
            the mean, the per-pixel std (float .npy) of an uncertainty source (MC
            dropout, x8, TTA, MC-BatchNorm, a deep ensemble), a heatmap on a fixed
            colour scale, its colour bar, and the most/least certain patches.
  evaluate  score a folder of SR images (say, another repository's) against its HR
            images with the workflow's protocol: per-image PSNR/SSIM, the mean, a CSV.
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors (a bad option value, a missing argument) as one line, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"sruq: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from sruq.cli.evaluate import add_parser as add_evaluate
    from sruq.cli.upscale import add_parser as add_upscale

    parser = _Parser(
        prog="sruq", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--version", action="version", version=f"sruq {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_upscale(commands)
    add_evaluate(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; expected failures are one line ``sruq: error: ...`` (exit
    status 2), an unexpected one also one line, with the traceback written to a file
    (``--debug`` shows it instead)."""
    from sruq.cli.evaluate import evaluate
    from sruq.cli.upscale import SomeFailed, upscale

    args = build_parser().parse_args(argv)
    command, untouched = {"upscale": (upscale, "--out"),
                          "evaluate": (evaluate, "--csv")}[args.command]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: temp folders go
    try:
        out = command(args)
    except CLIError as err:
        print(f"sruq: error: {err}", file=sys.stderr)
        return 2
    except SomeFailed as failed:
        for line in failed.lines:
            print(f"sruq: failed: {line}", file=sys.stderr)
        print(f"sruq: {len(failed.lines)} image(s) failed; the others are in {failed.out}",
              file=sys.stderr)
        print(failed.out)
        return 1
    except KeyboardInterrupt:
        print(f"sruq: interrupted; nothing half-written in {untouched} (an image in progress "
              "was not written)" if args.command == "upscale" else
              f"sruq: interrupted; {untouched} was left as it was", file=sys.stderr)
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

