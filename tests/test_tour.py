"""The tour's command line: verdicts, warnings collected under the table, exit status."""

from __future__ import annotations

import warnings

import jaxkern._tour
from jaxkern import Float32PrecisionWarning
from jaxkern.__main__ import main
from jaxkern._tour import Stop


def _fake_run(outdir):
    outdir.mkdir(parents=True, exist_ok=True)
    for _ in range(2):  # the same warning twice: printed once
        warnings.warn("a float32 Cholesky", Float32PrecisionWarning, stacklevel=1)
    yield "gp", Stop("exact GP", "a problem whose name is far too long to fit in its column", 1e-9,
                     1e-6), 0.1
    yield "gp", Stop("another", "fails", 0.5, 0.1), 0.2


def test_tour_prints_verdicts_and_fails_on_a_failed_stop(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(jaxkern._tour, "run", _fake_run)
    status = main(["tour", "--out", str(tmp_path / "plots")])
    out = capsys.readouterr().out
    assert status == 1
    table = out.splitlines()
    assert any(line.rstrip().endswith("pass") for line in table)
    assert any(line.rstrip().endswith("FAIL") for line in table)
    assert "…" in out  # the long problem name was cut, not allowed to push the columns
    assert out.count("a float32 Cholesky") == 1
    assert "1 passed, 1 failed" in out.splitlines()[-1]


def test_tour_passes_with_zero_exit(monkeypatch, tmp_path, capsys):
    def one_good(outdir):
        yield "kernels", Stop("rbf", "vs sklearn", 0.0, 1e-12), 0.01

    monkeypatch.setattr(jaxkern._tour, "run", one_good)
    assert main(["tour", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 passed, 0 failed" in out and "all passed" in out
