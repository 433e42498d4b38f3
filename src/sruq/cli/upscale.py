"""``sruq upscale``: super-resolve one image, several, or folders of them, with uncertainty.

One FILE: its output set goes straight into ``--out`` (default ``sruq-out/<stem>``).
Folders or several files: the model is loaded once, each image's set goes into
``OUT/<stem>/`` (default ``OUT`` = ``sruq-out``), and ``OUT/summary.csv`` has a row per image
(:class:`ImageResult`).  Every folder is written all or nothing and keeps the files sruq
did not write (:mod:`sruq.cli.manifest`).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sruq.core import layout
from sruq.core.errors import CLIError

if TYPE_CHECKING:
    from sruq.uncertainty.settings import HeatmapSettings, MCSettings

HELP = """\
Super-resolve IMAGE (a low-resolution input), or every image of a folder, and write:
  lr_input.png     the LR input used (centre-cropped to a multiple of 64 in --mode patch)
  one_pass.png     one deterministic pass (dropout off)
  mc_mean.png      the source's mean prediction (MC mean, x8 mean, ensemble mean...)
  std.npy          per-pixel std of the samples, float32 (H, W, C), lossless
  heatmap.png      the std (times the workflow's sigma-scaling factor of --model, and
                   on an input unlike the training data its shift-aware widening) on a
                   fixed log scale (--vmin..--vmax; dark = certain, bright = uncertain)
  colorbar.png     the colour bar of that scale
  shift.json       the shift score's verdict on the input (a model with a fitted score):
                   its score, threshold, whether it is unlike the training data and the
                   factor its heatmap was widened by (heatmap_widening)
  details/most_certain/, details/least_certain/
                   original_lr_patch_i.png, mean_pred_patch_i.png, heatmap_i.png
  .sruq-manifest.json   what sruq wrote there (a rerun replaces only those files)
One IMAGE: into --out (default sruq-out/<image name>).  Folders (their image files) or
several images: into --out/<image name>/ each, with --out/summary.csv (image, status,
size, seconds, mean std, shift verdict); an image whose output set from the same image
and options is there already is skipped (--overwrite redoes it); a bad image is listed at
the end and the exit status is 1.  A non-empty folder sruq did not write is refused.

Uncertainty sources (--source; --model NAME+x8 names one too):
{sources}
Default: mc for a model with dropout, else one pass (std 0).

Greyscale, palette, RGBA (alpha dropped), 16-bit (rounded to 8 bits) and EXIF-rotated
images are converted; unreadable files stop with a one-line error.
"""

SUMMARY = "summary.csv"
SHIFT_FILE = "shift.json"
"""In an output set: the shift score's verdict on the input (score, threshold, flagged)."""


@dataclass
class ImageResult:
    """One image of a call: a row of ``summary.csv`` (the fields are its columns, in order)
    and the ``record`` of its output set's manifest."""

    image: str
    status: str = "done"
    """``done``, ``skipped`` (its output set was there) or ``failed``."""
    size: str = ""
    """The LR input's ``WIDTHxHEIGHT``."""
    seconds: float | None = None
    mean_std: float | None = None
    """The mean per-pixel std (as sampled, before sigma scaling)."""
    shift: str = ""
    reason: str = ""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Settings(NamedTuple):
    """The options as the workflow's ``mc:`` and ``heatmap:`` settings."""

    mc: MCSettings
    heatmap: HeatmapSettings


def request_of(args: argparse.Namespace, source: Any, settings: Settings) -> dict[str, Any]:
    """What an output set depends on besides the image: a rerun with the same request
    skips a complete set."""
    return {"source": source.name, "label": source.label, "scale": source.scale,
            "models": [str(m) for m in args.model or []],
            "weights": [str(w.resolve()) for w in args.weights or []],
            "seed": args.seed, "sigma_scale": source.sigma_scale,
            "conformal_q": source.conformal_q,
            "widening": source.widening.to_dict() if source.widening is not None else None,
            **settings.mc.to_config(), **settings.heatmap.to_config()}


