"""Every ```python block in docs/*.md runs as written (issue 25: copy-paste must work).

The blocks of one page run in order in one namespace, as a reader pastes them into one session.
A block whose first line is `# not run: <why>` is skipped (e.g. it needs 8 devices or a GPU).
"""

from __future__ import annotations

import pathlib
import re

import jax
import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _pages():
    return sorted(p for p in DOCS.glob("*.md") if BLOCK.search(p.read_text()))


def test_docs_have_code_blocks():
    assert len(_pages()) >= 10  # guard: a test that looked at nothing would pass


# Together the pages take minutes: the README's fast run leaves them to CI's full run.
@pytest.mark.slow
@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_docs_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a block that writes files writes them here
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    x64 = jax.config.jax_enable_x64  # a page may switch float64 on; the next test must not see it
    try:
        for number, block in enumerate(BLOCK.findall(page.read_text()), 1):
            if block.startswith("# not run:"):
                continue
            code = compile(block, f"{page.name} (block {number})", "exec")
            # A reader runs with JAX's default promotion rules, not the suite's strict ones.
            with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
                exec(code, namespace)  # noqa: S102 - running the docs is the point
    finally:
        jax.config.update("jax_enable_x64", x64)
        jax.clear_caches()  # a page compiles hundreds of programs no other page reuses
