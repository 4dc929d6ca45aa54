"""Time and memory of one outer iteration; memory against unrolled steps;
time to a test accuracy.

    python -m benchmarks.bench                   # the whole table (~30 min, CPU)
    python -m benchmarks.bench --quick           # smoke check, smallest cases
    python -m benchmarks.bench --only speed      # a section, or one case by name
    python -m benchmarks.bench --only mnist-1x1-fixed --threads 1

Every case runs in a fresh Python process (a "worker"), so that its peak
memory is its own. CPU: the peak resident set size (``VmHWM``, reset through
``/proc/self/clear_refs`` once the data are loaded; ``ru_maxrss`` where that
is not available) minus the resident size at that moment. CUDA:
``torch.cuda.max_memory_allocated`` minus what is allocated after loading.
Seconds per outer iteration: median and minimum of the timed iterations,
after warm-up ones. The speed cases run in rounds: in each round every
variant of a case gets one worker, in turn, so that a machine whose speed
drifts over minutes slows all variants alike; a variant's speed-up over the
reference is the median over rounds of the ratio within a round. The table goes to stdout, progress bars to stderr (tqdm;
``TQDM_DISABLE=1`` hides them), and everything to
``results/bench-<device>.json`` (device ``cpu`` or the CUDA name as a slug;
cases of an earlier file that were not re-run are kept; ``--quick`` writes
``build/bench-<device>-quick.json`` instead).

Variants: ``default`` is ``Settings()`` as it is (on the CPU the real batch
in chunks of 128, see ``distill.distillation.batch_chunk_for``), with the
package's malloc setting (freed memory kept for reuse, see
``distill.allocator``); ``whole-batch`` evaluates the real batch at once
(``batch_chunk=0``, the default on a GPU), for comparison;
``system-malloc`` is the default with the system's malloc behaviour
(``DISTILL_KEEP_FREED_MEMORY=0``); ``vmap`` runs several initializations
together; ``reference`` is the textbook computation of
``benchmarks/reference.py`` (one backward pass through everything, whole
batch, ordinary layers, system malloc), timed beside the others so that the
speed-up is measured in one run on one machine. None of them changes the
mathematics. Before the baseline of the
peak memory is taken, free heap pages are handed back to the system
(``malloc_trim``), so memory kept from loading the data is not counted as
room for the case.

NOTE: timings are only as good as the machine is quiet. The table records
the load average around each case; with other processes running, fewer
threads (``--threads 1``) can be much faster than the core count, because
OpenMP threads that wait on each other spin.
"""

import argparse
import functools
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MNIST = {"dataset": "mnist", "model": "lenet", "step_size_init": 0.02,
         "batch_size": 1024}
CIFAR = {"dataset": "cifar10", "model": "alexnet", "step_size_init": 0.001,
         "batch_size": 1024}

# name -> Settings fields; all at the paper's real batch of 1024
SPEED = {
    "mnist-1x1-fixed": {**MNIST},
    "mnist-10x3-fixed": {**MNIST, "steps": 10, "epochs": 3},
    "mnist-10x3-random4": {**MNIST, "steps": 10, "epochs": 3, "init": "random",
                           "inits_per_iteration": 4},
    "cifar10-10x3-fixed": {**CIFAR, "steps": 10, "epochs": 3},
}
# CIFAR-10, S steps x 1 epoch: memory against the number of unrolled steps
MEMORY_STEPS = (10, 30, 100)
MEMORY_VARIANTS = {
    "plain": {},
    "checkpoint": {"checkpoint_unroll": True},
    "plain, whole-batch": {"batch_chunk": 0},
    "checkpoint, whole-batch": {"checkpoint_unroll": True, "batch_chunk": 0},
    "plain, system-malloc": {},
}
# variant -> environment of its worker: the system's malloc behaviour
SYSTEM_MALLOC = {"DISTILL_KEEP_FREED_MEMORY": "0"}
VARIANT_ENV = {"system-malloc": SYSTEM_MALLOC,
               "plain, system-malloc": SYSTEM_MALLOC,
               "reference": SYSTEM_MALLOC}
