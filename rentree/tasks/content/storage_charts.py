"""The storage report's charts (PNG): space by area region-wide, per school for the largest
schools, and the distribution of quota use."""

from __future__ import annotations

import io

import polars as pl

from rentree.tasks.content.storage_places import AREA_COLUMNS, AREA_LABELS, QUOTA_ALERT_RATIO

CHART_SCHOOLS = 20
CHART_NAMES = {
    "region_by_area": "storage-region-by-area.png",
    "schools_by_area": "storage-schools-by-area.png",
    "quota_use": "storage-quota-use.png",
}


def _unit(largest: float) -> tuple[float, str]:
    for size, name in ((1024**4, "TiB"), (1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if largest >= size:
            return float(size), name
    return 1.0, "bytes"


def storage_charts(
    region: pl.DataFrame,
    schools: pl.DataFrame,
    users: pl.DataFrame,
    schools_shown: int = CHART_SCHOOLS,
) -> dict[str, bytes]:
    """Space by area region-wide (bar), per school for the largest schools (stacked bars),
    and the distribution of quota use (histogram), as PNG bytes."""
    # The Agg canvas is bound to each figure explicitly: no pyplot, no global backend switch,
    # no figure left registered anywhere once the bytes are out.
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def png(figure: Figure) -> bytes:
        buffer = io.BytesIO()
        FigureCanvasAgg(figure).print_png(buffer)
        return buffer.getvalue()

    labels = [AREA_LABELS[c] for c in AREA_COLUMNS]
    region_row = region.row(0, named=True) if region.height else {}
    region_values = [float(region_row.get(c) or 0) for c in AREA_COLUMNS]
    scale, unit = _unit(max(region_values, default=0.0))

    # Fixed margins rather than a layout engine: constrained layout measures every text
    # twice and costs more than the drawing; the labels' room is known beforehand.
    fig = Figure(figsize=(10, 5.5))
    fig.subplots_adjust(left=0.40, right=0.97, top=0.92, bottom=0.11)
    ax = fig.add_subplot()
    ax.barh(labels, [v / scale for v in region_values], color="#3b6ea8")
    ax.invert_yaxis()
    ax.set_xlabel(f"Espace occupé / space used ({unit})")
    ax.set_title("Espace par zone, région / space by area, region-wide")
    charts = {"region_by_area": png(fig)}

    largest = schools.sort(["total_bytes", "structure_uai"], descending=[True, False]).head(
        schools_shown
    )
    scale, unit = _unit(float(largest.select(pl.col("total_bytes").max()).item() or 0))
    fig = Figure(figsize=(12, 6))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.93, bottom=0.2)
    ax = fig.add_subplot()
    names = largest["structure_uai"].to_list()
    bottom = [0.0] * len(names)
    for column, label in zip(AREA_COLUMNS, labels, strict=True):
        values = [v / scale for v in largest[column].cast(pl.Float64).to_list()]
        ax.bar(names, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel(f"Espace occupé / space used ({unit})")
    ax.set_title(
        f"Espace par zone, les {len(names)} écoles les plus chargées / "
        f"space by area, the {len(names)} largest schools"
    )
    ax.tick_params(axis="x", labelrotation=60)
    ax.legend(fontsize="small")
    charts["schools_by_area"] = png(fig)

    # Binned here, so that drawing costs the same for ten users or a million.
    use = users["quota_use"].drop_nulls().clip(upper_bound=1.2).to_numpy() * 100
    counts, edges = np.histogram(use, bins=np.arange(0, 125, 5))
    fig = Figure(figsize=(10, 5))
    fig.subplots_adjust(left=0.09, right=0.97, top=0.91, bottom=0.12)
    ax = fig.add_subplot()
    ax.stairs(counts, edges, fill=True, color="#6a9f58")
    ax.axvline(QUOTA_ALERT_RATIO * 100, color="#c0392b", linestyle="--", label="80 %")
    ax.set_xlabel("Part du quota utilisée / share of quota used (%, 120 = 120 % ou plus / or more)")
    ax.set_ylabel("Utilisateurs / users")
    ax.set_title("Utilisation des quotas / quota use")
    ax.legend()
    charts["quota_use"] = png(fig)
    return charts
