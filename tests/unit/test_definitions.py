"""A definition as CreateStateMachine checks it, in the words AWS answers with (the messages
quoted in pipeline/local/definitions.py were recorded from AWS), and the tasks the offline cloud
cannot run."""

from pipeline.local.definitions import problems, starts_synchronous_children


def messages(definition, workflow="STANDARD"):
    return [(p.code, p.message) for p in problems(definition, workflow)]


def test_a_missing_target_and_the_state_it_leaves_unreachable_are_one_refusal_as_aws_words_it():
    definition = {"StartAt": "pass1", "States": {
        "pass1": {"Type": "Pass", "Next": "pass3"}, "pass2": {"Type": "Pass", "End": True}}}
    assert messages(definition) == [("InvalidDefinition", "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: "
                                     "Missing 'Next' target: pass3 at /States/pass1/Next, MISSING_TRANSITION_TARGET: "
                                     "State \"pass2\" is not reachable. at /States/pass2'")]


def test_fields_a_definition_needs_and_a_workflow_that_never_ends():
    assert messages({"States": {"A": {"Type": "Succeed"}}}) == [
        ("InvalidDefinition", "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are "
                              "required: [StartAt] at /'")]
    loop = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}
    assert messages(loop) == [("InvalidDefinition", "Invalid State Machine Definition: 'MISSING_END_STATE: Workflow "
                                                    "has no terminal state at null'")]


def test_problems_inside_a_parallel_branch_are_located_there():
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}]}}}
    (code, message), = messages(definition)
    assert "Missing 'Next' target: Nowhere at /States/P/Branches[0]/States/A/Next" in message


def test_integrations_step_functions_does_not_have_and_express_limits_are_refused_as_aws_refuses_them():
    def task(resource):
        return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": True}}}

    assert messages(task("arn:aws:states:::dynamodb:query"))[0][1].endswith(
        "'SCHEMA_VALIDATION_FAILED: The resource provided arn:aws:states:::dynamodb:query is not recognized. The value "
        "is not a valid resource ARN, or the resource is not available in this region. at /States/T/Resource'")
    assert "Express state machine does not support '.sync' service integration at /States/T/Resource" in \
        messages(task("arn:aws:states:::states:startExecution.sync"), "EXPRESS")[0][1]


def test_tasks_the_offline_cloud_cannot_run_are_named_not_run_unchecked():
    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "G", "States": {"G": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync",
                                         "End": True}}}}}}
    assert messages(definition) == [("NotSupportedOffline", "state 'G' calls glue:startJobRun.sync, an integration "
                                                            "the offline cloud cannot run and authorize as AWS does")]
    supported = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listObjectsV2", "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True}}}
    assert messages(supported) == [] and starts_synchronous_children(supported)


def test_a_distributed_map_is_run_offline_and_its_tasks_checked_like_any_other():
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True,
        "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "b"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "G",
                          "States": {"G": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync",
                                           "End": True}}}}}}
    assert messages(definition) == [("NotSupportedOffline", "state 'G' calls glue:startJobRun.sync, an integration "
                                                            "the offline cloud cannot run and authorize as AWS does")]