def process_image(path: Path, out: Path, source: Any, settings: Settings,
                  request: dict[str, Any], overwrite: bool) -> ImageResult:
    """Super-resolve one image into its output folder ``out`` (all or nothing), or skip it
    when ``out`` holds the complete set of the same image and request.  Raises
    ``ValueError``/``OSError`` (one line) for a bad image or folder."""
    from sruq.cli.manifest import output_folder, record_of
    from sruq.core.io import read_image, write_json
    from sruq.uncertainty.outputs import write_image_outputs

    wanted = {"image": _sha256(path), **request}
    earlier = record_of(out)
    if not overwrite and earlier is not None and earlier.get("request") == wanted:
        kept = {f.name: earlier.get("result", {}).get(f.name) for f in fields(ImageResult)}
        return ImageResult(**{**kept, "image": str(path), "status": "skipped", "reason": ""})
    start = time.perf_counter()
    lr = read_image(path)
    if settings.mc.mode == "patch" and min(lr.shape[:2]) < 64:
        raise ValueError(f"{path}: {lr.shape[0]}x{lr.shape[1]} pixels is smaller than one "
                         "64x64 patch; use --mode tiled")
    result, box = source.source.predict(path.stem, lr)
    result.check_finite(f"{path} through {source.label}")
    verdict = source.judge(lr) if source.judge is not None else None
    widening = source.heatmap_widening(verdict)
    row = ImageResult(image=str(path), size=f"{lr.shape[1]}x{lr.shape[0]}",
                      mean_std=round(float(result.std.float().mean()), 6),
                      shift=verdict.text if verdict else source.no_judge)
    if widening != 1.0:
        row.shift += f"; the heatmap shows the std x {widening:.3g} (shift-aware)"
    record: dict[str, Any] = {"kind": "image", "request": wanted}
    with output_folder(out, record) as tmp:
        write_image_outputs(tmp, lr, result, box, source.scale, settings.heatmap,
                            sigma_scale=source.sigma_scale * widening)
        if verdict is not None:
            write_json(tmp / SHIFT_FILE, {**verdict.to_dict(), "heatmap_widening": widening})
        row.seconds = round(time.perf_counter() - start, 3)
        record["result"] = asdict(row)  # the manifest is written on leaving the block
    return row


def collect_images(inputs: list[Path]) -> tuple[list[Path], list[Path]]:
    """The image files of the inputs (a folder: its image files, sorted) and the entries
    of given folders that are not image files (skipped, named in a note).  A missing
    input, a folder without images or two images of one stem is a :class:`CLIError`."""
    from sruq.core.io import IMAGE_SUFFIXES, is_image_file

    images, others = [], []
    for item in inputs:
        if item.is_dir():
            entries = sorted(p for p in item.iterdir() if not p.name.startswith("."))
            found = [p for p in entries if is_image_file(p)]
            if not found:
                raise CLIError(f"{item}: no image files in the folder (looked for "
                               f"{', '.join(IMAGE_SUFFIXES)})")
            images += found
            others += [p for p in entries if not is_image_file(p)]
        elif item.exists():
            images.append(item)
        else:
            raise CLIError(f"{item}: no such image file or folder")
    by_stem: dict[str, Path] = {}
    for path in images:
        if path.stem in by_stem:
            raise CLIError(f"{by_stem[path.stem]} and {path} would both write "
                           f"{path.stem}/; rename one or run them separately")
        by_stem[path.stem] = path
    return images, others


def check_out(out: Path, kind: str = "image") -> None:
    """``out`` is a folder sruq may write (new, empty, or its own of this ``kind``: one
    image's output set or a batch's) in a writable place."""
    from sruq.cli.manifest import OutputFolderError, check_writable, read_manifest
    from sruq.core.io import unwritable_ancestor

    try:
        check_writable(out)
        manifest = read_manifest(out) if out.is_dir() else None
    except OutputFolderError as err:
        raise CLIError(f"--out {err}") from None
    if manifest is not None and manifest.get("record", {}).get("kind", "image") != kind:
        held = "one image's output set" if kind == "batch" else "the output of several images"
        raise CLIError(f"--out {out}: holds {held}; give another folder")
    blocked = unwritable_ancestor(out)
    if blocked is not None:
        raise CLIError(f"--out {out}: cannot write in {blocked}")


def check_batch_out(out: Path) -> None:
    """A batch's ``OUT``: as :func:`check_out`, or a folder of sruq output sets only."""
    from sruq.cli.manifest import MANIFEST

    if out.is_dir() and not (out / MANIFEST).exists():
        entries = list(out.iterdir())
        if entries and all((p / MANIFEST).is_file() for p in entries):
            return
    check_out(out, "batch")


def write_summary(out: Path, rows: list[ImageResult]) -> None:
    """``OUT/summary.csv`` (atomically) and ``OUT``'s own manifest."""
    from sruq.cli.manifest import write_manifest
    from sruq.core.io import write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [f.name for f in fields(ImageResult)]
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if v is None else v for v in (getattr(row, n) for n in names)])
    write_text(out / SUMMARY, buffer.getvalue())
    write_manifest(out, [SUMMARY], {"kind": "batch"})


