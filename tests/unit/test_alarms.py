"""The offline alarm acts as CloudWatch's: on a state change only, back to OK after a quiet period,
and a publish that fails is recorded, not lost."""

from pipeline.local import alarms as alarms_module
from pipeline.local.access import AccessControl
from pipeline.local.alarms import Alarm, Alarms

TOPIC = "arn:aws:sns:us-east-1:123456789012:topic"
MACHINE = {"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m"}


def cloudwatch_may_publish() -> AccessControl:
    access = AccessControl("123456789012", "us-east-1")
    access.resource_policies[TOPIC] = {"Statement": [{
        "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
        "Resource": TOPIC}]}
    return access


def an_alarm(publish) -> Alarms:
    alarm = Alarm("FailedExecutionsAlarm", "failures", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:failures", "AWS/States",
                  "ExecutionsFailed", MACHINE, 300, 1.0, "GreaterThanOrEqualToThreshold", [TOPIC])
    return Alarms([alarm], cloudwatch_may_publish(), publish)


def test_one_action_per_burst_and_another_after_a_quiet_period(monkeypatch):
    sent = []
    alarms = an_alarm(lambda topic, subject, message: sent.append(subject))
    clock = [1000.0]
    monkeypatch.setattr(alarms_module.time, "time", lambda: clock[0])
    for _ in range(5):  # a burst
        alarms.on_metric("AWS/States", "ExecutionsFailed", MACHINE, 1.0)
        clock[0] += 10
    assert len(sent) == 1
    clock[0] += 3600  # an hour without failures: the alarm went back to OK
    alarms.on_metric("AWS/States", "ExecutionsFailed", MACHINE, 1.0)
    assert len(sent) == 2
    assert [action.published for action in alarms.history] == [True, True]


def test_a_publish_that_fails_is_recorded_in_the_alarm_history():
    def failing(topic, subject, message):
        raise RuntimeError("InternalError: SNS is down")

    alarms = an_alarm(failing)
    alarms.on_metric("AWS/States", "ExecutionsFailed", MACHINE, 1.0)
    (action,) = alarms.history
    assert not action.published and "Failed to execute action" in action.reason and "SNS is down" in action.reason


def test_a_topic_policy_without_cloudwatch_refuses_the_action():
    alarms = an_alarm(lambda *_: None)
    alarms._access.resource_policies[TOPIC] = {"Statement": []}
    alarms.on_metric("AWS/States", "ExecutionsFailed", MACHINE, 1.0)
    (action,) = alarms.history
    assert not action.published and "SNS:Publish" not in action.reason and "sns:Publish" in action.reason
