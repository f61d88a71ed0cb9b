"""A notification is read from the execution history as the text SNS sends, whatever the definition publishes."""

import json
from datetime import datetime, timezone

from pipeline.output import notification_title
from pipeline.history import notification_from_history
from pipeline.results import FileResult

NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)


def published(parameters):
    return [
        {"type": "TaskScheduled", "timestamp": NOW, "taskScheduledEventDetails": {
            "resourceType": "sns", "resource": "publish", "parameters": json.dumps(parameters)}},
        {"type": "TaskSucceeded", "timestamp": NOW, "taskSucceededEventDetails": {}},
    ]


def test_a_json_message_is_reported_as_the_text_sns_sends():
    message = {"bucket": "b", "key": "notes.txt", "error": "InvalidFileExtension"}
    notification = notification_from_history(published({"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": message}))
    assert json.loads(notification.message) == message
    assert notification.subject is None


def test_a_notification_without_a_subject_is_titled_by_its_first_line():
    result = FileResult(file="notes.txt", bucket="b", key="notes.txt", status="FAILED",
                        notification=notification_from_history(published({"Message": "notes.txt failed\nmore"})))
    assert notification_title(result) == "(no subject) notes.txt failed"
    assert notification_title(FileResult(file="a", bucket="b", key="a")) == "-"
