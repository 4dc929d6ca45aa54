"""The benchmark's bookkeeping: rounds of speed cases, speed-ups, the file.

Nothing is timed here; the results are made up so that the arithmetic can
be checked exactly.
"""

import json

import pytest

from benchmarks import bench


def _worker_result(seconds, warmup=1, peak=100, load=(0.5, 0.6)):
    timed = sorted(seconds[warmup:])
    return {"seconds": seconds, "warmup": warmup,
            "median": timed[len(timed) // 2], "min": timed[0],
            "peak_bytes": peak, "memory_measure": "VmHWM",
            "load_before": load[0], "load_after": load[1],
            "freed_memory_kept": True}


def _row(variant, number, result):
    return {"section": "speed", "name": "mnist-1x1-fixed", "variant": variant,
            "round": number, "result": result}


def test_speed_cases_take_turns_round_by_round():
    cases = [c for c in bench.plan(quick=False) if c["section"] == "speed"]
    first = [c for c in cases if c["name"] == "mnist-1x1-fixed"]
    variants = list(bench.variants(bench.SPEED["mnist-1x1-fixed"]))

    # round 0 of every variant, then round 1 of every variant, ...
    assert [c["variant"] for c in first] == variants * 3
    assert [c["round"] for c in first] == [r for r in range(3) for _ in variants]


def test_rounds_merge_into_one_row_per_variant():
    rows = [
        _row("default", 0, _worker_result([9.0, 1.0, 2.0, 3.0], peak=100,
                                          load=(0.1, 0.2))),
        _row("reference", 0, _worker_result([9.0, 4.0, 4.0, 4.0])),
        _row("default", 1, _worker_result([9.0, 5.0, 6.0, 7.0], peak=300,
                                          load=(0.3, 0.4))),
        _row("reference", 1, _worker_result([9.0, 8.0, 8.0, 8.0])),
    ]

    merged = bench.merge_rounds(rows)

    assert [row["variant"] for row in merged] == ["default", "reference"]
    default = merged[0]["result"]
    # warm-up iterations (the 9.0s) are left out of the median and minimum
    assert default["median"] == pytest.approx(4.0)  # of 1, 2, 3, 5, 6, 7
    assert default["min"] == 1.0
    assert default["timed"] == 6
    assert default["peak_bytes"] == 300
    assert (default["load_before"], default["load_after"]) == (0.1, 0.4)
    assert [r["median"] for r in default["rounds"]] == [2.0, 6.0]
    assert "round" not in merged[0]


def test_speedup_is_the_median_of_the_ratios_within_rounds():
    rows = [
        _row("default", 0, _worker_result([0.0, 2.0])),
        _row("reference", 0, _worker_result([0.0, 4.0])),  # 2x in round 0
        _row("default", 1, _worker_result([0.0, 10.0])),
        _row("reference", 1, _worker_result([0.0, 30.0])),  # 3x in round 1
        _row("default", 2, _worker_result([0.0, 1.0])),
        _row("reference", 2, _worker_result([0.0, 5.0])),  # 5x in round 2
    ]
    default, reference = (row["result"] for row in bench.merge_rounds(rows))

    ratio, how = bench.speedup(reference, default)

    # the ratio of the overall medians would be 5 / 2 = 2.5
    assert ratio == pytest.approx(3.0)
    assert how == "median of 3 rounds"


def test_speedup_of_results_without_rounds_uses_the_overall_medians():
    ratio, how = bench.speedup({"median": 0.3}, {"median": 0.1})

    assert ratio == pytest.approx(3.0)
    assert how == "overall medians"


def test_a_failed_round_makes_the_case_an_error():
    rows = [
        _row("default", 0, _worker_result([1.0, 2.0])),
        _row("default", 1, {"error": "worker exited with status 1"}),
    ]

    (merged,) = bench.merge_rounds(rows)

    assert merged["result"] == {"error": "worker exited with status 1"}


def test_the_table_shows_the_rounds_and_the_speedup():
    rows = [
        _row("default", 0, _worker_result([0.0, 2.0])),
        _row("reference", 0, _worker_result([0.0, 4.0])),
    ]

    table = bench.format_table(bench.merge_rounds(rows), ["header"])

    assert "median of 1 in 1 rounds, 1 warm-up each" in table
    assert "2.00x the reference (median of 1 rounds)" in table


def test_rounds_can_be_set_for_every_speed_case():
    cases = [c for c in bench.plan(quick=False, rounds=1) if c["section"] == "speed"]

    assert {c["round"] for c in cases} == {0}
    for name, settings in bench.SPEED.items():
        variants = [c["variant"] for c in cases if c["name"] == name]
        assert variants == list(bench.variants(settings))


def test_kept_cases_keep_the_date_and_speed_of_their_own_run(tmp_path):
    path = tmp_path / "bench.json"
    old = {"date": "old", "matmul_gflops": 100.0}
    new = {"date": "new", "matmul_gflops": 150.0}
    speed = {"section": "speed", "name": "a", "variant": "default"}
    accuracy = {"section": "accuracy", "name": "b", "variant": "default"}
    bench.save(path, [speed, accuracy], old)
    bench.save(path, [accuracy], new)

    saved = json.loads(path.read_text())
    assert saved["date"] == "new" and saved["matmul_gflops"] == 150.0
    stamps = {c["section"]: (c["date"], c["matmul_gflops"]) for c in saved["cases"]}
    assert stamps == {"speed": ("old", 100.0), "accuracy": ("new", 150.0)}
