"""The results viewer: its numbers and colours, and the tiny run's site in a real browser.

The browser tests open the pages from ``file://`` in headless Chromium with
``?selftest=1``: the page's own script zooms, pans, toggles and picks, and writes what it
saw as JSON into ``<pre id="selftest">``, which ``--dump-dom`` hands back.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

from sruq.core import layout
from sruq.report.viewer import (
    LEVELS,
    Block,
    code_values,
    colour_table,
    pack,
    pack_bits,
    panel,
    scale_codes,
    shift_verdict,
    site_size,
    unpack,
)
from sruq.stages.report import results_viewer
from sruq.uncertainty.files import read_sigma_scale
from sruq.uncertainty.heatmaps import DEFAULT_SCALE, RECIPE_SCALE, HeatmapScale
from sruq.uncertainty.settings import HeatmapSettings

BUDGET = 30_000_000
"""Bytes the default run's viewer may take (the tiny run's must fit too)."""
BLOCK = "tiny-test_x2_bicubic"
SOURCES = ("esrcnn", "esrcnn+x8", "esrcnn+tta", "tiny-ensemble")


# --- numbers and colours -----------------------------------------------------------------


@pytest.mark.parametrize("scale", [DEFAULT_SCALE, RECIPE_SCALE, HeatmapScale(style="hsv")],
                         ids=["log-inferno", "seed-linear-cool", "hsv"])
def test_a_code_paints_the_colour_sruq_gives_its_values(scale):
    values = np.concatenate([np.geomspace(1e-5, 1.0, 5000), [0.0, scale.vmin, scale.vmax]])
    codes = scale_codes(values[None, :], scale)
    table = np.asarray(colour_table(scale), dtype=np.uint8)
    assert table.shape == (LEVELS, 3)
    assert np.array_equal(table[codes], scale.rgb(values[None, :]))
    middles = np.asarray(code_values(scale))  # each code's value lies in its own step
    assert np.array_equal(scale_codes(middles[None, :], scale)[0], np.arange(LEVELS))


def test_planes_survive_packing():
    rng = np.random.default_rng(0)
    plane = rng.integers(0, 256, size=(7, 13), dtype=np.uint8)
    for delta in (False, True):
        assert np.array_equal(unpack(pack(plane, delta), plane.shape, delta), plane)
    mask = rng.random((7, 13)) < 0.3
    packed = zlib.decompress(base64.b64decode(pack_bits(mask)))
    bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8))[:mask.size]
    assert np.array_equal(bits.reshape(mask.shape).astype(bool), mask)


def test_shift_verdict_only_where_the_table_flags_it():
    assert shift_verdict(pd.Series({"psnr": 30.0})) is None  # no shift columns: nothing
    assert shift_verdict(None) is None
    for flag in (False, "False", float("nan"), 0):
        assert shift_verdict(pd.Series({"shift_flagged": flag, "shift_score": 0.2})) is None
    for flag in (True, "True", "true", 1, np.bool_(True)):
        verdict = shift_verdict(pd.Series({"shift_flagged": flag, "shift_score": 0.93}))
        assert verdict == {"score": pytest.approx(0.93)}
    assert shift_verdict(pd.Series({"shift_flagged": True})) == {"score": None}


def test_panel_gives_the_metric_channel_error_and_the_scaled_std(tmp_path):
    """|error| on the Y channel of an SR image file and, for an uncertainty source, of its
    float error, with its std times the sigma-scaling factor; a missing SR image is a
    one-line error naming it."""
    from sruq.core.io import write_image, write_npy
    from sruq.evaluation.metrics import LUMA_WEIGHTS

    rng = np.random.default_rng(1)
    hr = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-9, 10, size=hr.shape), 0, 255).astype(np.uint8)
    write_image(tmp_path / "hr" / "im.png", hr)
    write_image(tmp_path / "plain" / "im.png", sr)
    write_image(tmp_path / "source" / "im.png", sr)
    error = rng.normal(0, 0.02, size=(6, 8, 3)).astype(np.float32)
    std = rng.random((6, 8, 1)).astype(np.float32) * 0.05
    write_npy(tmp_path / "unc" / "im" / "error.npy", error)
    write_npy(tmp_path / "unc" / "im" / "std.npy", std)
    write_image(tmp_path / "empty" / "other.png", sr)
    block = Block("set", 2, "bicubic", tmp_path / "hr",
                  {"plain": tmp_path / "plain", "source": tmp_path / "source",
                   "gone": tmp_path / "empty"}, table_csv=tmp_path / "unused.csv",
                  unc_dirs={"source": tmp_path / "unc"}, sigma_scales={"source": 2.5})
    plain = panel(block, "plain", tmp_path / "hr" / "im.png", "y")
    expected = ((sr.astype(float) - hr) / 255.0) @ LUMA_WEIGHTS
    assert np.allclose(plain.error, np.abs(expected)) and plain.std is None
    assert np.array_equal(plain.negative, expected < 0) and np.array_equal(plain.sr, sr)
    source = panel(block, "source", tmp_path / "hr" / "im.png", "y")
    assert np.allclose(source.error, np.abs(error.astype(float) @ LUMA_WEIGHTS))
    assert np.allclose(source.std, 2.5 * std[:, :, 0])
    with pytest.raises(FileNotFoundError, match=r"empty/im\.png: SR image of gone is missing"):
        panel(block, "gone", tmp_path / "hr" / "im.png", "y")


# --- the tiny run's viewer ---------------------------------------------------------------


def tiny_blocks(run: Path) -> list[dict[str, object]]:
    """The viewer rule's ``blocks`` of the tiny run, from its results tree."""
    root = run / "results"
    per_image = pd.read_csv(root / "tables" / "per_image.csv")
    methods = list(dict.fromkeys(per_image["method"]))
    where = {"dataset": "tiny-test", "degradation": "bicubic", "scale": 2}
    sr = {m: str(run / layout.fill(layout.SR, method=m, **where)) for m in methods}
    uncertainty = {m: str(run / layout.fill(layout.UNCERTAINTY, method=m, **where))
                   for m in methods
                   if (run / layout.fill(layout.UNCERTAINTY, method=m, **where)).is_dir()}
    calibration = {m: str(run / layout.fill(layout.CALIBRATION, method=m, degradation="bicubic",
                                             scale=2)) for m in uncertainty}
    return [{**where, "hr": str(run / layout.fill(layout.HR, dataset="tiny-test")), "sr": sr,
             "uncertainty": uncertainty, "calibration": calibration}]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip("chromium not found: install it (apt-get install chromium) to run the "
                    "viewer's browser tests")
    return found


