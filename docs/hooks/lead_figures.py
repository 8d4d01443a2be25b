"""mkdocs hook: every domain page opens with a figure from its executed notebook.

CI executes the notebooks in place (`pytest --nbmake --overwrite notebooks`) before
`mkdocs build`, so the figure under each page's title is the one the code drew in that run,
never a stale picture kept in the repository. The image goes inline (a data URI): nothing is
written beside the sources. A notebook with no saved figure (not executed) leaves the page as
it is, and `check_site.py` fails CI on it.
"""

from __future__ import annotations

import json
import pathlib

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"

#: page -> (notebook, which of its figures, caption)
LEAD_FIGURES = {
    "kernels.md": ("01_kernels_and_gp", 0, "Kernels as functions of the distance, and samples"),
    "gp.md": ("01_kernels_and_gp", -1, "A GP posterior fitted by its marginal likelihood"),
    "scalable.md": ("scalable", 0, "Matrix-free GP regression: CG and stochastic Lanczos"),
    "statespace.md": ("statespace", 0, "A state-space GP: Kalman filter and smoother"),
    "classification.md": ("classification", 0, "GP classification of two half-moons"),
    "quadrature.md": ("quadrature", 0, "Bayesian quadrature"),
    "equivariant.md": ("equivariant", 0, "Gaunt tensor products"),
    "ssm.md": ("ssm", 0, "Diagonal state-space kernels"),
    "pde.md": ("pde", 0, "A PDE solved by GP collocation"),
    "density.md": ("density", 0, "Kernel density estimation, private and not"),
    "features.md": ("features", 0, "Random features against the exact kernel"),
    "deep.md": ("deep", 0, "Infinite-width kernels and deep kernel machines"),
    "special.md": ("special", 0, "Log-Bessel functions across their range"),
    "timeseries.md": ("timeseries", 0, "Random convolutional kernels on time series"),
    "graphs.md": ("graphs", 0, "Kernels on graphs"),
    "objectives.md": ("objectives", 0, "Kernel objectives"),
    "curvature.md": ("curvature", 0, "Curvature: Lanczos spectra and M-FAC"),
    "layers.md": ("layers", 0, "Kernel layers"),
}


def figures(notebook: str) -> list[str]:
    """The base64 PNGs a notebook's saved outputs hold, in order."""
    cells = json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text())["cells"]
    found = []
    for cell in cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                found.append("".join(png).replace("\n", ""))
    return found


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    entry = LEAD_FIGURES.get(page.file.src_uri)
    if entry is None:
        return markdown
    notebook, index, caption = entry
    pngs = figures(notebook)
    if not pngs:
        return markdown
    lines = markdown.split("\n")
    title = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
    figure = (f"\n![{caption}](data:image/png;base64,{pngs[index]})\n\n"
              f"*{caption}: a figure from the [notebook](notebooks/{notebook}.ipynb), "
              "drawn when CI last ran it.*\n")
    return "\n".join(lines[: title + 1] + [figure] + lines[title + 1:])
