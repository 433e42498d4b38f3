"""The results viewer: a static site that compares every method's SR image, |error| and
heatmap of one test image side by side, zoomed and panned together.

:func:`write_site` writes ``index.html`` (every dataset x scale x degradation with its
comparison table, the numbers of ``results/tables``, sortable by column) and one page per
test image.  The pages are plain HTML written here, with the script and style sheet of
``sruq/static/`` beside them; the pictures are lossless WebP files beside the pages:
the SR image of every method, the HR image, the |error| and, for an uncertainty source,
its sigma-scaled std (times the image's shift-aware widening where its interval is
widened: :func:`~sruq.shift.calibration.row_widening`), both on the run's one colour
scale (:class:`HeatmapScale`, whose colour bar is drawn by :func:`save_colorbar`).
|error| and std are taken on the metric channel, as the tables measure them (an
uncertainty source's from its ``error.npy`` and ``std.npy`` through
:func:`uncertainty_planes`).

A browser opened on ``file://`` may not read an image's pixels back, so the |error| and
heatmap panels and the values under the cursor come from a small ``data.js`` beside each
page: the HR luma (8 bits) and, per method, the |error| and std as their place on the
colour scale (:func:`scale_codes`: 256 steps, the index of the colour
:meth:`HeatmapScale.rgb` gives them) with the error's sign (from which the page tells the
SR luma), each plane deflated and base64-coded; the page inflates them with the browser's
own ``DecompressionStream`` and paints the panels through the scale's colour table
(:func:`colour_table`), so the colours are this module's, not the script's.  Numpy,
pandas and Pillow only (the report stage's env).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from sruq.core.color import rgb_to_y
from sruq.core.images import checked_sr, modcrop
from sruq.core.io import atomic_dir, list_images, read_image
from sruq.evaluation.metrics import metric_plane
from sruq.report.table_cells import Cell
from sruq.report.tables import columns, comparison_stem, labels
from sruq.shift.calibration import row_widening
from sruq.uncertainty.files import ERROR, STD, uncertainty_planes
from sruq.uncertainty.heatmaps import HeatmapScale, save_colorbar

LEVELS = 256
"""Steps of the colour scale in which ``data.js`` gives |error| and std (8 bits)."""
MAX_PANELS = 6
"""The most methods a page shows side by side (the method picker allows 2 to 6)."""
DEFAULT_PANELS = 4
STATIC = ("viewer.js", "viewer.css")
"""The script and style sheet every page loads (package data of ``sruq/static``)."""
SHIFT_FLAG, SHIFT_SCORE = "shift_flagged", "shift_score"
"""Optional per-image columns: whether a trained method's input looks unlike its
training data, and the score behind that verdict."""
CAPTION_METRICS = (("psnr", "PSNR", "{:.2f} dB"), ("ssim", "SSIM", "{:.4f}"),
                   ("lpips", "LPIPS", "{:.4f}"))


@dataclass(frozen=True)
class Block:
    """One dataset x scale x degradation of a run: its HR folder, every result's SR folder
    (result name -> folder, in table order), the uncertainty sources' folders and their
    sigma-scaling factors (1 where absent), and its comparison table (CSV)."""

    dataset: str
    scale: int
    degradation: str
    hr_dir: Path
    sr_dirs: Mapping[str, Path]
    table_csv: Path
    unc_dirs: Mapping[str, Path] = field(default_factory=dict)
    sigma_scales: Mapping[str, float] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return comparison_stem(self.dataset, self.scale, self.degradation)

    @property
    def title(self) -> str:
        return f"{self.dataset} ×{self.scale}, degradation {self.degradation}"


# --- numbers -----------------------------------------------------------------------------


def scale_codes(values: np.ndarray, scale: HeatmapScale) -> np.ndarray:
    """``uint8`` place of each value on the colour scale in :data:`LEVELS` steps: the index
    of the colour :meth:`HeatmapScale.rgb` gives it (values beyond the ends clipped)."""
    return np.minimum(np.floor(scale.position(values) * LEVELS), LEVELS - 1).astype(np.uint8)


def _middles(scale: HeatmapScale) -> np.ndarray:
    """The value in the middle of each code's step of the colour scale."""
    t = (np.arange(LEVELS) + 0.5) / LEVELS
    if scale.norm == "log":
        return np.exp(np.log(scale.vmin) + t * (np.log(scale.vmax) - np.log(scale.vmin)))
    return scale.vmin + t * (scale.vmax - scale.vmin)


