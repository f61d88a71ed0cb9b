"""The follower finds every execution that started between two looks, however many pages they fill
(a backfill starts up to MaxConcurrency at once), and stops listing where it has looked before."""

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from pipeline.driver import ExecutionFollower
from pipeline.results import FileResult


class Executions:
    """ListExecutions (newest first, paged) and GetExecutionHistory over executions that have ended."""

    def __init__(self):
        self.listed: list[dict] = []
        self.pages_read = 0

    def start(self, key: str) -> None:
        arn = f"arn:aws:states:us-east-1:123456789012:execution:sm:{len(self.listed)}"
        started = datetime.now(timezone.utc) + timedelta(seconds=len(self.listed))
        self.listed.insert(0, {"executionArn": arn, "startDate": started, "status": "SUCCEEDED", "key": key})

    def get_paginator(self, name: str):
        executions = self

        class Pages:
            def paginate(self, **kwargs):
                if name == "get_execution_history":
                    (execution,) = [e for e in executions.listed if e["executionArn"] == kwargs["executionArn"]]
                    event = {"source": "aws.s3", "detail-type": "Object Created",
                             "detail": {"bucket": {"name": "b"}, "object": {"key": execution["key"]}}}
                    yield {"events": [
                        {"type": "ExecutionStarted", "id": 1, "timestamp": execution["startDate"],
                         "executionStartedEventDetails": {"input": json.dumps(event)}},
                        {"type": "ExecutionSucceeded", "id": 2, "timestamp": execution["startDate"],
                         "executionSucceededEventDetails": {"output": "{}"}}]}
                    return
                size = kwargs["PaginationConfig"]["PageSize"]
                for first in range(0, len(executions.listed), size):
                    executions.pages_read += 1
                    yield {"executions": executions.listed[first:first + size]}

        return Pages()


def test_more_than_a_page_started_between_two_looks_are_all_found_and_old_pages_not_read_again():
    executions = Executions()
    follower = ExecutionFollower(SimpleNamespace(stepfunctions=executions), "arn:sm", page_size=10)
    for n in range(5):
        executions.start(f"a{n}.csv")
    follower.refresh()
    for n in range(25):  # two and a half pages more, started before the next look
        executions.start(f"b{n}.csv")
    executions.pages_read = 0
    follower.refresh()
    assert executions.pages_read == 3  # the new executions' pages, up to one seen before
    results = [FileResult(file=key, bucket="b", key=key) for key in [f"a{n}.csv" for n in range(5)]
               + [f"b{n}.csv" for n in range(25)]]
    assert all(follower.settle(result) for result in results)
    assert len({result.execution_arn for result in results}) == 30


def test_a_first_look_reads_one_page_unless_every_page_is_asked_for():
    executions = Executions()
    for n in range(35):
        executions.start(f"a{n}.csv")
    ExecutionFollower(SimpleNamespace(stepfunctions=executions), "arn:sm", page_size=10).refresh()
    assert executions.pages_read == 1  # `pipeline run` looks early and often: the newest page
    executions.pages_read = 0
    follower = ExecutionFollower(SimpleNamespace(stepfunctions=executions), "arn:sm", page_size=10)
    follower.accept = lambda started_with: '"a3.csv"' not in started_with
    follower.refresh(every_page=True)
    assert executions.pages_read == 4
    settled = {key: follower.settle(FileResult(file=key, bucket="b", key=key)) for key in ("a0.csv", "a3.csv")}
    assert settled == {"a0.csv": True, "a3.csv": False}  # what accept refuses is not read as anyone's