# extra point: truncated back-propagation
MEMORY_EXTRA = {
    "truncate10": ((100,), {"truncate": 10}),
}
# Time to 90% and 94% test accuracy: MNIST, fixed init, 10 images, 1 step
# x 3 epochs (the paper's MNIST setting). Adam lr 0.05, betas (0.5, 0.999),
# halved every 1,500 iterations; the real batch grows from 256 to 512 at
# iteration 2,000 and to 1024 at 4,000: the best of the schedules in the
# README's table "Schedules tried for 94% on MNIST fixed init".
ACCURACY_NAME = "mnist-1x3-fixed"
ACCURACY = {**MNIST, "steps": 1, "epochs": 3, "batch_size": 256,
            "batch_size_double_every": 2000, "batch_size_max": 1024,
            "lr": 0.05, "lr_decay_every": 1500, "lr_decay_factor": 0.5,
            "iterations": 10**9}
THRESHOLDS = (0.90, 0.94)


ABOUT = {
    "speed": "speed: seconds per outer iteration at a real batch of 1024; "
             "S x E = steps x epochs, 10 images per step; random4: 4 random "
             "initializations per iteration",
    "memory": "memory: CIFAR-10 AlexNet (MNIST LeNet with --quick), S steps x "
              "1 epoch, fixed init, real batch 1024; peak = increase over the "
              "resident size after the data are loaded",
    "accuracy": "accuracy: MNIST LeNet, fixed init, 10 images, 1 step x 3 "
                "epochs, real batch 256 doubled every 2000 iterations up to "
                "1024, Adam lr 0.05, betas (0.5, 0.999), lr halved every 1500 "
                "iterations; test "
                "accuracy (10,000 images) every 250 iterations (10 with "
                "--quick); the clock counts outer iterations only",
}


def variants(settings):
    """Variant name -> extra settings for a speed case."""
    extra = {"default": {}, "whole-batch": {"batch_chunk": 0},
             "system-malloc": {}, "reference": {"batch_chunk": 0}}
    if settings.get("inits_per_iteration", 1) > 1:
        extra["vmap"] = {"vmap_inits": True}
    return extra


def plan(quick, rounds=None):
    """The cases to run: dicts with section, name, variant, kind, settings.

    ``rounds`` overrides the number of rounds of every speed case (by
    default 3 for MNIST and 2 for CIFAR-10).
    """
    cases = []

    def add(section, name, variant, settings, **run):
        cases.append({"section": section, "name": name, "variant": variant,
                      "settings": settings, "env": VARIANT_ENV.get(variant, {}),
                      **run})

    if quick:
        add("speed", "mnist-1x1-fixed", "default", SPEED["mnist-1x1-fixed"],
            warmup=1, iterations=3)
        for variant, extra in MEMORY_VARIANTS.items():
            add("memory", "mnist-4x1-fixed", variant,
                {**MNIST, "steps": 4, **extra}, warmup=0, iterations=1)
        add("accuracy", ACCURACY_NAME, "default", ACCURACY, eval_every=10,
            cap_seconds=5.0)
        return cases

    for name, settings in SPEED.items():
        big = settings["dataset"] == "cifar10"
        count, run = ((2, {"warmup": 1, "iterations": 2}) if big
                      else (3, {"warmup": 2, "iterations": 3}))
        # the variants take turns, one worker each per round, so that a
        # machine whose speed drifts slows all of them alike
        for number in range(rounds or count):
            for variant, extra in variants(settings).items():
                add("speed", name, variant, {**settings, **extra}, round=number,
                    **run)
    for steps in MEMORY_STEPS:
        for variant, extra in MEMORY_VARIANTS.items():
            add("memory", f"cifar10-{steps}x1-fixed", variant,
                {**CIFAR, "steps": steps, **extra}, warmup=0, iterations=2)
    for variant, (steps_list, extra) in MEMORY_EXTRA.items():
        for steps in steps_list:
            add("memory", f"cifar10-{steps}x1-fixed", variant,
                {**CIFAR, "steps": steps, **extra}, warmup=0, iterations=2)
    add("accuracy", ACCURACY_NAME, "default", ACCURACY, eval_every=250,
        cap_seconds=600.0)
    return cases


# The worker: one case in a fresh process.


