"""`pipeline cost` counts transitions from the definition's own paths."""

from pipeline.cost import Mix, estimate, lambda_memory, paths
from pipeline.graph import StateGraph
from tests.conftest import TEMPLATE


def test_each_outcome_has_its_path_and_transition_count():
    found = {(p.outcome, p.transitions) for p in paths(StateGraph.from_template(TEMPLATE))}
    assert ("csv processed", 4) in found
    assert ("invalid extension", 5) in found
    assert ("csv failed", 8) in found
    assert ("folder marker", 3) in found


def test_express_is_cheaper_at_volume_and_failures_cost_emails():
    all_paths = paths(StateGraph.from_template(TEMPLATE))
    memory = lambda_memory(TEMPLATE)
    assert memory == {"CheckExtFunction": 128, "RandomFailureFunction": 256}
    clean = estimate(all_paths, memory, Mix(csv_share=1.0, failure_rate=0.0))
    assert clean.transitions_per_file == 4
    assert clean.per_million_standard == 100.0  # 4 transitions x $0.025 per 1,000 x a million
    assert clean.per_million_sns == 0
    mixed = estimate(all_paths, memory, Mix())
    assert mixed.per_million_express < mixed.per_million_standard
    assert mixed.per_million_sns > 0
