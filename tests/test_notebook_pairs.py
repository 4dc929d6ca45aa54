"""Each notebooks/*.py and its paired .ipynb hold the same cells.

make figures runs the py:percent scripts and nbval runs the .ipynb files,
so a pair that drifted apart would test one notebook and publish another.
"""

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SCRIPTS = sorted(NOTEBOOKS.glob("[0-9]*.py"))


def cells(notebook):
    """(cell type, source, tags) of every cell."""
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ())))
            for c in notebook.cells]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_script_and_notebook_hold_the_same_cells(script):
    paired = script.with_suffix(".ipynb")
    assert paired.is_file(), f"{paired.name} is missing: run jupytext --sync {script}"

    from_script = cells(jupytext.read(script, fmt="py:percent"))
    from_notebook = cells(jupytext.read(paired))
    assert from_script == from_notebook, (
        f"{script.name} and {paired.name} differ: run jupytext --sync {script}"
    )


def test_every_notebook_has_one_parameters_cell():
    for script in SCRIPTS:
        tagged = [c for c in cells(jupytext.read(script, fmt="py:percent"))
                  if "parameters" in c[2]]
        assert len(tagged) == 1, f"{script.name}: {len(tagged)} parameters cells"
