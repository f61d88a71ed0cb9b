"""What is refused before a stack is created, from a transformed template (no moto, no cloud)."""

from pipeline.local.validation import refusals


def state_machine(definition_string, substitutions=None, role="MachineRole"):
    return {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "RoleArn": {"Fn::GetAtt": [role, "Arn"]}, "DefinitionString": definition_string,
        **({"DefinitionSubstitutions": substitutions} if substitutions else {})}}


ROLE = {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "machine-role", "AssumeRolePolicyDocument": {
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                                            "Action": "sts:AssumeRole"}]}}}


def refused(resources):
    return [(r.logical_id, r.code) for r in refusals({"Resources": resources}, {}, "us-east-1", "123456789012", "s")]


def test_a_value_known_only_once_the_stack_exists_is_not_a_reason_to_refuse():
    """The table's StreamArn is not one the offline cloud derives before the stack exists."""
    table = {"Type": "AWS::DynamoDB::Table", "Properties": {
        "BillingMode": "PAY_PER_REQUEST", "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}}
    definition = '{"StartAt": "T", "States": {"T": {"Type": "Pass", "Result": "${Stream}", "End": true}}}'
    assert refused({"MachineRole": ROLE, "Table": table, "Machine": state_machine(
        definition, {"Stream": {"Fn::GetAtt": ["Table", "StreamArn"]}})}) == []


def test_a_role_named_in_a_policy_by_its_role_name_exists():
    key = {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": {"Fn::GetAtt": ["MachineRole", "Arn"]}},
         "Action": "kms:Decrypt", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/machine-role"},
         "Action": "kms:Encrypt", "Resource": "*"}]}}}
    assert refused({"MachineRole": ROLE, "Key": key}) == []
    key["Properties"]["KeyPolicy"]["Statement"][2]["Principal"]["AWS"] = "arn:aws:iam::123456789012:role/gone"
    assert refused({"MachineRole": ROLE, "Key": key}) == [("Key", "NotSupportedOffline")]