def settings_of(args: argparse.Namespace) -> Settings:
    """The :class:`~sruq.uncertainty.settings.MCSettings` and
    :class:`~sruq.uncertainty.settings.HeatmapSettings` of the options (the workflow's
    ``mc:`` and ``heatmap:`` checks; an error names the option)."""
    from sruq.uncertainty.settings import DEFAULT_SAMPLES, HeatmapSettings, MCSettings

    option_of = {"samples": "--samples", "mode": "--mode", "vmin": "--vmin", "vmax": "--vmax",
                 "cmap": "--cmap", "style": "--style", "norm": "--norm",
                 "details": "--details", "tta_noise": "--tta-noise",
                 "mcbn_batch": "--mcbn-batch", "tile": "--tile", "overlap": "--overlap"}
    try:
        return Settings(
            MCSettings(samples=DEFAULT_SAMPLES if args.samples is None else args.samples,
                       mode=args.mode, tile=args.tile, overlap=args.overlap,
                       tta_noise=args.tta_noise, mcbn_batch=args.mcbn_batch),
            HeatmapSettings(vmin=args.vmin, vmax=args.vmax, cmap=args.cmap, style=args.style,
                            norm=args.norm, details=args.details))
    except ValueError as err:
        option = option_of.get(str(err).split()[0])
        if option is None and "log scale" in str(err):  # "a log scale needs vmin > 0"
            option = "--vmin"
        raise CLIError(f"{option}: {err}" if option else str(err)) from None


class SomeFailed(Exception):
    """A batch that finished with bad images: ``out`` was written, ``lines`` say why each
    bad one failed (exit status 1)."""

    def __init__(self, out: Path, lines: list[str]) -> None:
        super().__init__(f"{len(lines)} image(s) failed")
        self.out, self.lines = out, lines


def upscale(args: argparse.Namespace) -> Path:
    """The ``upscale`` command; returns the output folder.  Every option, the inputs, the
    output folder and the model(s) are checked before any image is processed."""
    from sruq.cli.source import resolve_source
    from sruq.models.predict import pick_device

    settings = settings_of(args)
    if args.sigma_scale is not None and not args.sigma_scale > 0:
        raise CLIError(f"--sigma-scale must be positive, got {args.sigma_scale}")
    try:
        device = pick_device(args.device)
    except ValueError as err:
        raise CLIError(f"--device {err}") from None
    single = len(args.images) == 1 and not args.images[0].is_dir()
    if single and not args.images[0].exists():
        raise CLIError(f"{args.images[0]}: no such image file")
    images, others = collect_images(args.images)
    out = args.out or (Path("sruq-out") / images[0].stem if single else Path("sruq-out"))
    check_out(out) if single else check_batch_out(out)
    if single:
        from sruq.core.io import ImageReadError, read_image

        try:
            read_image(images[0])  # a bad single image is a usage error, before the model
        except ImageReadError as err:
            raise CLIError(str(err)) from None
    source = resolve_source(args, settings.mc, device)
    request = request_of(args, source, settings)
    if single:
        try:
            row = process_image(images[0], out, source, settings, request, True)
        except (ValueError, OSError) as err:
            raise CLIError(f"{getattr(err, 'strerror', None) or err}") from None
        if not args.quiet:
            print(f"{images[0].name}: {row.shift}", file=sys.stderr)
        return out
    return _batch(images, others, out, source, settings, request, args)


def _batch(images: list[Path], others: list[Path], out: Path, source: Any, settings: Settings,
           request: dict[str, Any], args: argparse.Namespace) -> Path:
    from sruq.cli.manifest import make_folder
    from sruq.core.progress import progress_bar

    make_folder(out)
    rows, failed = [], []
    with progress_bar(total=len(images), desc=f"sruq upscale ({source.label}, "
                      f"{source.passes} passes)", unit="img", disable=args.quiet) as bar:
        for path in images:
            bar.set_postfix_str(path.name)
            try:
                row = process_image(path, out / path.stem, source, settings, request,
                                    args.overwrite)
            except Exception as err:  # noqa: BLE001 - a bad image does not stop the batch
                if args.debug:
                    raise
                first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                row = ImageResult(image=str(path), status="failed", reason=first)
                failed.append(first if str(path) in first else f"{path}: {first}")
            rows.append(row)
            bar.update()
    write_summary(out, rows)
    from sruq.shift.scores import UNLIKE

    unlike = [Path(r.image).name for r in rows if r.shift.startswith(UNLIKE)]
    if args.quiet:
        pass  # the verdicts are in summary.csv and each image's shift.json
    elif unlike:
        print(f"sruq: {len(unlike)} of {len(rows)} images unlike the training data (their "
              f"heatmaps may understate the error): {', '.join(unlike)}", file=sys.stderr)
    elif source.judge is None:
        print(f"sruq: {source.no_judge}", file=sys.stderr)
    if others:
        print(f"sruq: skipped {len(others)} entries that are not image files: "
              + ", ".join(p.name for p in others), file=sys.stderr)
    if failed:
        raise SomeFailed(out, failed)
    return out


