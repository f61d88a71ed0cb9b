"""make bench-compare: pairs taken together, the order swapped every round, REF named clearly."""

from pathlib import Path

import pytest

from pipeline.bench_compare import Tree, alternate, checkout, throughput_pair


def test_each_round_measures_both_trees_the_first_swapped_every_round():
    old, new = Tree("old", Path("old"), Path("python")), Tree("new", Path("new"), Path("python"))
    order = []

    def measure(tree):
        order.append(tree.label)
        return len(order)

    pairs = alternate(old, new, 3, measure)
    assert order == ["old", "new", "new", "old", "old", "new"]
    assert pairs == [(1, 2), (4, 3), (5, 6)]  # always (reference, this tree)


def test_a_pair_gives_the_ratio_and_each_process_s_cpu_per_file():
    pair = throughput_pair({"files_per_s": 40.0, "cpu_ms_per_file": {"offline cloud": 10.0, "dynamodb": 3.0}},
                           {"files_per_s": 60.0, "cpu_ms_per_file": {"offline cloud": 6.0}})
    assert pair.ratio == 1.5
    assert pair.cpu == {"dynamodb": (3.0, 0.0), "offline cloud": (10.0, 6.0)}


def test_a_commit_that_is_not_there_is_one_line():
    with pytest.raises(SystemExit, match="no commit 'no-such-ref' in this repository"):
        checkout("no-such-ref")


def test_bench_compare_is_also_python_m_pipeline_bench_compare_ref(monkeypatch):
    """`python -m pipeline.bench --compare REF` runs the same comparison (issue 22 names it so)."""
    from pipeline import bench, bench_compare

    called = []
    monkeypatch.setattr(bench_compare, "main", lambda argv: called.append(argv) or 0)
    assert bench.main(["--compare", "9a7a4f9", "--rounds", "2", "--files", "100"]) == 0
    assert bench.main(["--compare", "HEAD~1"]) == 0
    assert called == [["9a7a4f9", "--rounds", "2", "--files", "100"], ["HEAD~1", "--rounds", "3"]]