def code_values(scale: HeatmapScale) -> list[float]:
    """The value each code of :func:`scale_codes` stands for (4 significant digits)."""
    return [float(f"{v:.4g}") for v in _middles(scale)]


def colour_table(scale: HeatmapScale) -> list[list[int]]:
    """The RGB colour of each code of :func:`scale_codes`: :meth:`HeatmapScale.rgb` of
    the middle of its step, which is the colour of every value of that code (for a
    colormap of 256 colours, as matplotlib's)."""
    return scale.rgb(_middles(scale)[None, :])[0].tolist()


def pack(plane: np.ndarray, delta: bool = False) -> str:
    """A ``uint8`` ``(H, W)`` plane (``delta``: each row coded as differences mod 256, for
    smooth images), deflated, base64."""
    arr = np.asarray(plane, dtype=np.uint8)
    if delta:
        arr = np.diff(arr.astype(np.int16), axis=1, prepend=0).astype(np.uint8)
    return base64.b64encode(zlib.compress(arr.tobytes(), 9)).decode("ascii")


def unpack(text: str, shape: tuple[int, int], delta: bool = False) -> np.ndarray:
    """The inverse of :func:`pack` (what the page's script does)."""
    arr = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8).reshape(shape)
    return np.cumsum(arr, axis=1, dtype=np.uint64).astype(np.uint8) if delta else arr


def pack_bits(mask: np.ndarray) -> str:
    """A boolean ``(H, W)`` plane, one bit per pixel (row-major, first pixel in the high
    bit), deflated, base64."""
    bits = np.packbits(np.asarray(mask, dtype=bool).ravel())
    return base64.b64encode(zlib.compress(bits.tobytes(), 9)).decode("ascii")


def luma8(image: np.ndarray) -> np.ndarray:
    """The 8-bit luma of an RGB image (BT.601, 16..235) or the grey of a greyscale one."""
    arr = np.asarray(image)
    plane = rgb_to_y(arr) if arr.ndim == 3 and arr.shape[2] == 3 else arr.reshape(arr.shape[:2])
    return np.clip(np.floor(plane + 0.5), 0, 255).astype(np.uint8)


