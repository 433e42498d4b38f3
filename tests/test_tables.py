"""Tidy per-image table, summaries and the comparison tables (CSV, Markdown, LaTeX)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sruq.report.tables import (
    METRICS,
    collect,
    comparison_block,
    comparison_latex,
    comparison_markdown,
    summarise,
    table_files,
    write_summary,
    write_tables,
)

KEYS = {"dataset": "Set5", "degradation": "bicubic", "scale": 2, "trained_on": "-"}


def _rows(method: str, values: dict[str, list[float]], images=("baby", "bird"), **keys):
    base = {**KEYS, **keys}
    return pd.DataFrame([
        {**base, "method": method, "image": image, **{k: v[i] for k, v in values.items()}}
        for i, image in enumerate(images)
    ])


def _write(frame: pd.DataFrame, path):
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def metric_files(tmp_path):
    """PSNR/SSIM for three methods at x2 and x3, uncertainty metrics for one of them."""
    files = []
    for scale in (2, 3):
        for method, psnr, ssim in [("bicubic", [30.0, 28.0], [0.90, 0.80]),
                                   ("srresnet", [32.0, 30.5], [0.93, 0.85]),
                                   ("srresbnn", [32.0, 30.0], [0.92, 0.86])]:
            frame = _rows(method, {"psnr": psnr, "ssim": ssim}, scale=scale)
            files.append(_write(frame, tmp_path / f"{method}_x{scale}.csv"))
        unc = _rows("srresbnn", {"spearman": [0.5, 0.7], "ause": [0.01, 0.02]}, scale=scale)
        files.append(_write(unc, tmp_path / f"unc_x{scale}.csv"))
    return files


def test_collect_merges_metric_files_and_fills_nan(metric_files):
    table = collect(metric_files)
    assert list(table.columns) == ["dataset", "scale", "degradation", "method", "trained_on",
                                   "image", "psnr", "ssim", "spearman", "ause"]
    assert len(table) == 2 * 3 * 2
    bnn = table[(table.method == "srresbnn") & (table.scale == 3)]
    assert bnn["spearman"].tolist() == [0.5, 0.7]
    assert table[table.method == "bicubic"]["spearman"].isna().all()
    assert table["scale"].dtype.kind == "i"


def test_collect_keeps_image_names_as_text(tmp_path):
    path = _write(_rows("bicubic", {"psnr": [30.0, 31.0]}, images=("0801", "0802")),
                  tmp_path / "m.csv")
    assert collect([path])["image"].tolist() == ["0801", "0802"]


def test_collect_rejects_the_same_metric_from_two_files(tmp_path):
    a = _write(_rows("bicubic", {"psnr": [30.0, 31.0]}), tmp_path / "a.csv")
    b = _write(_rows("bicubic", {"psnr": [30.0, 31.0]}), tmp_path / "b.csv")
    with pytest.raises(ValueError, match="'psnr'.*a.csv, .*b.csv"):
        collect([a, b])


def test_collect_rejects_bad_tables(tmp_path):
    no_image = _write(_rows("bicubic", {"psnr": [1.0, 2.0]}).drop(columns="image"),
                      tmp_path / "x.csv")
    with pytest.raises(ValueError, match="x.csv.*'image'"):
        collect([no_image])
    text = _write(_rows("bicubic", {"psnr": ["a", "b"]}), tmp_path / "y.csv")
    with pytest.raises(ValueError, match="y.csv.*'psnr' is not numeric"):
        collect([text])
    with pytest.raises(ValueError, match="metric_csvs"):
        collect([])


def test_summarise_mean_and_sample_std_skip_nan():
    frame = pd.concat([
        _rows("a", {"psnr": [30.0, 32.0, 34.0], "lpips": [0.1, math.nan, 0.3]},
              images=("i1", "i2", "i3")),
        _rows("b", {"psnr": [31.0], "lpips": [math.nan]}, images=("i1",)),
    ])
    summary = summarise(frame).set_index("method")
    assert summary.loc["a", "images"] == 3
    assert summary.loc["a", "psnr"] == pytest.approx(32.0)
    assert summary.loc["a", "psnr_std"] == pytest.approx(np.std([30, 32, 34], ddof=1))
    assert summary.loc["a", "lpips"] == pytest.approx(0.2)
    assert math.isnan(summary.loc["b", "psnr_std"])  # one image: no spread
    assert math.isnan(summary.loc["b", "lpips"])


def _table_lines(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows]


def test_markdown_bolds_best_per_direction_and_formats_mean_std():
    frame = pd.concat([
        _rows("bicubic", {"psnr": [30.0, 28.0], "lpips": [0.40, 0.30]}),
        _rows("srresnet", {"psnr": [32.0, 31.0], "lpips": [0.20, 0.22]}),
        _rows("srgan", {"psnr": [29.0, 27.0], "lpips": [0.10, 0.12]}),
    ])
    lines = _table_lines(comparison_markdown(summarise(frame)))
    assert lines[0] == ["Method", "PSNR (dB) ↑", "LPIPS ↓"]
    cells = {row[0]: row[1:] for row in lines[1:]}
    assert cells["srresnet"][0] == f"**31.50 ± {np.std([32, 31], ddof=1):.2f}**"  # max PSNR
    assert cells["srgan"][1] == f"**0.1100 ± {np.std([0.10, 0.12], ddof=1):.4f}**"  # min LPIPS
    assert cells["bicubic"] == ["29.00 ± 1.41", "0.3500 ± 0.0707"]
    assert not cells["srgan"][0].startswith("**")


def test_ties_at_shown_precision_are_all_bold():
    frame = pd.concat([
        _rows("a", {"psnr": [30.001, 30.001]}), _rows("b", {"psnr": [30.004, 30.004]}),
        _rows("c", {"psnr": [29.0, 29.0]}),
    ])
    cells = {row[0]: row[1] for row in _table_lines(comparison_markdown(summarise(frame)))[1:]}
    assert cells == {"a": "**30.00 ± 0.00**", "b": "**30.00 ± 0.00**", "c": "29.00 ± 0.00"}


def test_only_metrics_with_data_are_columns_and_missing_cells_are_dashes():
    frame = pd.concat([
        _rows("bicubic", {"psnr": [30.0, 28.0], "spearman": [math.nan, math.nan],
                          "lpips": [math.nan, math.nan]}),
        _rows("srresbnn", {"psnr": [31.0, 29.0], "spearman": [0.4, 0.6],
                           "lpips": [math.nan, math.nan]}),
    ])
    markdown = comparison_markdown(summarise(frame))
    lines = _table_lines(markdown)
    assert lines[0] == ["Method", "PSNR (dB) ↑", "Spearman ↑"]  # no LPIPS: never computed
    assert lines[1][2] == "–"
    assert lines[2][2] == "0.500 ± 0.141"  # the only value: nothing to compare, not bold
    assert "mean ± std over 2 images" in markdown


def test_latex_is_booktabs_with_escaped_text():
    frame = pd.concat([
        _rows("srresnet_mc 50%", {"psnr": [32.0, 31.0], "ssim": [0.9, 0.8]},
              dataset="my_set", degradation="bd&noise"),
        _rows("bicubic", {"psnr": [30.0, 29.0], "ssim": [0.91, 0.81]},
              dataset="my_set", degradation="bd&noise"),
    ])
    tex = comparison_latex(summarise(frame))
    lines = tex.splitlines()
    order = [lines.index(rule) for rule in ("\\toprule", "\\midrule", "\\bottomrule")]
    assert order == sorted(order)
    assert "\\begin{tabular}{lcc}" in lines
    assert "Method & PSNR (dB) $\\uparrow$ & SSIM $\\uparrow$ \\\\" in lines
    assert "srresnet\\_mc 50\\% & $\\mathbf{31.50 \\pm 0.71}$ & $0.8500 \\pm 0.0707$ \\\\" in lines
    assert "bicubic & $29.50 \\pm 0.71$ & $\\mathbf{0.8600 \\pm 0.0707}$ \\\\" in lines
    assert "my\\_set" in tex and "bd\\&noise" in tex
    assert "\\label{tab:my-set-x2-bd-noise}" in lines
    body = lines[order[1] + 1:order[2]]
    assert all(line.count(" & ") == 2 and line.endswith("\\\\") for line in body)
    assert lines[1] == "\\begin{table}[t]" and lines[-1] == "\\end{table}"


def test_comparison_block_of_a_missing_combination_is_an_error(metric_files):
    summary = summarise(collect(metric_files))
    with pytest.raises(ValueError, match="'Set14'"):
        comparison_block(summary, "Set14", 2, "bicubic")


def test_write_tables_writes_exactly_the_declared_files_and_regenerates(metric_files, tmp_path):
    out = tmp_path / "tables"
    written = write_tables(metric_files, out)
    assert written == table_files(out, [("Set5", 2, "bicubic"), ("Set5", 3, "bicubic")])
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    assert all(p.stat().st_size > 0 for p in written)
    first = {p: p.read_bytes() for p in written}
    write_tables(metric_files, out)
    assert {p: p.read_bytes() for p in written} == first

    per_image = pd.read_csv(out / "per_image.csv")
    assert len(per_image) == 12 and per_image["spearman"].notna().sum() == 4
    block = pd.read_csv(out / "Set5_x3_bicubic.csv").set_index("method")
    assert block.loc["srresnet", "psnr"] == pytest.approx(31.25)
    assert math.isnan(block.loc["bicubic", "ause"])
    markdown = (out / "Set5_x2_bicubic.md").read_text()
    assert "| srresbnn | 31.00 ± 1.41 |" in markdown and "AUSE ↓" in markdown
    overview = (out / "summary.md").read_text()
    assert "| bicubic | 29.00 / 0.8500 | 29.00 / 0.8500 |" in overview
    assert "Set5 x2 | Set5 x3" in overview


def test_write_summary_keeps_the_workflow_call(metric_files, tmp_path):
    outs = [tmp_path / name for name in ("per_image.csv", "summary.csv", "summary.md")]
    summary = write_summary(metric_files, *outs)
    assert set(summary["method"]) == {"bicubic", "srresnet", "srresbnn"}
    assert pd.read_csv(outs[1]).shape[0] == 6


def test_metric_directions():
    assert [m for m, spec in METRICS.items() if spec.higher_is_better] == [
        "psnr", "ssim", "pearson", "spearman", "ccoeff_bayescap"]
    assert [m for m, spec in METRICS.items() if spec.higher_is_better is None] == [
        "coverage", "shift_score", "shift_flagged"]
    assert {"uce_bayescap", "interval_width"} <= {
        m for m, spec in METRICS.items() if spec.higher_is_better is False}


def test_coverage_column_has_no_arrow_and_no_bold(tmp_path):
    values = {"a": 0.9, "b": 0.99}
    files = [_write(_rows(m, {"psnr": [30.0, 31.0], "ssim": [0.9, 0.9], "coverage": [c, c]}),
                    tmp_path / f"{m}.csv") for m, c in values.items()]
    write_tables(files, tmp_path / "out")
    markdown = (tmp_path / "out" / "Set5_x2_bicubic.md").read_text()
    assert "| Coverage |" in markdown and "0.990" in markdown and "**0.990" not in markdown
    assert "ΔPSNR" not in markdown  # no bicubic rows: no reference, no column


def test_psnr_difference_column_with_bootstrap_interval(tmp_path):
    rng = np.random.default_rng(5)
    base = rng.normal(30.0, 2.0, 50)
    images = [f"im{i:02d}" for i in range(50)]
    methods = {"bicubic": base, "better": base + 0.5 + rng.normal(0, 0.3, 50),
               "same": base + rng.normal(0, 0.3, 50)}
    files = [_write(_rows(m, {"psnr": list(v), "ssim": [0.9] * 50}, images=images),
                    tmp_path / f"{m}.csv") for m, v in methods.items()]
    out = tmp_path / "out"
    write_tables(files, out, seed=3, samples=1000)
    block = pd.read_csv(out / "Set5_x2_bicubic.csv").set_index("method")
    assert block[["dpsnr", "dpsnr_low", "dpsnr_high"]].loc["bicubic"].isna().all()
    better = block.loc["better"]
    truth = float(np.mean(methods["better"] - base))
    assert better.dpsnr == pytest.approx(truth, abs=1e-6)
    assert better.dpsnr_low < 0.5 < better.dpsnr_high and better.dpsnr_low > 0
    assert block.loc["same"].dpsnr_low < 0 < block.loc["same"].dpsnr_high
    markdown = (out / "Set5_x2_bicubic.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| Method"))
    assert header.startswith("| Method | PSNR (dB) ↑ | ΔPSNR vs bicubic [95% CI] |")
    row = next(line for line in markdown.splitlines() if line.startswith("| bicubic |"))
    assert row.split(" | ")[2] == "–"
    cell = f"{better.dpsnr:+.2f} [{better.dpsnr_low:+.2f}, {better.dpsnr_high:+.2f}]"
    assert f"| {cell} |" in markdown
    tex = (out / "Set5_x2_bicubic.tex").read_text()
    assert r"$\Delta$PSNR vs bicubic [95\% CI]" in tex
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    write_tables(files, out, seed=3, samples=1000)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first  # deterministic
    write_tables(files, out, seed=4, samples=1000)
    assert pd.read_csv(out / "Set5_x2_bicubic.csv").dpsnr_low.tolist() != block.dpsnr_low.tolist()
    write_tables(files, out, reference="same")
    block = pd.read_csv(out / "Set5_x2_bicubic.csv").set_index("method")
    assert math.isnan(block.loc["same"].dpsnr) and block.loc["bicubic"].dpsnr < 0


def test_tables_module_does_not_import_torch():
    code = "import sys, sruq.report.tables; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
