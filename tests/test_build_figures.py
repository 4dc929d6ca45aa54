"""The driver of `make figures`: order, stamps, failures, parallel jobs."""

import json

import pytest

pytest.importorskip("papermill")

NOTEBOOK = """# %% tags=["parameters"]
scale = "cpu"
figures_dir = "."

# %%
{body}
"""


@pytest.fixture
def driver(monkeypatch):
    """tools/build_figures.py as a module (its folder is put on sys.path)."""
    from pathlib import Path

    tools = Path(__file__).resolve().parent.parent / "tools"
    monkeypatch.syspath_prepend(str(tools))
    import build_figures

    return build_figures


def write_notebooks(folder, bodies):
    """Write one py:percent notebook per (stem, code) in `bodies`."""
    folder.mkdir()
    for stem, body in bodies.items():
        (folder / f"{stem}.py").write_text(NOTEBOOK.format(body=body))


def arguments(tmp_path, *extra):
    """Command line of the driver with every folder under tmp_path."""
    package = tmp_path / "package"
    package.mkdir(exist_ok=True)
    (package / "code.py").write_text("x = 1\n")
    return [
        "--scale", "smoke",
        "--notebooks-dir", str(tmp_path / "notebooks"),
        "--build-dir", str(tmp_path / "build"),
        "--figures-dir", str(tmp_path / "figures"),
        "--package-dir", str(package),
        "--runs-dir", str(tmp_path / "runs"),
        "--results-dir", str(tmp_path / "results"),
        *extra,
    ]


def test_parallel_jobs_respect_order_and_stamps(driver, tmp_path, monkeypatch,
                                                capsys):
    # 2_reader may only start once 1_writer is done; 3_alone runs beside them
    write_notebooks(tmp_path / "notebooks", {
        "1_writer": "import time, pathlib\n"
                    "time.sleep(2)\n"
                    "pathlib.Path(figures_dir, 'shared.txt').write_text(scale)",
        "2_reader": "import pathlib\n"
                    "assert pathlib.Path(figures_dir, 'shared.txt').read_text() "
                    "== 'smoke'",
        "3_alone": "x = 3",
    })
    monkeypatch.setattr(driver, "AFTER", {"2_reader": ("1_writer",)})
    args = arguments(tmp_path, "--jobs", "2")

    assert driver.main(args) == 0
    runtimes = json.loads((tmp_path / "build" / "runtimes-smoke.json").read_text())
    assert sorted(runtimes) == ["1_writer", "2_reader", "3_alone"]
    assert (tmp_path / "build" / "2_reader.smoke.log").is_file()

    # nothing changed: nothing runs; a changed notebook runs again alone
    capsys.readouterr()
    assert driver.main(args) == 0
    assert capsys.readouterr().out.count("unchanged, skipped") == 3
    (tmp_path / "notebooks" / "3_alone.py").write_text(NOTEBOOK.format(body="x = 4"))
    assert driver.main(args) == 0
    out = capsys.readouterr().out
    assert "3_alone: running" in out and out.count("unchanged, skipped") == 2

    # a notebook runs again when one it reads from does
    (tmp_path / "notebooks" / "1_writer.py").write_text(
        NOTEBOOK.format(body="import pathlib\n"
                        "pathlib.Path(figures_dir, 'shared.txt').write_text(scale)"))
    assert driver.main(args) == 0
    out = capsys.readouterr().out
    assert "1_writer: running" in out and "2_reader: running" in out
    assert "3_alone: unchanged, skipped" in out


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failing_notebook_is_reported_and_the_others_still_run(
        driver, tmp_path, capsys, jobs):
    write_notebooks(tmp_path / "notebooks", {
        "1_broken": "raise ValueError('no such data set')",
        "2_fine": "x = 2",
    })
    assert driver.main(arguments(tmp_path, "--jobs", jobs)) == 1

    out = capsys.readouterr().out
    assert "1_broken: FAILED" in out and "no such data set" in out
    assert "2_fine: done" in out
    assert not (tmp_path / "build" / "1_broken.smoke.stamp").exists()
    assert (tmp_path / "build" / "2_fine.smoke.stamp").is_file()


def test_wall_time_follows_the_schedule(driver, monkeypatch):
    monkeypatch.setattr(driver, "AFTER", {"c": ("a", "b")})
    estimates = {"a": 10.0, "b": 4.0, "c": 3.0, "d": 5.0}

    # one job: the sum; two jobs: a | b, d (9 s); then c after a (10 + 3)
    assert driver.wall_time(list(estimates), estimates, 1) == 22.0
    assert driver.wall_time(list(estimates), estimates, 2) == 13.0


def test_schedule_starts_what_others_wait_for_first(driver, monkeypatch):
    # c (10 s) waits for b (5 s); a (12 s) and d (11 s) wait for nothing
    monkeypatch.setattr(driver, "AFTER", {"c": ("b",)})
    estimates = {"a": 12.0, "b": 5.0, "c": 10.0, "d": 11.0}
    assert driver.critical_path("b", estimates) == 15.0
    assert driver.startable(list(estimates), {}, estimates) == ["b", "a", "d"]

    # two jobs: b | a, then d at 5 s and c at 12 s: 22 s; starting the
    # longest first (a, d) would put b at 11 s and c at 16 s: 26 s
    assert driver.wall_time(list(estimates), estimates, 2) == 22.0


def test_bad_jobs_is_refused_with_the_reason(driver, tmp_path, capsys):
    with pytest.raises(SystemExit):
        driver.parse_args(["--jobs", "0"])
    assert "positive" in capsys.readouterr().err
