"""States written in JSONata evaluate in the offline cloud (a JSONata variant of the definition)."""

from tests.offline import jsonata_template, run_one


def test_the_jsonata_definition_runs_every_path(deploy, tmp_path):
    cloud = deploy(jsonata_template(tmp_path), FailureRate=1)
    failed = run_one(cloud, tmp_path, "sales.csv")
    assert failed.error == "SimulatedProcessingError"
    assert failed.cause.startswith("Simulated failure processing")
    assert failed.notification.subject == "[file pipeline] Failed: sales.csv"
    invalid = run_one(cloud, tmp_path, "notes.txt", b"x")
    assert invalid.states == ["Check File Extension", "Route By Extension", "Invalid Extension", "Notify Failure",
                              "Pipeline Failed"]
    assert "Key: notes.txt" in invalid.notification.message
