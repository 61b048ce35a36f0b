"""Paper figures: reconstruction grids, metric bars against published values, HAVIR ablations,
subject voxel masks, decoder weight maps and the per-subject pathway summary."""

from nsdrecon.plotting.ablations import plot_ablations
from nsdrecon.plotting.masks import plot_subject_masks
from nsdrecon.plotting.metrics import plot_metric_bars
from nsdrecon.plotting.pathways import plot_pathways
from nsdrecon.plotting.reconstructions import plot_reconstruction_grid
from nsdrecon.plotting.weights import plot_weight_maps, weight_volume

__all__ = [
    "plot_ablations",
    "plot_metric_bars",
    "plot_pathways",
    "plot_reconstruction_grid",
    "plot_subject_masks",
    "plot_weight_maps",
    "weight_volume",
]
