"""random_failure counts a streamed CSV and fails at the configured rate (its handler against S3 and
DynamoDB is in tests/pipeline/test_random_failure_handler.py)."""

import io

import pytest


class OneByteAtATime(io.RawIOBase):
    """A body that hands out tiny chunks, as a slow network would."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 7) if size and size > 0 else 7)


@pytest.mark.parametrize(
    ("data", "rows", "columns"),
    [
        (b"a,b\n1,2\n3,4\n", 2, 2),
        (b"a,b\n1,2\n3,4", 2, 2),
        (b"\xef\xbb\xbfid,text\n1,\"line one\nline two\"\n", 1, 2),
        (b"", 0, 0),
        (b"only,header\n", 0, 2),
    ],
)
def test_rows_and_bytes_are_counted_while_streaming(random_failure, data, rows, columns):
    stats = random_failure.module("csv_stats").count_csv(OneByteAtATime(data))
    assert (stats.rows, stats.bytes, stats.columns) == (rows, len(data), columns)


def test_invalid_utf8_is_a_named_error(random_failure):
    with pytest.raises(UnicodeDecodeError):
        random_failure.module("csv_stats").count_csv(io.BytesIO(b"a,b\n\xff\xfe,1\n"))


@pytest.mark.parametrize("rate", ["-0.1", "1.5", "often"])
def test_a_bad_failure_rate_is_rejected(random_failure, rate):
    policy = random_failure.module("failure_policy")
    with pytest.raises(policy.InvalidFailureRateError):
        policy.FailurePolicy.from_environment(rate, None)


def test_a_seed_makes_outcomes_depend_only_on_the_key(random_failure):
    FailurePolicy = random_failure.module("failure_policy").FailurePolicy
    policy = FailurePolicy.from_environment("0.5", "seed")
    keys = [f"file-{n}.csv" for n in range(200)]
    first = [policy.fails(key) for key in keys]
    assert first == [policy.fails(key) for key in reversed(keys)][::-1]
    assert 60 < sum(first) < 140
    assert not any(FailurePolicy.from_environment("0", "seed").fails(key) for key in keys)
    assert all(FailurePolicy.from_environment("1", "seed").fails(key) for key in keys)
