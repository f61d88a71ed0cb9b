"""`pipeline cost` reads outcomes, transitions, invocations and publishes from the definition itself."""

import pytest

from pipeline.cost import Mix, estimate, lambda_memory, paths
from pipeline.graph import StateGraph
from tests.conftest import TEMPLATE

# The shape of the book's own definition: no Pass states, a JSON message, other state names.
BOOK = {
    "StartAt": "CheckFileType",
    "States": {
        "CheckFileType": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                          "Parameters": {"FunctionName": "CheckFileFunction", "Payload.$": "$"}, "Next": "IsCsv"},
        "IsCsv": {"Type": "Choice", "Choices": [
            {"Variable": "$.Payload.file_extension", "StringEquals": ".csv", "Next": "ProcessFile"}],
            "Default": "Alert"},
        "ProcessFile": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": "ProcessFunction"}, "Next": "Done",
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Alert"}]},
        "Alert": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                  "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message.$": "$"}, "Next": "Failed"},
        "Done": {"Type": "Succeed"},
        "Failed": {"Type": "Fail"},
    },
}


def test_each_path_s_outcome_and_transitions_come_from_the_definition():
    found = {(p.outcome, p.transitions, round(p.weight, 4)) for p in paths(StateGraph.from_template(TEMPLATE))}
    assert ("succeeds at Processed", 4, round(0.9 * 0.67, 4)) in found
    assert ("fails at Pipeline Failed", 5, 0.1) in found  # invalid extension
    assert ("fails at Pipeline Failed", 8, round(0.9 * 0.33, 4)) in found  # the function failed
    assert ("succeeds at Skip Folder Marker", 3, 0.0) in found
    assert sum(p.weight for p in paths(StateGraph.from_template(TEMPLATE))) == pytest.approx(1)


def test_the_book_s_definition_is_priced_too():
    found = paths(StateGraph.from_definition(BOOK), Mix(csv_share=0.5, failure_rate=0.2))
    by_outcome = {(p.outcome, p.transitions): p for p in found}
    assert by_outcome[("succeeds at Done", 4)].weight == pytest.approx(0.4)
    assert by_outcome[("fails at Failed", 5)].weight == pytest.approx(0.1)  # processing failed
    assert by_outcome[("fails at Failed", 4)].weight == pytest.approx(0.5)  # not a .csv file
    assert by_outcome[("fails at Failed", 5)].lambdas == ("CheckFileFunction", "ProcessFunction")
    assert by_outcome[("fails at Failed", 4)].publishes == 1


def test_express_is_cheaper_at_volume_and_failures_cost_emails():
    memory = lambda_memory(TEMPLATE)
    assert memory == {"CheckExtFunction": 128, "RandomFailureFunction": 256}
    clean_mix = Mix(csv_share=1.0, failure_rate=0.0)
    clean = estimate(paths(StateGraph.from_template(TEMPLATE), clean_mix), memory, clean_mix)
    assert clean.transitions_per_file == 4
    assert clean.per_million_standard == pytest.approx(100.0)  # 4 transitions x $0.025 per 1,000 x a million
    assert clean.per_million_sns == 0
    mixed = estimate(paths(StateGraph.from_template(TEMPLATE)), memory, Mix())
    assert mixed.per_million_express < mixed.per_million_standard
    assert mixed.per_million_sns > 0


def test_a_backfill_is_priced_from_its_distributed_map_s_own_states():
    from pipeline.cost import backfill_machine, estimate_backfill

    logical_id, definition = backfill_machine(TEMPLATE)
    priced = estimate_backfill(definition, 2_000_000)
    # a file's child workflow: "Is Folder Marker" (Choice) then "Process File" (Task)
    assert (logical_id, priced.child_transitions) == ("BackfillStateMachine", 2)
    assert priced.children == pytest.approx((2_000_000 * 2 + priced.parent_transitions) * 0.025 / 1000)
    assert priced.listing == pytest.approx(2000 * 0.005 / 1000 + 2_000_000 * 0.0004 / 1000)
