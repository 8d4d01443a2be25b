"""Check a built docs site (CI): maths served locally, notebooks carry their figures.

    python docs/hooks/check_site.py SITE_DIR

Fails when a page loads MathJax from the network, when MathJax is missing from the site, when
no page carries typeset-able maths, or when a notebook page or a domain page (which opens with
a notebook's figure, `lead_figures.py`) has no rendered figure (the notebooks were not executed
before the build).
"""

from __future__ import annotations

import pathlib
import re
import sys

from lead_figures import LEAD_FIGURES

REMOTE_MATHJAX = re.compile(r"""src=["']https?://[^"']*mathjax""", re.IGNORECASE)
FIGURE = re.compile(r"""<img[^>]+src=["']data:image/png;base64,""")


def problems(site: pathlib.Path) -> list[str]:
    found = []
    if not (site / "assets" / "mathjax" / "MathJax.js").is_file():
        found.append("assets/mathjax/MathJax.js is missing: the maths would not render")
    pages = sorted(site.rglob("index.html"))
    if not any('class="arithmatex"' in p.read_text() for p in pages):
        found.append("no page has maths for MathJax to typeset (arithmatex off?)")
    for page in pages:
        html = page.read_text()
        if REMOTE_MATHJAX.search(html):
            found.append(f"{page.relative_to(site)} loads MathJax from the network")
        if page.parent.parent.name == "notebooks" and not FIGURE.search(html):
            found.append(f"{page.relative_to(site)}: a notebook page without a figure")
    for name in LEAD_FIGURES:
        page = site / name.removesuffix(".md") / "index.html"
        if not page.is_file() or not FIGURE.search(page.read_text()):
            found.append(f"{page.relative_to(site)}: the domain page does not open with a figure")
    notebooks = [p for p in pages if p.parent.parent.name == "notebooks"]
    if not notebooks:
        found.append("no notebook pages were built")
    return found


if __name__ == "__main__":
    site = pathlib.Path(sys.argv[1])
    issues = problems(site)
    for line in issues:
        print(f"docs site: {line}")
    n = len(list(site.rglob("index.html")))
    print(f"docs site: {n} pages checked, {len(issues)} problem(s)")
    sys.exit(1 if issues else 0)
