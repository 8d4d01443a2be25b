"""The house rules of DESIGN.md, read from the source with `ast`.

- No room imports another room's private module (`jaxkern.<room>._<name>`); the top-level
  private modules (`jaxkern._validation`, `jaxkern._marginals`, ...) are floor-0 plumbing
  that every room may use.
- A lower floor never imports a higher one.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "jaxkern"

#: DESIGN.md, "The house: floors and rooms"; a room missing here fails test_every_room_has_a_floor.
FLOORS = {
    "special": 0, "linalg": 0, "optim": 0,  # and every top-level private module, see `_floor`
    "kernels": 1,
    "gp": 2, "quadrature": 2, "pde": 2, "density": 2, "ssm": 2, "equivariant": 2, "deep": 2,
    "features": 2, "timeseries": 2, "graphs": 2, "layers": 2,
    "flax": 3,
    "_tour": 4, "__main__": 4,
    "__init__": 4,  # `jaxkern/__init__.py`, the front door: re-exports, imported by nobody inside
}


def _module_name(path: pathlib.Path) -> list[str]:
    """['jaxkern', 'kernels', '_gram'] for jaxkern/kernels/_gram.py; a package's __init__.py
    is the package itself."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _room(module: list[str]) -> str:
    """The room of a module: its subpackage ('kernels'), or the top-level module's own name
    ('_validation', '__main__'); '__init__' for the package `jaxkern` itself."""
    return module[1] if len(module) > 1 else "__init__"


def _is_module(parts: list[str]) -> bool:
    path = PACKAGE.parent.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: pathlib.Path, source: str | None = None):
    """(line, imported module as a list of names) for every import of jaxkern in a file,
    relative or absolute, at any depth (lazy imports inside functions count too).
    `from pkg import name` counts as an import of `pkg.name` when that is a module."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module[:-1]
    source = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "jaxkern":
                    yield node.lineno, alias.name.split(".")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            else:
                target = node.module.split(".")
            if target[0] != "jaxkern":
                continue
            submodules = [target + [a.name] for a in node.names if _is_module(target + [a.name])]
            yield from ((node.lineno, t) for t in submodules or [target])


def _floor(room: str) -> int | None:
    if room in FLOORS:
        return FLOORS[room]
    if room.startswith("_") and not (PACKAGE / room).is_dir():
        return 0  # top-level private module (jaxkern/_validation.py): shared plumbing, floor 0
    return None


def _files() -> list[pathlib.Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _relative(path: pathlib.Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_layout_sees_the_package():
    # Guard against a test that passes because it looked at nothing.
    assert len(_files()) > 20
    gram = PACKAGE / "kernels" / "_gram.py"
    assert (["jaxkern", "linalg"]) in [t for _, t in _imports(gram)]


def test_every_room_has_a_floor():
    rooms = {_room(_module_name(p)) for p in _files()}
    missing = sorted(r for r in rooms if _floor(r) is None)
    assert not missing, f"rooms without a floor in DESIGN.md / FLOORS above: {missing}"


def test_no_room_imports_another_rooms_private_module():
    bad = []
    for path in _files():
        own = _room(_module_name(path))
        for line, target in _imports(path):
            # jaxkern.<room>._<private>...: a private module inside another room's subpackage
            if len(target) < 3 or target[1] == own:
                continue
            if (PACKAGE / target[1]).is_dir() and any(p.startswith("_") for p in target[2:]):
                bad.append(f"{_relative(path)}:{line}: imports {'.'.join(target)}")
    assert not bad, "private cross-room imports (use the room's public names):\n" + "\n".join(bad)


def test_lower_floors_never_import_higher_ones():
    bad = []
    for path in _files():
        own = _room(_module_name(path))
        for line, target in _imports(path):
            theirs = _room(target)
            if theirs == own or _floor(own) is None or _floor(theirs) is None:
                continue  # same room; unknown rooms fail test_every_room_has_a_floor
            if _floor(theirs) > _floor(own):
                bad.append(f"{_relative(path)}:{line}: floor {_floor(own)} ({own}) imports "
                           f"floor {_floor(theirs)} ({'.'.join(target)})")
    assert not bad, "imports from a higher floor:\n" + "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from ..kernels._gram import gram\n", ["jaxkern.kernels._gram"]),
    ("from ..kernels import _stationary as st\n", ["jaxkern.kernels._stationary"]),
    ("from .. import kernels\n", ["jaxkern.kernels"]),
    ("from .._validation import check_int\n", ["jaxkern._validation"]),
    ("from ._gaunt import gaunt_product\n", ["jaxkern.gp._gaunt"]),
    ("import jaxkern.linalg._cholesky\n", ["jaxkern.linalg._cholesky"]),
])
def test_import_resolution(source, expected):
    # The resolver on source placed in jaxkern/gp/ (the path only names the package).
    probe = PACKAGE / "gp" / "_layout_probe.py"
    assert [".".join(t) for _, t in _imports(probe, source)] == expected