def _status_kib(field):
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory above a baseline taken at construction (bytes)."""

    def __init__(self, device):
        import gc

        import torch
        from distill import allocator

        self.device = device
        gc.collect()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            self.base = torch.cuda.memory_allocated(device)
            self.how = "torch.cuda.max_memory_allocated"
            return
        self.how = "VmHWM"
        allocator.release_free_memory()
        try:  # reset the peak resident size to the current one
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            self.how = "ru_maxrss"
        rss = _status_kib("VmRSS")
        if rss is None:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.base = rss * 1024

    def peak(self):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self.base
        hwm = _status_kib("VmHWM") if self.how == "VmHWM" else None
        if hwm is None:
            hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return hwm * 1024 - self.base


def worker(case):
    """Run one case; returns the result dict (printed as JSON by main)."""
    import torch

    torch.set_num_threads(case["threads"])
    import distill
    from distill.distillation import Settings, _Run

    device = torch.device(case["device"])
    settings = Settings(**case["settings"])
    data = distill.load_dataset(settings.dataset, case["data_root"], device=device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    from tqdm.auto import tqdm

    from benchmarks import reference

    memory = PeakMemory(device)
    run = _Run(data, settings, None, device)
    result = {"load_before": os.getloadavg()[0],
              "freed_memory_kept": distill.allocator.is_applied()}
    if case["section"] == "accuracy":
        result.update(_accuracy(run, data, case, synchronize, tqdm))
    else:
        step = run.outer_step
        if case["variant"] == "reference":
            step = functools.partial(reference.reference_step, run)
        total = case["warmup"] + case["iterations"]
        times = []
        for _ in tqdm(range(total), desc=case["name"], leave=False):
            start = time.perf_counter()
            step()
            synchronize()
            times.append(time.perf_counter() - start)
        timed = times[case["warmup"]:]
        result.update(seconds=times, warmup=case["warmup"],
                      median=statistics.median(timed), min=min(timed))
    result.update(peak_bytes=memory.peak(), memory_measure=memory.how,
                  load_after=os.getloadavg()[0])
    return result


def _accuracy(run, data, case, synchronize, tqdm):
    """Train until every threshold is reached or the time cap; evaluate often.

    The clock counts outer iterations only, not the evaluations.
    """
    import distill

    cap, every = case["cap_seconds"], case["eval_every"]
    reached = {f"{t:.2f}": None for t in THRESHOLDS}
    curve = []
    seconds = 0.0
    bar = tqdm(total=round(cap), desc=case["name"], unit="s", leave=False)
    while seconds < cap and None in reached.values():
        start = time.perf_counter()
        for _ in range(every):
            run.outer_step()
        synchronize()
        seconds += time.perf_counter() - start
        accuracy = distill.evaluate(run.result(), data)["test_accuracy"]
        curve.append((run.iteration, round(seconds, 3), accuracy))
        for key in reached:
            if reached[key] is None and accuracy >= float(key):
                reached[key] = {"seconds": round(seconds, 3),
                                "iteration": run.iteration}
        bar.n = min(round(seconds), bar.total)
        bar.set_postfix(accuracy=f"{accuracy:.3f}", refresh=False)
        bar.refresh()
    bar.close()
    best = max(accuracy for _, _, accuracy in curve)
    return {"reached": reached, "curve": curve, "best": best,
            "train_seconds": seconds, "iterations": run.iteration}


# The parent: plan, spawn workers, print and save the table.


def device_name(device):
    """``cpu`` or the CUDA device's name as a slug (``nvidia-h100-80gb-hbm3``)."""
    if device == "cpu":
        return "cpu"
    import torch

    name = torch.cuda.get_device_name(torch.device(device))
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def matmul_gflops(threads, size=1024, repeats=20):
    """Float32 matrix-product speed of this machine now, a yardstick.

    Build machines of the same kind differ from day to day; the figure in
    the header tells two runs of the table apart.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
        a @ a  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            a @ a
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)
    return round(2 * size**3 * repeats / seconds / 1e9, 1)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def run_case(case):
    """Run ``case`` in a fresh interpreter; its result, or an error entry."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(case["threads"])
    env.update(case.get("env", {}))
    command = [sys.executable, "-m", "benchmarks.bench", "--worker",
               json.dumps(case)]
    completed = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               text=True)
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        return {"error": f"worker exited with status {completed.returncode}"}
    return json.loads(lines[-1])


def merge_rounds(rows):
    """One row per case: the rounds of a speed case put together.

    The merged result keeps every round's timings (``rounds``: seconds,
    warm-up and median of each) and gives the median and minimum over all
    timed iterations, the largest peak, the load before the first round
    and after the last. A round that failed makes the case an error.
    """
    groups = {}
    for row in rows:
        groups.setdefault(case_key(row), []).append(row)
    merged = []
    for group in groups.values():
        if len(group) == 1 and "round" not in group[0]:
            merged.append(group[0])
            continue
        results = [row["result"] for row in group]
        first = {k: v for k, v in group[0].items() if k not in ("round", "result")}
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            merged.append({**first, "result": {"error": errors[0]}})
            continue
        timed = [t for r in results for t in r["seconds"][r["warmup"]:]]
        result = {
            "rounds": [{"seconds": r["seconds"], "warmup": r["warmup"],
                        "median": r["median"]} for r in results],
            "median": statistics.median(timed), "min": min(timed),
            "timed": len(timed), "warmup": results[0]["warmup"],
            "peak_bytes": max(r["peak_bytes"] for r in results),
            "memory_measure": results[0]["memory_measure"],
            "load_before": results[0]["load_before"],
            "load_after": results[-1]["load_after"],
            "freed_memory_kept": results[0]["freed_memory_kept"],
        }
        merged.append({**first, "result": result})
    return merged


