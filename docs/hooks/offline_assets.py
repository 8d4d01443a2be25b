"""mkdocs hook: serve MathJax from the built site, so pages render their maths offline.

The docs used to load MathJax from a CDN; without a network (and on machines that reach only
the package index) the pages showed raw LaTeX. MathJax 2.7 ships inside the
`jupyter-server-mathjax` wheel (the `dev` extra), so it installs with pip like everything else;
this hook copies it into `site/assets/mathjax/` after the build.
"""

from __future__ import annotations

import pathlib
import shutil


def mathjax_source() -> pathlib.Path:
    import jupyter_server_mathjax

    return pathlib.Path(jupyter_server_mathjax.__file__).parent / "static"


def on_post_build(config, **kwargs) -> None:
    target = pathlib.Path(config["site_dir"]) / "assets" / "mathjax"
    shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)
