"""Where moto's DynamoDB answers differently from DynamoDB, corrected in every process that serves
it (the offline cloud's, and the DynamoDB process of the speed layer). Importing this module
imports none of moto's internals: the DynamoDB process starts quickly."""

from __future__ import annotations

from typing import Any

from pipeline.local.patching import Patch


def patches() -> list[Patch]:
    from moto.dynamodb.responses import DynamoHandler

    original_update_item = Patch(DynamoHandler, "update_item", None).original()

    def update_item(self: DynamoHandler) -> Any:
        """UpdateItem with ReturnValues UPDATED_NEW returns no key attribute, also when it creates
        the item: UPDATED_NEW "Returns only the updated attributes, as they appear after the
        UpdateItem operation" (DynamoDB API Reference, UpdateItem), and an update cannot set a key
        attribute; a test run against DynamoDB records an upsert's answer without the key
        (scylladb/scylladb, test/alternator/test_returnvalues.py,
        test_update_item_returnvalues_updated_new). moto compares the new item with none, and
        returns its key as updated. Nothing updated (a REMOVE of what is gone), no Attributes:
        moto answered an empty map."""
        if "UpdateExpression" not in self.body and "AttributeUpdates" not in self.body:
            # Neither is required: the item is created with its key alone (ScyllaDB's
            # test_item.py, test_update_item_no_update_method, run against DynamoDB). moto
            # failed with a 500, applying attribute updates of None.
            self.body["AttributeUpdates"] = {}
        answer = original_update_item(self)
        if isinstance(answer.result, dict) and self.body.get("ReturnConsumedCapacity", "NONE") == "NONE":
            # "ConsumedCapacity is only returned if the ReturnConsumedCapacity parameter was
            # specified" (DynamoDB API Reference, UpdateItem); moto returns it always, and a
            # dynamodb:updateItem task's output carried it.
            answer.result.pop("ConsumedCapacity", None)
        attributes = answer.result.get("Attributes") if isinstance(answer.result, dict) else None
        if self.body.get("ReturnValues") != "UPDATED_NEW" or attributes is None:
            return answer
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        for key in (table.hash_key_attr, table.range_key_attr):
            attributes.pop(key, None)
        if not attributes:
            answer.result.pop("Attributes")
        return answer

    return [Patch(DynamoHandler, "update_item", update_item)]