def browser(chromium: str, url: str, *args: str) -> str:
    """Headless Chromium on ``url`` (a fresh profile, nothing fetched from outside)."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--window-size=1400,1000",
             "--hide-scrollbars", "--virtual-time-budget=15000", *args, url],
            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def selftest(chromium: str, page: Path, fragment: str = "") -> dict[str, object]:
    """The JSON a page's ``?selftest=1`` writes into its ``<pre id="selftest">``."""
    dom = browser(chromium, f"{page.as_uri()}?selftest=1{fragment}", "--dump-dom")
    found = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    assert found and found[1].strip(), f"{page}: the selftest wrote nothing\n{dom[-1500:]}"
    return json.loads(html.unescape(found[1]))


@pytest.mark.slow
def test_tiny_run_writes_the_viewer_within_its_budget(tiny_run):
    viewer = tiny_run / layout.VIEWER
    assert (viewer / "index.html").is_file()
    pages = sorted(p.name for p in (viewer / BLOCK).glob("*.html"))
    assert pages == ["camera.html", "chelsea.html"]
    size = site_size(viewer)
    print(f"tiny run's viewer: {size / 1e6:.2f} MB")
    assert size <= BUDGET
    assert [p.name for p in viewer.rglob("*.png")] == ["colorbar.png"]
    text = (viewer / BLOCK / "chelsea.html").read_text()
    assert "base64" not in text and "data:image" not in text  # pictures are files
    assert "http://" not in text and "https://" not in text  # nothing from outside
    index = (viewer / "index.html").read_text()
    assert "http://" not in index and "https://" not in index


