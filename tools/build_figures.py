"""Run the notebooks and write their figures: the driver behind `make figures`.

The py:percent scripts notebooks/[0-9]*.py are the source. Each is converted
to a fresh notebook under build/notebooks/ and executed there with papermill
(the paired .ipynb in notebooks/ is never executed in place), with the
parameters

    scale        "smoke", "cpu" or "paper"
    figures_dir  absolute path of figures/ (--figures-dir)
    runs_dir     absolute path of runs/ (--runs-dir): distilled data, pools
    results_dir  absolute path of results/ (--results-dir): one JSON per row
    device       "cuda" when torch sees a GPU, else "cpu"
    data_root    $DISTILL_DATA_ROOT, only when it is set

injected after the notebook's cell tagged "parameters". A notebook is run
again only when its source, the scale, or the package's code changed since
its last successful run (a stamp file under build/notebooks/ records that).

With --jobs N, up to N notebooks run at once, each in its own process with
its output in build/notebooks/<stem>.<scale>.log; a notebook that reuses
another's runs or results (AFTER below) starts only once that one is done.
Torch's thread count comes from the environment (OMP_NUM_THREADS), so the
results do not depend on the number of jobs.

Usage (from the repository root, with the environment's python):

    python tools/build_figures.py [--scale smoke|cpu|paper] [--force]
                                  [--jobs N] [--only STEM ...]

Without --scale (or $SCALE) the scale is "paper" when a GPU is available and
"cpu" otherwise.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALES = ("smoke", "cpu", "paper")
KERNEL = "python3"
# Notebooks that read what others write, and those they wait for when both
# are to run. 05 reloads the fixed and random MNIST rows of 01 and 02 (it
# would train them again if they were missing); 06 renders every result.
AFTER = {
    "05_initializations": ("01_fixed_init", "02_random_init"),
    "06_results": ("01_fixed_init", "02_random_init", "03_linear_limits",
                   "04_steps_and_epochs", "05_initializations",
                   "07_quadratic_toy"),
}


def parse_args(argv=None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale",
        choices=SCALES,
        default=os.environ.get("SCALE") or None,
        help="experiment scale (default: $SCALE, else paper with a GPU, else cpu)",
    )
    parser.add_argument(
        "--force", action="store_true", help="run every notebook, ignoring stamps"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="STEM",
        help="run only this notebook (file name without .py); may be repeated",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("JOBS") or 1),
        metavar="N",
        help="notebooks run at once, each in its own process (default: $JOBS, else 1)",
    )
    folders = {
        "--notebooks-dir": (ROOT / "notebooks", "where the [0-9]*.py notebooks are"),
        "--build-dir": (ROOT / "build" / "notebooks", "outputs, stamps, times"),
        "--figures-dir": (ROOT / "figures", "passed to the notebooks as figures_dir"),
        "--runs-dir": (ROOT / "runs", "passed to the notebooks as runs_dir"),
        "--results-dir": (ROOT / "results", "passed to the notebooks as results_dir"),
        "--package-dir": (ROOT / "distill", "code whose changes trigger reruns"),
    }
    for flag, (default, text) in folders.items():
        parser.add_argument(
            flag, type=Path, default=default, metavar="DIR", help=f"{text} ({default})"
        )
    args = parser.parse_args(argv)
    if args.scale is not None and args.scale not in SCALES:
        parser.error(f"SCALE must be one of {', '.join(SCALES)}, not {args.scale!r}")
    if args.jobs < 1:
        parser.error(f"--jobs (JOBS) must be a positive number, not {args.jobs}")
    return args


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (imported lazily: torch is slow to load)."""
    import torch

    return torch.cuda.is_available()


def choose_scale(requested: str | None) -> str:
    """Return the requested scale, or pick one from the hardware."""
    if requested:
        print(f"scale: {requested} (requested)")
        return requested
    if cuda_available():
        import torch

        print(f"scale: paper (GPU found: {torch.cuda.get_device_name(0)})")
        return "paper"
    print("No GPU found: running at cpu scale (reduced settings, smaller figures).")
    print("Run on a machine with a CUDA GPU for the paper's settings.")
    return "cpu"