def speedup(reference, result):
    """How many times faster ``result`` is than ``reference``, and how measured.

    With rounds on both sides, the median over rounds of the ratio of the
    two medians of the same round (the variants of a round ran one after the
    other); otherwise the ratio of the overall medians.
    """
    ours, theirs = result.get("rounds"), reference.get("rounds")
    if ours and theirs and len(ours) == len(theirs):
        ratios = [a["median"] / b["median"] for a, b in zip(theirs, ours)]
        return statistics.median(ratios), f"median of {len(ratios)} rounds"
    return reference["median"] / result["median"], "overall medians"


def _seconds(value):
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def format_table(rows, header):
    """The one table: a header block, then a row per case."""
    lines = list(header)
    columns = ("section", "case", "variant", "s/iter", "min s", "peak MB",
               "load", "notes")
    # case name -> result of its textbook computation, for the speed-ups
    textbook = {row["name"]: row["result"] for row in rows
                if row["variant"] == "reference" and "median" in row["result"]}
    table = []
    for row in rows:
        result = row["result"]
        load = ""
        if "load_before" in result:
            load = f"{result['load_before']:.1f}-{result['load_after']:.1f}"
        peak = ""
        if "peak_bytes" in result:
            peak = f"{result['peak_bytes'] / 2**20:.0f}"
        median = minimum = notes = ""
        if "error" in result:
            notes = result["error"]
        elif row["section"] == "accuracy":
            parts = []
            for key, hit in result["reached"].items():
                share = f"{float(key):.0%}"
                if hit is None:
                    parts.append(f"{share}: not reached")
                else:
                    parts.append(f"{share}: {hit['seconds']:.0f} s "
                                 f"(it {hit['iteration']})")
            parts.append(f"best {result['best']:.1%} after "
                         f"{result['train_seconds']:.0f} s, "
                         f"{result['iterations']} it")
            notes = "; ".join(parts)
        else:
            median, minimum = _seconds(result["median"]), _seconds(result["min"])
            if "rounds" in result:
                notes = (f"median of {result['timed']} in "
                         f"{len(result['rounds'])} rounds, {result['warmup']} "
                         "warm-up each")
            else:
                timed = len(result["seconds"]) - result["warmup"]
                notes = f"median of {timed}, {result['warmup']} warm-up"
            if row["name"] in textbook and row["variant"] != "reference":
                ratio, how = speedup(textbook[row["name"]], result)
                notes += f"; {ratio:.2f}x the reference ({how})"
        table.append((row["section"], row["name"], row["variant"], median,
                      minimum, peak, load, notes))
    widths = [max(len(str(r[i])) for r in table + [columns])
              for i in range(len(columns))]
    for i, values in enumerate([columns] + table):
        cells = [str(v).ljust(w) for v, w in zip(values, widths)]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    sections = dict.fromkeys(row["section"] for row in rows)
    lines.append("")
    notes = [ABOUT[section] for section in sections if section in ABOUT]
    notes.append("variants: default = Settings() as is (on the CPU the real "
                 "batch in chunks of 128, freed memory kept for reuse); "
                 "whole-batch = batch_chunk 0 (the default on a GPU); "
                 "system-malloc = the system's malloc behaviour "
                 "(DISTILL_KEEP_FREED_MEMORY=0); vmap = vmap_inits; "
                 "reference = the textbook computation of benchmarks/reference.py "
                 "(one backward pass through everything, whole batch, ordinary "
                 "layers, system malloc): the same mathematics, for comparison")
    lines += [textwrap.fill(note, 88, subsequent_indent="  ") for note in notes]
    return "\n".join(lines)