@pytest.mark.slow
def test_index_lists_the_tables_numbers_and_sorts_in_the_browser(tiny_run, chromium):
    index = tiny_run / layout.VIEWER / "index.html"
    text = index.read_text()
    table = (tiny_run / "results" / "tables" / f"{BLOCK}.md").read_text()
    bicubic = next(r for r in table.splitlines() if r.startswith("| bicubic |"))
    psnr = bicubic.split("|")[2].strip()  # "32.57 ± 3.79"
    assert psnr in text and "ΔPSNR vs bicubic [95% CI]" in text
    result = selftest(chromium, index)
    assert result["images"]["total"] == 3 and result["images"]["failed"] == []  # + colour bar
    assert result["tables"] == 1
    sort = result["sort"]
    assert sort["column"].startswith("PSNR") and sort["rows"] == 10
    assert sort["ascending"] and sort["descending"]
    per_image = pd.read_csv(tiny_run / "results" / "tables" / "per_image.csv")
    means = per_image.groupby("method")["psnr"].mean()
    assert sort["first_ascending"] == means.idxmin()
    assert sort["first_descending"] == means.idxmax()


@pytest.mark.slow
def test_image_page_links_zoom_picks_methods_and_reads_values(tiny_run, chromium, tmp_path):
    page = tiny_run / layout.VIEWER / BLOCK / "chelsea.html"
    result = selftest(chromium, page)
    methods = result["methods"]
    assert len(methods) == 10 and set(SOURCES) <= set(methods)
    images = result["images"]  # every method's SR and HR image, and the colour bar
    assert images["failed"] == []
    assert images["total"] == images["loaded"] == 2 * len(methods) + 1
    canvases = result["canvases"]  # |error| of every method, heatmaps of the sources
    assert canvases["total"] == canvases["painted"] == len(methods) + len(SOURCES)
    assert canvases["heatmaps"] == len(SOURCES)
    zoom = result["zoom"]
    assert zoom["panels"] == 4 and zoom["changed"] and zoom["identical"]
    assert zoom["pan_changed"] and zoom["pan_identical"]
    scales = [float(re.search(r"scale\(([\d.]+)\)", zoom[k])[1])
              for k in ("before", "after", "pinched")]
    assert scales[0] < scales[1] < scales[2]  # wheel, then a pinch apart, zoom in
    assert zoom["pinch_identical"]
    picker = result["picker"]
    assert picker["shown"] == picker["chosen"] == methods[-2:]
    assert picker["most"] == 6 and "at most 6" in picker["refused"]
    assert result["toggle"] == {"mode": "error", "visible": ["error"]}
    assert result["shift_badges"] == []  # the tiny run's table has no shift verdict
    # the values under the pointer: every panel at one pixel, sources with their std
    readout = result["readout"]
    assert len(readout) == 4 and len({r.split(" · ")[0] for r in readout}) == 1
    assert all("|error| " in r for r in readout)
    assert sum("std " in r for r in readout) == 3  # bicubic has none
    # the |error| panel's colour at a pixel is sruq's colour of that pixel's |error|
    probe = result["probe"]
    hr_dir = tiny_run / layout.fill(layout.HR, dataset="tiny-test")
    blocks = tiny_blocks(tiny_run)[0]
    block = Block("tiny-test", 2, "bicubic", hr_dir,
                  {m: Path(d) for m, d in blocks["sr"].items()}, table_csv=Path("unused"),
                  unc_dirs={m: Path(d) for m, d in blocks["uncertainty"].items()})
    shown = panel(block, probe["method"], hr_dir / "chelsea.png", "y")
    scale = HeatmapSettings.from_config(None).scale
    expected = scale.rgb(shown.error[probe["y"]:probe["y"] + 1, probe["x"]:probe["x"] + 1])
    assert probe["rgb"] == expected[0, 0].tolist()
    nav = result["nav"]  # the arrow keys: the other image, with the methods picked
    assert nav["next"].endswith("/camera.html") and nav["prev"].endswith("/camera.html")
    right, left = nav["keys"]
    assert right.startswith(nav["next"]) and left.startswith(nav["prev"])
    kept = parse_qs(urlsplit(right).fragment)["m"][0].split(",")  # the 6 methods shown
    assert len(kept) == 6 and set(picker["chosen"]) <= set(kept) <= set(methods)
    # a screenshot of the page as a test artefact
    shot = tmp_path / "viewer-chelsea.png"
    browser(chromium, page.as_uri(), f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000
    print(f"screenshot of the viewer: {shot}")


@pytest.mark.slow
def test_a_shift_verdict_shows_on_its_methods_panel(tiny_run, chromium, tmp_path):
    """With the shift columns in the per-image table (here written into a copy), the
    flagged method's panel of that image carries the badge, and only that one."""
    tables = tmp_path / "tables"
    shutil.copytree(tiny_run / "results" / "tables", tables)
    per_image = pd.read_csv(tables / "per_image.csv", dtype={"image": str})
    trained = per_image["method"].isin(["esrcnn", "espcn"])
    per_image["shift_score"] = np.where(trained, 0.1, np.nan)
    flagged = (per_image["method"] == "esrcnn") & (per_image["image"] == "chelsea")
    per_image.loc[flagged, "shift_score"] = 0.97
    per_image["shift_flagged"] = np.where(trained, flagged, None)
    per_image.loc[flagged, "interval_q"] = 3 * per_image.loc[flagged, "conformal_q"]
    per_image.to_csv(tables / "per_image.csv", index=False)
    out = tmp_path / "viewer"
    index = results_viewer(tiny_blocks(tiny_run), tables / "per_image.csv", tables, out,
                           heatmap=HeatmapSettings().to_config(), channel="y")
    assert index == out / "index.html"
    assert "unlike the training data: 1" in index.read_text()
    result = selftest(chromium, out / BLOCK / "chelsea.html", "#m=bicubic,esrcnn,espcn")
    assert result["shift_badges"] == ["esrcnn"]
    assert result["widened_badges"] == ["esrcnn shift-aware ×3.00"]
    camera = selftest(chromium, out / BLOCK / "camera.html", "#m=bicubic,esrcnn,espcn")
    assert camera["shift_badges"] == [] and camera["widened_badges"] == []
    # the widened image's heatmap is the std times 3 (its interval over the static one)
    blocks = tiny_blocks(tiny_run)
    k = list(blocks[0]["sr"]).index("esrcnn")
    hr = Path(blocks[0]["hr"]) / "chelsea.png"
    block = Block("tiny-test", 2, "bicubic", hr.parent,
                  {m: Path(d) for m, d in blocks[0]["sr"].items()}, table_csv=tables / "x.csv",
                  unc_dirs={m: Path(d) for m, d in blocks[0]["uncertainty"].items()},
                  sigma_scales={m: read_sigma_scale(f)
                                for m, f in blocks[0]["calibration"].items()})
    std = panel(block, "esrcnn", hr, "y").std
    scale = HeatmapSettings().scale
    assert np.array_equal(std_codes(out / BLOCK / "chelsea", k), scale_codes(3 * std, scale))
    camera_std = panel(block, "esrcnn", hr.with_name("camera.png"), "y").std
    assert np.array_equal(std_codes(out / BLOCK / "camera", k), scale_codes(camera_std, scale))


def std_codes(folder: Path, method: int) -> np.ndarray:
    """The std plane (colour-scale codes) of one method in an image page's ``data.js``."""
    text = (folder / "data.js").read_text(encoding="utf-8")
    data = json.loads(text[text.index("=") + 1:].rstrip(";"))
    return unpack(data["methods"][method]["std"], (data["height"], data["width"]))
