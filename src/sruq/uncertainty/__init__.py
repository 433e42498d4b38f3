"""MC-dropout inference, uncertainty heatmaps and uncertainty-quality metrics."""

from sruq.uncertainty.details import PatchScore, rank_patches, save_details, select_patches
from sruq.uncertainty.heatmaps import (
    DEFAULT_SCALE,
    SEED_SCALE,
    HeatmapScale,
    heatmap_rgb,
    save_colorbar,
    save_heatmap,
    std_map,
)
from sruq.uncertainty.mc import MCResult, mc_naive, mc_predict
from sruq.uncertainty.outputs import error_map, save_outputs
from sruq.uncertainty.quality import (
    ReliabilityData,
    SparsificationCurves,
    ause,
    fit_sigma_scale,
    gaussian_nll,
    pearson,
    plot_reliability,
    plot_sparsification,
    reliability_diagram_data,
    sparsification_curves,
    spearman,
    uce,
    uncertainty_metrics,
)
from sruq.uncertainty.sources import DeepEnsembleSource, MCDropoutSource, UncertaintySource
from sruq.uncertainty.tiling import Box, Tiling, predict_image

__all__ = [
    "DEFAULT_SCALE",
    "SEED_SCALE",
    "Box",
    "HeatmapScale",
    "DeepEnsembleSource",
    "MCDropoutSource",
    "MCResult",
    "PatchScore",
    "ReliabilityData",
    "SparsificationCurves",
    "Tiling",
    "UncertaintySource",
    "ause",
    "error_map",
    "fit_sigma_scale",
    "gaussian_nll",
    "heatmap_rgb",
    "mc_naive",
    "mc_predict",
    "pearson",
    "plot_reliability",
    "plot_sparsification",
    "predict_image",
    "rank_patches",
    "reliability_diagram_data",
    "save_colorbar",
    "save_details",
    "save_heatmap",
    "save_outputs",
    "select_patches",
    "sparsification_curves",
    "spearman",
    "std_map",
    "uce",
    "uncertainty_metrics",
]
