"""Payload digests match an invocation to the task state that sent it, whatever its JSON holds."""

import json

from pipeline.payloads import payload_digest


def test_a_payload_has_one_digest_however_it_is_written():
    written = ['{"b": [1, {"c": "été"}], "a": null}', '{"a":null,"b":[1,{"c":"\\u00e9t\\u00e9"}]}']
    assert len({payload_digest(json.loads(text)) for text in written}) == 1
    assert payload_digest({"a": 1}) != payload_digest({"a": 2})


def test_a_lone_surrogate_gets_a_digest():
    """JSON may escape a lone surrogate, which UTF-8 cannot encode: the digest still comes."""
    lone, other = json.loads('{"k": "\\ud800"}'), json.loads('{"k": "\\udc00"}')
    assert payload_digest(lone) == payload_digest(dict(lone)) != payload_digest(other)