def header_lines(meta):
    """The lines above the table: device, torch, threads, load."""
    load = meta.get("load_at_start")
    gflops = meta.get("matmul_gflops")
    speed = (f"; float32 matrix product at {gflops} GFLOP/s on these threads"
             if gflops else "")
    return [
        f"device: {meta['device']} ({meta.get('device_detail', '')}), torch "
        f"{meta['torch']}, {meta['threads']} threads per worker, "
        f"{meta['cores']} cores; one fresh process per case; {meta['date']}",
        f"load average at start: {load if load is not None else '?'} (the "
        f"load column: 1-minute load average before and after each case){speed}",
        "",
    ]


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench",
        description="Seconds per outer iteration and peak memory of the "
        "distillation; memory against unrolled steps; time to accuracy.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="the smallest cases, few iterations (smoke check)")
    parser.add_argument("--only", action="append", default=[],
                        help="a section (speed, memory, accuracy) or a case "
                        "name; repeat or separate with commas")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch threads per worker (default: the cores, "
                        f"{os.cpu_count()})")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of each speed case, every variant once "
                        "per round (default: 3 for MNIST, 2 for CIFAR-10)")
    parser.add_argument("--data-root", default=None,
                        help="data folder (default: $DISTILL_DATA_ROOT, else "
                        "../shared/data beside the repository)")
    parser.add_argument("--output", default=None,
                        help="JSON file (default results/bench-<device>.json)")
    parser.add_argument("--show", default=None, metavar="JSON",
                        help="print the table of a results file; run nothing")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0

    if args.show is not None:
        saved = json.loads(Path(args.show).read_text())
        print(format_table(saved["cases"], header_lines(saved)), flush=True)
        return 0

    import torch
    from tqdm.auto import tqdm

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.threads < 1:
        print("error: --threads must be 1 or more", file=sys.stderr)
        return 2
    if args.rounds is not None and args.rounds < 1:
        print("error: --rounds must be 1 or more", file=sys.stderr)
        return 2
    data_root = (args.data_root or os.environ.get("DISTILL_DATA_ROOT")
                 or str(REPO.parent / "shared" / "data"))

    planned = plan(args.quick, args.rounds)
    cases = planned
    wanted = {w for item in args.only for w in item.split(",") if w}
    if wanted:
        cases = [c for c in cases if c["section"] in wanted or c["name"] in wanted]
        if not cases:
            print(f"error: no case matches --only {', '.join(sorted(wanted))}",
                  file=sys.stderr)
            return 2

    name = device_name(device)
    meta = {
        "device": name, "device_detail": cpu_model() if device == "cpu" else
        torch.cuda.get_device_name(torch.device(device)),
        "torch": torch.__version__, "threads": args.threads,
        "cores": os.cpu_count(), "quick": args.quick,
        "load_at_start": round(os.getloadavg()[0], 2),
        "matmul_gflops": matmul_gflops(args.threads) if device == "cpu" else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    rows = []
    for case in tqdm(cases, desc="bench", unit="case"):
        case = {**case, "device": device, "threads": args.threads,
                "data_root": data_root}
        rows.append({**case, "result": run_case(case)})

    rows = merge_rounds(rows)
    print(format_table(rows, header_lines(meta)), flush=True)
    default = (REPO / "build" / f"bench-{name}-quick.json" if args.quick
               else REPO / "results" / f"bench-{name}.json")
    output = Path(args.output or default)
    save(output, rows, meta, {case_key(c) for c in planned})
    print(f"\nwritten: {output}", flush=True)
    return 1 if any("error" in row["result"] for row in rows) else 0


def case_key(case):
    """What identifies a case across runs: section, name and variant."""
    return tuple(case.get(k) for k in ("section", "name", "variant"))


def save(path, rows, meta, planned=None):
    """Write ``rows`` to ``path``, keeping earlier cases that were not re-run.

    Earlier cases whose key is not in ``planned`` (cases the benchmark no
    longer has) are dropped; None keeps every earlier case. The file's
    header is ``meta``, the latest run's; every case also carries the date
    and the matrix-product speed of the run that measured it, since kept
    cases may come from runs on a faster or slower day.
    """
    kept = []
    if path.exists():
        try:
            kept = json.loads(path.read_text()).get("cases", [])
        except (ValueError, AttributeError):
            kept = []
    fresh = {case_key(row) for row in rows}
    merged = [c for c in kept if case_key(c) not in fresh
              and (planned is None or case_key(c) in planned)]
    stamp = {"date": meta["date"], "matmul_gflops": meta["matmul_gflops"]}
    merged += [{**row, **stamp} for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**meta, "cases": merged}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
