"""Whichever way S3 encodes the key of an EventBridge "Object Created" event, the right object is
processed, and the function says which form it found (AWS does not document the encoding)."""

import json

import pytest

from pipeline.offline import OfflineCloud

# "a b.csv" lands before "a+b.csv": with raw keys, the decoded form of "a+b.csv" names it, and
# only the event's version tells the two objects apart.
KEYS = ["Q3 customers+leads.CSV", "100%.csv", "my file.csv", "a b.csv", "a+b.csv", "plain.csv"]


def resolved_forms(cloud):
    """key -> the form Check File Extension logged having found, for keys that needed a look."""
    forms = {}
    for report in cloud.runtime.reports:
        for line in report.logs:
            if "Resolved the event's key form" in line:
                record = json.loads(line)
                forms[record["decoded_key"] if record["key_form"] == "decoded" else record["raw_key"]] = record["key_form"]
    return forms


@pytest.mark.parametrize("key_form", ["form", "raw"])
def test_every_key_is_processed_whichever_form_s3_sends(tmp_path, key_form):
    files = []
    for key in KEYS:
        path = tmp_path / key
        path.write_text("id,name\n1,x\n", encoding="utf-8")
        files.append(path)
    with OfflineCloud.deploy("template.yaml", ["FailureRate=0"], time_scale=0, eventbridge_key_form=key_form) as cloud:
        results = cloud.run(files, window=1)
        forms = resolved_forms(cloud)
    assert [(r.key, r.status) for r in results] == [(key, "SUCCEEDED") for key in KEYS]
    found = "decoded" if key_form == "form" else "raw"
    # A key reads differently decoded only if the event's form has "+" or "%XX" in it.
    ambiguous = {"form": ["Q3 customers+leads.CSV", "100%.csv", "my file.csv", "a b.csv", "a+b.csv"],
                 "raw": ["Q3 customers+leads.CSV", "a+b.csv"]}[key_form]
    assert forms == {key: found for key in ambiguous}
