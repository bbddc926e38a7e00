"""Drawing the WIDER FACE precision-recall curves into a PNG."""
import os
import os.path as osp
from typing import Mapping, Optional

from .wider_face_eval import WiderPRCurve


def plot_wider_pr_curves(curves: Mapping[str, WiderPRCurve],
                         out_file: str,
                         title: Optional[str] = None) -> str:
    """Save the precision-recall curve of each setting, with its AP, as one PNG.

    Uses matplotlib's Agg canvas directly (no pyplot state), so it is safe on headless
    machines and inside training processes.

    Args:
        curves (Mapping[str, WiderPRCurve]): Setting name -> curve, e.g. from
            :func:`evaluate_wider`.
        out_file (str): The PNG path; its folder is created if needed.
        title (str, optional): The figure title. Defaults to None.

    Returns:
        str: ``out_file``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for setting, curve in curves.items():
        axes.plot(curve.recall, curve.precision,
                  label=f'{setting}: AP {curve.ap:.3f} ({curve.num_faces} faces)')
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel('recall')
    axes.set_ylabel('precision')
    axes.grid(True, alpha=0.3)
    axes.legend(loc='lower left')
    if title:
        axes.set_title(title)
    folder = osp.dirname(osp.abspath(out_file))
    os.makedirs(folder, exist_ok=True)
    figure.savefig(out_file)
    return out_file