def format_seconds(seconds: float) -> str:
    """Render a duration as e.g. '42 s', '12.5 min' or '3.2 h'."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def load_estimates(notebooks_dir: Path, build_dir: Path, scale: str) -> dict:
    """Expected seconds per notebook stem at this scale.

    Taken from notebooks/runtimes.json ({stem: {scale: seconds}}) and, for
    stems it lacks, from the times measured by the last run here.
    """
    estimates = {}
    measured = build_dir / f"runtimes-{scale}.json"
    if measured.is_file():
        estimates.update(json.loads(measured.read_text()))
    published = notebooks_dir / "runtimes.json"
    if published.is_file():
        for stem, by_scale in json.loads(published.read_text()).items():
            if isinstance(by_scale, dict) and scale in by_scale:
                estimates[stem] = float(by_scale[scale])
    return estimates


def critical_path(stem: str, estimates: dict) -> float:
    """Expected seconds from the start of `stem` to the end of the last
    notebook that waits (AFTER), directly or not, for it."""
    waiting_for_it = [other for other, needs in AFTER.items() if stem in needs]
    rest = max((critical_path(other, estimates) for other in waiting_for_it),
               default=0.0)
    return estimates.get(stem, 0.0) + rest


def startable(waiting, busy, estimates: dict) -> list[str]:
    """The stems of `waiting` that may start now, most urgent first.

    A notebook may start once none of those it waits for (AFTER) is still
    waiting or busy. The most urgent is the one with the longest expected
    chain of itself and the notebooks that wait for it (`critical_path`),
    so that a long notebook others wait for is not started last.
    """
    ready = [stem for stem in waiting
             if not any(d in waiting or d in busy for d in AFTER.get(stem, ()))]
    return sorted(ready, key=lambda stem: -critical_path(stem, estimates))


def wall_time(stems: list[str], estimates: dict, jobs: int) -> float:
    """Expected wall-clock seconds of `stems`, `jobs` at once as run_in_parallel."""
    waiting = dict.fromkeys(stems)  # in order, so that ties break the same way
    running = {}  # stem -> expected end
    now = 0.0
    while waiting or running:
        for stem in startable(waiting, running, estimates)[: jobs - len(running)]:
            waiting.pop(stem)
            running[stem] = now + estimates[stem]
        now = min(running.values())
        running = {s: end for s, end in running.items() if end > now}
    return now


def print_estimate(stems: list[str], estimates: dict, jobs: int = 1) -> None:
    """Print the expected duration of the notebooks that will run."""
    known = [estimates[s] for s in stems if s in estimates]
    if not stems:
        return
    if len(known) == len(stems):
        total = format_seconds(sum(known))
        if jobs > 1 and len(stems) > 1:
            wall = format_seconds(wall_time(stems, estimates, jobs))
            print(f"estimated duration: {wall} with {jobs} jobs "
                  f"({total} of notebook time) for {len(stems)} notebook(s)")
        else:
            print(f"estimated duration: {total} for {len(stems)} notebook(s)")
    elif known:
        total = format_seconds(sum(known))
        missing = len(stems) - len(known)
        print(f"estimated duration: {total} of notebook time, and "
              f"{missing} notebook(s) without an estimate")
    else:
        print("estimated duration: unknown")


def package_hash(package_dir: Path) -> str:
    """Hash of every Python file of the package, names included."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def notebook_hash(source: Path, scale: str, code_hash: str) -> str:
    """Hash of what a notebook's results depend on."""
    digest = hashlib.sha256()
    for part in (source.read_bytes(), scale.encode(), code_hash.encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def ensure_kernel(build_dir: Path) -> None:
    """Make the kernel named python3 run this interpreter.

    ipykernel's own python3 kernel starts "python", which jupyter_client
    replaces by this interpreter. A python3 kernel spec installed elsewhere
    (for example in the user's Jupyter folder) may point to another Python;
    then a spec pointing here is put first on JUPYTER_PATH.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        command = KernelSpecManager().get_kernel_spec(KERNEL).argv[0]
    except NoSuchKernel:
        command = None
    if command in ("python", f"python{sys.version_info[0]}", sys.executable):
        return
    jupyter_dir = build_dir / "jupyter"
    spec_dir = jupyter_dir / "kernels" / KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (distill)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
    paths = [str(jupyter_dir), os.environ.get("JUPYTER_PATH", "")]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in paths if p)
    print(f"kernel {KERNEL!r} pointed to {command}; using {sys.executable} instead")


def convert(source: Path, target: Path) -> None:
    """Write the py:percent script `source` as a notebook `target`."""
    import jupytext

    notebook = jupytext.read(source, fmt="py:percent")
    notebook.metadata["kernelspec"] = {
        "name": KERNEL,
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata.setdefault("language_info", {"name": "python"})
    jupytext.write(notebook, target, fmt="ipynb")


def run_notebook(source: Path, args, scale: str, build_dir: Path) -> None:
    """Convert one notebook and execute it with papermill."""
    import papermill

    # papermill reports the notebook's output (log_output) through logging
    logging.basicConfig(level=logging.INFO, format="    %(message)s")
    stem = source.stem
    converted = build_dir / f"{stem}.ipynb"
    output = build_dir / f"{stem}.{scale}.out.ipynb"
    convert(source, converted)
    parameters = {
        "scale": scale,
        "figures_dir": str(args.figures_dir.resolve()),
        "runs_dir": str(args.runs_dir.resolve()),
        "results_dir": str(args.results_dir.resolve()),
        "device": "cuda" if cuda_available() else "cpu",
    }
    data_root = os.environ.get("DISTILL_DATA_ROOT")
    if data_root:
        parameters["data_root"] = str(Path(data_root).resolve())
    papermill.execute_notebook(
        str(converted),
        str(output),
        parameters=parameters,
        kernel_name=KERNEL,
        language="python",
        cwd=str(source.parent),
        progress_bar=False,
        log_output=True,
    )


def run_logged(source: Path, args, scale: str, build_dir: Path) -> float:
    """Run one notebook with its output in a log file; return its seconds.

    This is what a worker process of --jobs runs. An exception inside the
    notebook is raised again as a RuntimeError that says what failed (the
    papermill exception does not always survive the trip between processes).
    """
    log_path = build_dir / f"{source.stem}.{scale}.log"
    with open(log_path, "w") as log:
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("    %(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
        start = time.perf_counter()
        try:
            run_notebook(source, args, scale, build_dir)
        except Exception as error:
            raise RuntimeError(describe(error)) from None
        return time.perf_counter() - start


def describe(error: Exception) -> str:
    """One line saying why a notebook failed."""
    name = getattr(error, "ename", None)
    if name:  # an exception raised inside the notebook
        cell = getattr(error, "exec_count", None)
        where = f" in cell [{cell}]" if cell is not None else ""
        return f"{name}: {getattr(error, 'evalue', '')}{where}"
    return f"{type(error).__name__}: {error}"


def add_dependents(stale: set, stems: list[str]) -> set:
    """`stale` and every notebook of `stems` that waits (AFTER) for one in it.

    A notebook that reads what another writes is stale when that one runs
    again, even if its own source did not change.
    """
    stale = set(stale)
    changed = True
    while changed:
        changed = False
        for stem in stems:
            if stem not in stale and stale & set(AFTER.get(stem, ())):
                print(f"{stem}: reads what a notebook to run writes, run again",
                      flush=True)
                stale.add(stem)
                changed = True
    return stale


def run_in_turn(todo, args, scale: str, build_dir: Path, finished) -> list:
    """Run the notebooks one after the other, their output on the console."""
    failed = []
    for source, stamp, digest in todo:
        stem = source.stem
        print(f"{stem}: running at {scale} scale", flush=True)
        stamp.unlink(missing_ok=True)
        start = time.perf_counter()
        try:
            run_notebook(source, args, scale, build_dir)
        except Exception as error:  # report, then go on with the others
            report_failure(stem, scale, build_dir, time.perf_counter() - start, error)
            failed.append(stem)
            continue
        finished(stem, stamp, digest, time.perf_counter() - start)
    return failed


def run_in_parallel(todo, args, scale, build_dir, finished, estimates) -> list:
    """Run up to args.jobs notebooks at once, each after those it reuses.

    Among the notebooks that may start, the longest expected goes first.
    """
    waiting = {source.stem: (source, stamp, digest) for source, stamp, digest in todo}
    running = {}  # future -> (stem, stamp, digest, start time)
    failed = []
    print(f"running up to {args.jobs} notebooks at once; output in "
          f"{build_dir}/<notebook>.{scale}.log", flush=True)
    # spawn, not fork: this process has imported torch, which is not fork-safe
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        while waiting or running:
            busy = {stem for stem, *_ in running.values()}
            for stem in startable(waiting, busy, estimates)[: args.jobs - len(running)]:
                source, stamp, digest = waiting.pop(stem)
                stamp.unlink(missing_ok=True)
                print(f"{stem}: running at {scale} scale", flush=True)
                future = pool.submit(run_logged, source, args, scale, build_dir)
                running[future] = (stem, stamp, digest, time.perf_counter())
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                stem, stamp, digest, start = running.pop(future)
                try:
                    seconds = future.result()
                except Exception as error:  # report, then go on with the others
                    seconds = time.perf_counter() - start
                    report_failure(stem, scale, build_dir, seconds, error)
                    log = build_dir / f"{stem}.{scale}.log"
                    print(f"{stem}: its output: {log}", flush=True)
                    failed.append(stem)
                    continue
                finished(stem, stamp, digest, seconds)
    return failed


def report_failure(stem, scale, build_dir, seconds, error) -> None:
    """Say which notebook failed, why, and where its partial output is."""
    output = build_dir / f"{stem}.{scale}.out.ipynb"
    reason = error.args[0] if isinstance(error, RuntimeError) else describe(error)
    print(f"{stem}: FAILED after {format_seconds(seconds)}: {reason}")
    print(f"{stem}: partial output notebook: {output}", flush=True)


def main(argv=None) -> int:
    """Run the notebooks that need it; return the exit status."""
    args = parse_args(argv)
    notebooks_dir = args.notebooks_dir.resolve()
    build_dir = args.build_dir.resolve()
    sources = sorted(notebooks_dir.glob("[0-9]*.py"))
    if args.only:
        wanted = {Path(s).stem for s in args.only}
        unknown = wanted - {s.stem for s in sources}
        if unknown:
            print(f"no such notebook in {notebooks_dir}: {', '.join(sorted(unknown))}")
            return 2
        sources = [s for s in sources if s.stem in wanted]
    if not sources:
        print(f"no notebooks ({notebooks_dir}/[0-9]*.py): nothing to do")
        return 0

    scale = choose_scale(args.scale)
    os.environ["DISTILL_SCALE"] = scale
    build_dir.mkdir(parents=True, exist_ok=True)
    args.figures_dir.mkdir(parents=True, exist_ok=True)
    code_hash = package_hash(args.package_dir)

    entries = {}  # stem -> (source, stamp, digest), in the order of sources
    stale = set()
    for source in sources:
        stamp = build_dir / f"{source.stem}.{scale}.stamp"
        output = build_dir / f"{source.stem}.{scale}.out.ipynb"
        digest = notebook_hash(source, scale, code_hash)
        entries[source.stem] = (source, stamp, digest)
        fresh = stamp.is_file() and stamp.read_text().strip() == digest
        if not (fresh and output.is_file()) or args.force:
            stale.add(source.stem)
    stale = add_dependents(stale, list(entries))
    for stem in entries:
        if stem not in stale:
            print(f"{stem}: unchanged, skipped")
    todo = [entry for stem, entry in entries.items() if stem in stale]
    estimates = load_estimates(notebooks_dir, build_dir, scale)
    print_estimate([s.stem for s, _, _ in todo], estimates, args.jobs)
    if not todo:
        return 0
    ensure_kernel(build_dir)

    runtimes_path = build_dir / f"runtimes-{scale}.json"
    runtimes = json.loads(runtimes_path.read_text()) if runtimes_path.is_file() else {}

    def finished(stem: str, stamp: Path, digest: str, seconds: float) -> None:
        stamp.write_text(digest + "\n")
        runtimes[stem] = round(seconds, 1)
        runtimes_path.write_text(json.dumps(runtimes, indent=1, sort_keys=True) + "\n")
        print(f"{stem}: done in {format_seconds(seconds)}", flush=True)

    if args.jobs == 1 or len(todo) == 1:
        failed = run_in_turn(todo, args, scale, build_dir, finished)
    else:
        failed = run_in_parallel(todo, args, scale, build_dir, finished, estimates)

    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}")
        return 1
    print(f"figures in {args.figures_dir.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