def _magnitude(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(|values|, values < 0)`` of a signed metric-channel map, ``(H, W)`` each (an RGB
    map: the mean of its channels' magnitudes, and the sign of their mean)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 3:
        return np.abs(arr).mean(axis=2), arr.mean(axis=2) < 0
    return np.abs(arr), arr < 0


@dataclass(frozen=True)
class Panel:
    """What one method shows of one image: its SR image, |error| and where the error is
    negative, and an uncertainty source's scaled std; all ``(H, W)`` but the image."""

    sr: np.ndarray
    error: np.ndarray
    negative: np.ndarray
    std: np.ndarray | None = None


def panel(block: Block, method: str, hr_path: Path, channel: str) -> Panel:
    """The SR image of ``method`` on one test image, its error against the mod-cropped HR
    image and, for an uncertainty source, its std times its sigma-scaling factor; both on
    the metric ``channel`` (an uncertainty source's from its float outputs)."""
    found = [p for p in list_images(Path(block.sr_dirs[method])) if p.stem == hr_path.stem]
    if not found:
        raise FileNotFoundError(f"{Path(block.sr_dirs[method]) / hr_path.stem}.png: SR image "
                                f"of {method} is missing")
    sr, hr = checked_sr(found[0], hr_path, block.scale)
    if method not in block.unc_dirs:
        error = metric_plane((sr.astype(np.float64) - hr) / 255.0, 0, channel)
        return Panel(sr, *_magnitude(error))
    folder = Path(block.unc_dirs[method]) / hr_path.stem
    error, std = uncertainty_planes(folder / ERROR, folder / STD, 0, channel)
    if error.shape[:2] != sr.shape[:2]:
        raise ValueError(f"{folder / ERROR}: {error.shape[:2]} pixels, SR image "
                         f"{sr.shape[:2]}")
    factor = float(block.sigma_scales.get(method, 1.0))
    return Panel(sr, *_magnitude(error), _magnitude(std)[0] * factor)


# --- tables ------------------------------------------------------------------------------


def _unescape(text: str) -> str:
    """A Markdown-escaped header of :func:`sruq.report.tables.columns` as plain text."""
    return re.sub(r"\\(.)", r"\1", text)


def _cell_html(cell: Cell) -> tuple[str, str]:
    """``(text, sort key)`` of a comparison-table cell, as the Markdown table writes it."""
    if cell.mean is None:
        return "–", ""
    text = cell.mean if cell.std is None else f"{cell.mean} ± {cell.std}"
    text += f" [{', '.join(cell.interval)}]" if cell.interval else ""
    text = html.escape(text)
    return (f"<b>{text}</b>" if cell.bold else text), cell.mean


def table_html(block_csv: Path, reference: str | None, table_id: str) -> str:
    """The comparison table of one block (its CSV in ``results/tables``) as HTML: the
    columns and cells of the Markdown table; each header sorts by its column."""
    frame = pd.read_csv(block_csv, dtype={"dataset": str, "degradation": str, "method": str,
                                          "trained_on": str})
    shown = columns(frame, reference)
    head = "".join(f'<th data-col="{k + 1}">{html.escape(_unescape(name))}</th>'
                   for k, (name, _) in enumerate(shown))
    rows = []
    for i, label in enumerate(labels(frame)):
        cells = [_cell_html(column[i]) for _, column in shown]
        rows.append(f'<tr><td data-sort="{html.escape(label)}">{html.escape(label)}</td>'
                    + "".join(f'<td data-sort="{key}">{text}</td>' for text, key in cells)
                    + "</tr>")
    return (f'<div class="scroll"><table class="sortable" id="{table_id}"><thead><tr>'
            f'<th data-col="0">Method</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></div>")


def _flag(value: object) -> bool:
    """A ``shift_flagged`` cell as a bool (``True``/``true``/``1``; empty: not flagged)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return isinstance(value, bool | int | float | np.bool_) and not pd.isna(value) \
        and bool(value)


def image_rows(per_image: pd.DataFrame, block: Block, image: str) -> dict[str, pd.Series]:
    """The per-image table's row of every result on one image of ``block``, by result
    name (``method@T`` for a shifted one)."""
    rows = per_image[(per_image["dataset"] == block.dataset)
                     & (per_image["scale"].astype(int) == block.scale)
                     & (per_image["degradation"] == block.degradation)
                     & (per_image["image"] == image)]
    if rows.empty:
        return {}
    names = labels(rows)
    return {name: row for name, (_, row) in zip(names, rows.iterrows(), strict=True)}


def caption(row: pd.Series | None) -> str:
    """PSNR, SSIM (and LPIPS) of one method on one image, from the per-image table."""
    if row is None:
        return ""
    parts = [f"{label} {fmt.format(row[key])}" for key, label, fmt in CAPTION_METRICS
             if key in row.index and pd.notna(row[key]) and math.isfinite(float(row[key]))]
    return " · ".join(parts)


def shift_verdict(row: pd.Series | None) -> dict[str, object] | None:
    """``{"score": ...}`` when the per-image table flags this row as unlike the training
    data (columns :data:`SHIFT_FLAG`, :data:`SHIFT_SCORE`); ``None`` otherwise or without
    those columns."""
    if row is None or SHIFT_FLAG not in row.index or not _flag(row[SHIFT_FLAG]):
        return None
    score = row.get(SHIFT_SCORE)
    return {"score": None if score is None or pd.isna(score) else float(score)}


# --- files -------------------------------------------------------------------------------


def write_webp(path: Path, image: np.ndarray) -> None:
    """A ``uint8`` ``(H, W[, 1|3])`` array as a lossless WebP file."""
    arr = np.asarray(image, dtype=np.uint8)
    arr = arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
    Image.fromarray(arr).save(path, format="WEBP", lossless=True, quality=0, method=2)


def _json_script(name: str, data: object) -> str:
    """``window.<name> = <data>;`` safe inside an HTML ``<script>`` element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"window.{name}={text.replace('<', chr(92) + 'u003c')};"


def _page(title: str, body: str, depth: int, scripts: Sequence[str] = ()) -> str:
    up = "../" * depth
    tags = "".join(f'<script src="{html.escape(s)}"></script>' for s in scripts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="{up}viewer.css">{tags}</head>\n<body>{body}'
            f'<pre id="selftest" hidden></pre><script src="{up}viewer.js"></script>'
            "</body></html>\n")


def _default_methods(names: Sequence[str], sources: Sequence[str], reference: str | None,
                     ) -> list[str]:
    """The methods a page opens with: the reference, the uncertainty sources, then the
    others in table order, :data:`DEFAULT_PANELS` at most."""
    first = [m for m in [reference, *sources] if m in names]
    return list(dict.fromkeys(first + list(names)))[:DEFAULT_PANELS]


def write_image_page(block: Block, hr_path: Path, out: Path, per_image: pd.DataFrame, *,
                     scale: HeatmapScale, channel: str, reference: str | None,
                     neighbours: tuple[str, str]) -> dict[str, object]:
    """The page of one test image (``<block>/<image>.html``), its pictures and ``data.js``
    (under ``<block>/<image>/``); returns what the index says about the image."""
    image = hr_path.stem
    folder = out / block.stem / image
    folder.mkdir(parents=True)
    hr = modcrop(read_image(hr_path), block.scale)
    methods = list(block.sr_dirs)
    rows = image_rows(per_image, block, image)
    data: dict[str, object] = {"methods": []}
    entries = []
    for k, method in enumerate(methods):
        shown = panel(block, method, hr_path, channel)
        sr_file = f"{image}/m{k}-sr.webp"
        write_webp(out / block.stem / sr_file, shown.sr)
        codes = scale_codes(shown.error, scale)
        planes = {"error": pack(codes), "negative": pack_bits(shown.negative & (codes > 0))}
        entry: dict[str, object] = {
            "name": method, "sr": sr_file, "heatmap": shown.std is not None,
            "caption": caption(rows.get(method)), "shift": shift_verdict(rows.get(method)),
            "sigma": None,
        }
        if shown.std is not None:
            widening = row_widening(rows.get(method))
            planes["std"] = pack(scale_codes(shown.std * widening, scale))
            entry["sigma"] = float(block.sigma_scales.get(method, 1.0))
            entry["widening"] = widening if widening != 1.0 else None
        data["methods"].append(planes)  # type: ignore[union-attr]
        entries.append(entry)
    write_webp(folder / "hr.webp", hr)
    height, width = hr.shape[:2]
    data.update(width=width, height=height, hr=pack(luma8(hr), delta=True))
    (folder / "data.js").write_text(_json_script("SRUQ_DATA", data), encoding="utf-8")
    grey = hr.shape[2] == 1
    config = {
        "page": "image", "title": f"{image} — {block.title}", "image": image,
        "block": block.stem, "width": width, "height": height,
        "hr": f"{image}/hr.webp", "colorbar": "../colorbar.png", "index": "../index.html",
        "prev": neighbours[0], "next": neighbours[1], "methods": entries,
        "default": _default_methods(methods, list(block.unc_dirs), reference),
        "values": code_values(scale), "colours": colour_table(scale),
        "vmin": scale.vmin, "vmax": scale.vmax,
        "value_label": "grey" if grey else "Y", "channel": channel,
        "max_panels": MAX_PANELS,
    }
    body = (f'<header><a href="../index.html">all results</a> · <b>{html.escape(image)}</b>'
            f" — {html.escape(block.title)}</header><main id=\"viewer\"></main>"
            f"<script>{_json_script('SRUQ_PAGE', config)}</script>")
    (out / block.stem / f"{image}.html").write_text(
        _page(config["title"], body, 1, [f"{image}/data.js"]), encoding="utf-8")
    flagged = [e["name"] for e in entries if e["shift"]]
    return {"image": image, "href": f"{block.stem}/{image}.html",
            "thumb": f"{block.stem}/{image}/hr.webp", "shifted": flagged}


def write_site(blocks: Sequence[Block], per_image_csv: Path, out_dir: Path, *,
               scale: HeatmapScale, channel: str = "y", reference: str | None = None,
               ) -> Path:
    """The whole viewer in ``out_dir`` (written to a temporary folder, then renamed into
    place); returns the path of its ``index.html``."""
    per_image = pd.read_csv(per_image_csv, dtype={"dataset": str, "degradation": str,
                                                  "method": str, "trained_on": str,
                                                  "image": str})
    pages = [(block, hr_path) for block in blocks for hr_path in list_images(block.hr_dir)]
    hrefs = [f"../{block.stem}/{hr_path.stem}.html" for block, hr_path in pages]
    with atomic_dir(out_dir) as out:
        static = resources.files("sruq") / "static"
        for name in STATIC:
            (out / name).write_text(static.joinpath(name).read_text(encoding="utf-8"),
                                    encoding="utf-8")
        save_colorbar(out / "colorbar.png", scale,
                      label=f"|error| and σ-scaled std ({scale.norm} scale)")
        listed: dict[str, list[dict[str, object]]] = {block.stem: [] for block in blocks}
        for k, (block, hr_path) in enumerate(pages):
            neighbours = (hrefs[k - 1], hrefs[(k + 1) % len(pages)])
            listed[block.stem].append(write_image_page(
                block, hr_path, out, per_image, scale=scale, channel=channel,
                reference=reference, neighbours=neighbours))
        sections = []
        for n, block in enumerate(blocks):
            links = "".join(
                f'<a class="thumb" href="{html.escape(e["href"])}">'
                f'<img src="{html.escape(e["thumb"])}" alt="{html.escape(e["image"])}">'
                f'<span>{html.escape(e["image"])}</span>'
                + (f'<span class="badge shift" title="{html.escape(", ".join(e["shifted"]))}">'
                   f'unlike the training data: {len(e["shifted"])}</span>'
                   if e["shifted"] else "") + "</a>"
                for e in listed[block.stem])
            sections.append(
                f'<section><h2>{html.escape(block.title)}</h2><div class="thumbs">{links}</div>'
                f"{table_html(block.table_csv, reference, f'table{n}')}"
                "<p class=\"note\">The numbers of the comparison table in the results' "
                "tables folder (mean ± std over the images; best in bold); click a header "
                "to sort.</p></section>")
        body = ('<header><b>sruq results viewer</b> — every method side by side; open an '
                'image to zoom.</header><main id="index">' + "".join(sections)
                + '<p class="note">Colour scale of every |error| and heatmap:</p>'
                '<img class="colorbar" src="colorbar.png" alt="colour bar"></main>'
                f"<script>{_json_script('SRUQ_PAGE', {'page': 'index'})}</script>")
        (out / "index.html").write_text(_page("sruq results viewer", body, 0),
                                        encoding="utf-8")
    return Path(out_dir) / "index.html"


def site_size(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
