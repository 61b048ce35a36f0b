"""Paper figures: reconstruction grids, metric bars against published values, subject voxel masks."""

from nsdrecon.plotting.masks import plot_subject_masks
from nsdrecon.plotting.metrics import plot_metric_bars
from nsdrecon.plotting.reconstructions import plot_reconstruction_grid

__all__ = ["plot_metric_bars", "plot_reconstruction_grid", "plot_subject_masks"]