def add_parser(commands: Any) -> None:
    """The ``upscale`` subcommand's options."""
    from sruq.cli.source import SOURCE_HELP
    from sruq.uncertainty.heatmaps import NORMS, STYLES
    from sruq.uncertainty.settings import MODES, HeatmapSettings, MCSettings

    defaults, drawn = MCSettings(), HeatmapSettings()
    sources = "\n".join(f"  {name:<9} {text}" for name, text in SOURCE_HELP.items())
    up = commands.add_parser("upscale", help="super-resolve images with uncertainty",
                             description=HELP.format(sources=sources),
                             formatter_class=argparse.RawTextHelpFormatter)
    up.add_argument("images", type=Path, nargs="+", metavar="IMAGE|DIR",
                    help="low-resolution images, or folders of them")
    which = up.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="NAME", action="append",
                       help="an interpolation baseline (bicubic, lanczos...: needs --scale) "
                            "or a model trained by the workflow (found under --results); "
                            "NAME+x8 / +tta / +mcbn names a source; repeat for an ensemble")
    which.add_argument("--weights", type=Path, metavar="FILE", action="append",
                       help="a weights.pt written by training; repeat for an ensemble")
    up.add_argument("--source", choices=tuple(SOURCE_HELP),
                    help="the uncertainty source (see above)")
    up.add_argument("--scale", type=int, choices=(2, 3, 4, 8), help="upscaling factor")
    up.add_argument("--degradation", metavar="NAME",
                    help="with --model: the degradation preset the model was trained on "
                         "(when the workflow trained it on several)")
    up.add_argument("--samples", type=int, metavar="T",
                    help=f"passes of --source mc, tta, mcbn (default {defaults.samples}, "
                         "at least 2)")
    up.add_argument("--tta-noise", type=float, default=defaults.tta_noise, metavar="STD",
                    help=f"--source tta: noise std on the [0, 1] input (default "
                         f"{defaults.tta_noise})")
    up.add_argument("--mcbn-batch", type=int, default=16, metavar="N",
                    help="--source mcbn: training patches per BatchNorm batch (default 16, "
                         "the default train.batch_size; the workflow uses the model's)")
    up.add_argument("--mode", choices=MODES, default=defaults.mode,
                    help="tiled: any size, blended tiles (default); patch: the ESRCNN recipe's "
                         "64x64 patches of the centre crop; whole: one pass")
    up.add_argument("--tile", type=int, default=defaults.tile, metavar="PX",
                    help=f"--mode tiled: tile size in LR pixels (default {defaults.tile}; "
                         "the workflow's mc.tile)")
    up.add_argument("--overlap", type=int, default=defaults.overlap, metavar="PX",
                    help=f"--mode tiled: tile overlap (default {defaults.overlap}; mc.overlap)")
    up.add_argument("--out", type=Path, metavar="DIR",
                    help="output folder (default sruq-out/<image name>, or sruq-out for "
                         "folders and several images)")
    up.add_argument("--overwrite", action="store_true",
                    help="redo images whose output set is there already")
    up.add_argument("--results", type=Path, default=Path(layout.ROOT),
                    help=f"workflow results folder searched by --model (default {layout.ROOT})")
    up.add_argument("--seed", type=int, default=0,
                    help="the workflow's seed: each image's samples are seeded from it and "
                         "the image's name, as in the workflow (default 0)")
    up.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda...")
    up.add_argument("--vmin", type=float, default=drawn.vmin,
                    help=f"heatmap scale minimum (std, default {drawn.vmin})")
    up.add_argument("--vmax", type=float, default=drawn.vmax,
                    help=f"heatmap scale maximum (std, default {drawn.vmax})")
    up.add_argument("--norm", choices=NORMS, default=drawn.norm,
                    help=f"heatmap scale (default {drawn.norm}; the ESRCNN recipe's: "
                         "--norm linear --vmin 0 --vmax 0.1 --cmap cool)")
    up.add_argument("--cmap", default=drawn.cmap,
                    help=f"matplotlib colormap (default {drawn.cmap})")
    up.add_argument("--style", choices=STYLES, default=drawn.style,
                    help="cmap, or the SRResBNN recipe's HSV heatmap")
    up.add_argument("--sigma-scale", type=float, metavar="S",
                    help="draw the heatmap of S x std (default: the factor the workflow "
                         "fitted on its validation images for --model and --source, else 1)")
    up.add_argument("--details", type=int, default=drawn.details,
                    help="patches in details/most_certain and least_certain")
    up.add_argument("--quiet", action="store_true",
                    help="no progress bar and no shift verdict line (the verdict stays in "
                         "shift.json and summary.csv)")
    up.add_argument("--debug", action="store_true",
                    help="on an unexpected error, print the full traceback")
