"""The speed layer's JSON answers write timestamps as moto's serializer does."""

import calendar
from datetime import datetime, timedelta, timezone

from pipeline.clients import quick_timestamp
from pipeline.local.speed import json_answers


def moto_epoch(value: datetime) -> float:
    """What moto's JSON serializer writes for a datetime."""
    seconds = calendar.timegm(value.timetuple())
    return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds


def datetimes() -> list[datetime]:
    zones = [None, timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    walls = [datetime(2026, 12, 5, 8, 13, 13), datetime(1969, 12, 31, 23, 59, 59, 999999), datetime(1970, 1, 1),
             datetime(2024, 2, 29, 23, 59, 59, 1000), datetime(2026, 12, 5, 8, 13, 13, 999), datetime(1, 1, 1),
             datetime(9999, 12, 31, 23, 59, 59, 999999)]
    return [wall.replace(tzinfo=zone) for wall in walls for zone in zones]


def test_epochs_are_the_ones_moto_writes():
    for value in datetimes():
        quick, reference = json_answers.epoch(value), moto_epoch(value)
        assert quick == reference and type(quick) is type(reference), value


def test_each_datetime_is_converted_once_and_as_it_would_be_every_time():
    parsed = []

    def parse(epoch_seconds):
        parsed.append(epoch_seconds)
        return quick_timestamp(epoch_seconds)

    convert = json_answers._Timestamps(parse)
    for value in datetimes()[:-4]:  # quick_timestamp's range
        assert convert(value) == convert(value) == quick_timestamp(moto_epoch(value))
    assert len(parsed) == len({value.replace(tzinfo=None) for value in datetimes()[:-4]})  # once per wall time
    instant = datetime(2026, 12, 5, 8, tzinfo=timezone.utc)
    elsewhere = instant.astimezone(timezone(timedelta(hours=1)))
    assert instant == elsewhere and convert(instant) != convert(elsewhere)  # moto writes the wall time
    assert convert("2026-12-05T08:00:00+00:00") == quick_timestamp(moto_epoch(instant))  # ISO strings as before
    assert convert(1796458755.603) == quick_timestamp(1796458755.603)
    from dateutil.tz import tzoffset, tzutc  # zones that do not hash, as botocore's parsers make them

    for zone in (tzutc(), tzoffset("X", 3600)):
        value = datetime(2026, 12, 5, 9, 30, 1, 500000, tzinfo=zone)
        assert convert(value) == quick_timestamp(moto_epoch(value))
