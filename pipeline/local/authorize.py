"""One decision for one call: may this principal make it, as the service would answer.

The same for a handler's call over HTTP (pipeline.local.gatekeeper) and a Step Functions task's
call (pipeline.local.task_calls): every access the call needs (pipeline.local.service_actions)
through the caller's identity policies and the resource's policy, then the KMS calls the service
makes on the caller's behalf for an encrypted resource, through the key policy. A refusal carries
the error code and HTTP status the service answers with.
"""

from __future__ import annotations

import uuid

from pipeline.local.access import AccessControl, AccessDenied
from pipeline.local.api_calls import ApiCall
from pipeline.local.policy import Principal
from pipeline.template import TemplateError

# How each service answers a refused call: error code and HTTP status (S3 User Guide,
# "Troubleshoot access denied (403 Forbidden)"; SNS's AuthorizationError, as its API Reference
# lists it for Publish; Lambda's AccessDeniedException is a 403; the JSON services' a 400).
DENIED = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "lambda": ("AccessDeniedException", 403),
}
DENIED_JSON = ("AccessDeniedException", 400)


def spelled(service: str, action: str) -> str:
    """An action as the service writes it in its refusals (IAM matches actions in any case): SNS
    as "SNS:Publish", SQS in lower case, "sqs:sendmessage" (as recorded in
    awslabs/aws-service-catalog-puppet issue 19 and aws/serverless-application-model issue 3633)."""
    if service == "sns":
        return "SNS:" + action.split(":", 1)[1]
    if service == "sqs":
        return action.lower()
    return action


# The KMS calls a service makes for the caller on an encrypted resource, by operation (the
# services' key management pages: "How Amazon DynamoDB uses AWS KMS" (every data call decrypts
# the table key), "Amazon SNS: Key management" and "Amazon SQS: Key management" (a data key to
# encrypt a message, a decryption to read one), S3 User Guide, "Using server-side encryption with
# AWS KMS keys": PutObject generates a data key, GetObject decrypts it, a multipart upload needs
# both, a copy decrypts the source).
KMS_ON_WRITE = ("kms:GenerateDataKey", "kms:Decrypt")
S3_KMS = {
    "PutObject": ("kms:GenerateDataKey",), "CreateMultipartUpload": KMS_ON_WRITE, "UploadPart": KMS_ON_WRITE,
    "CompleteMultipartUpload": KMS_ON_WRITE, "CopyObject": ("kms:GenerateDataKey",),
    "UploadPartCopy": KMS_ON_WRITE, "GetObject": ("kms:Decrypt",),
}
S3_WRITES = frozenset({"PutObject", "CreateMultipartUpload", "CopyObject"})  # may name their own encryption
SQS_KMS = {"SendMessage": KMS_ON_WRITE, "SendMessageBatch": KMS_ON_WRITE, "ReceiveMessage": ("kms:Decrypt",)}


def refuse(access: AccessControl, principal: Principal, call: ApiCall) -> AccessDenied | None:
    """The service's answer if the call is refused, else None."""
    code, status = DENIED.get(call.service, DENIED_JSON)
    if not call.accesses:
        return AccessDenied(code, f"The offline cloud cannot tell which IAM action {call.service} {call.operation} "
                            f"is ({call.why_not}), so it refuses it for {principal.arn} rather than allow what AWS "
                            "might not", status)
    for needed in call.accesses:
        decision, request = access.decide(principal, spelled(call.service, needed.action), needed.resource)
        if not decision.allowed:
            message = decision.message(request)
            if call.service == "s3":  # S3 quotes the resource
                message = message.replace(f"resource: {needed.resource} ", f'resource: "{needed.resource}" ')
            return AccessDenied(code, message, status)
    return _kms_refusal(access, principal, call)


def _kms_refusal(access: AccessControl, principal: Principal, call: ApiCall) -> AccessDenied | None:
    if call.service == "dynamodb":  # each table the call reaches (a batch or a transaction: several)
        tables = dict.fromkeys(needed.resource.split("/index/")[0] for needed in call.accesses
                               if ":table/" in needed.resource)
        for table_arn in tables:
            context = {"aws:dynamodb:tableName": table_arn.rsplit("/", 1)[-1],
                       "aws:dynamodb:subscriberId": access.account}
            if access.kms_on_behalf(principal, "dynamodb", table_arn, context):
                return AccessDenied("AccessDeniedException", DYNAMODB_KMS_REFUSAL.format(request_id=uuid.uuid4()),
                                    400)
    elif call.service == "sns" and call.operation == "Publish":
        if access.kms_on_behalf(principal, "sns", call.resource, {"aws:sns:topicArn": call.resource}):
            return AccessDenied("KMSAccessDenied", SNS_KMS_REFUSAL.format(request_id=uuid.uuid4()), 400)
    elif call.service == "sqs" and call.operation in SQS_KMS:
        refused = access.kms_on_behalf(principal, "sqs", call.resource, {"aws:sqs:arn": call.resource},
                                       actions=SQS_KMS[call.operation])
        if refused:
            return AccessDenied("KMS.AccessDeniedException", refused[0].message(refused[1]), 400)
    elif call.service == "s3":
        return _s3_kms_refusal(access, principal, call)
    return None


def _s3_kms_refusal(access: AccessControl, principal: Principal, call: ApiCall) -> AccessDenied | None:
    """S3 uses the KMS key as the caller: each object access the call makes, a read of the source
    (decrypt) or a write of the destination (a data key). A write uses the encryption it names,
    else the bucket's default; a read is decided on the bucket's default key (the key of an
    object written otherwise is not looked up). HeadObject needs no key (S3 API Reference,
    HeadObject: KMS permissions only with checksum mode)."""
    for needed in call.accesses:
        if not needed.resource.startswith("arn:aws:s3:::") or "/" not in needed.resource:
            continue
        reads = needed.action in ("s3:GetObject", "s3:GetObjectVersion")
        if call.operation in ("CopyObject", "UploadPartCopy"):
            actions = ("kms:Decrypt",) if reads else S3_KMS[call.operation]
        elif call.operation in S3_KMS:
            actions = S3_KMS[call.operation]
        else:
            continue
        bucket_arn = needed.resource.split("/", 1)[0]
        key_arn, bucket_key = None, bucket_arn in access.bucket_keys
        if not reads and call.operation in S3_WRITES:  # a write may name its own encryption
            requested = str(call.parameters.get("ServerSideEncryption") or "")
            if requested == "AES256":
                continue
            if requested.startswith("aws:kms"):
                named = str(call.parameters.get("SSEKMSKeyId") or "alias/aws/s3")
                try:
                    key_arn = access.key_arn(named)
                except TemplateError:  # S3's answer for a key KMS does not have (LocalStack's AWS-recorded
                    # test_s3_sse_validate_kms_key snapshot)
                    return AccessDenied("KMS.NotFoundException", f"Invalid keyId '{named}'", 400)
                bucket_key = str(call.parameters.get("BucketKeyEnabled", bucket_key)).lower() == "true"
        # With an S3 Bucket Key the encryption context is the bucket's ARN, else the object's.
        context_arn = bucket_arn if bucket_key else needed.resource
        refused = access.kms_on_behalf(principal, "s3", bucket_arn, {"aws:s3:arn": context_arn}, actions=actions,
                                       key_arn=key_arn)
        if refused:
            decision, request = refused
            return AccessDenied("AccessDenied", decision.message(request), 403)
    return None


# What DynamoDB answers when KMS refuses the caller the table's key (recorded in aws/aws-cdk
# issue 10010 and aws-samples/aws-secure-environment-accelerator pull 919): not the usual
# "User: ... is not authorized" form, but KMS's own error, wrapped.
DYNAMODB_KMS_REFUSAL = (
    "KMS key access denied error: com.amazonaws.services.kms.model.AWSKMSException: The ciphertext refers to a "
    "customer master key that does not exist, does not exist in this region, or you are not allowed to access. "
    "(Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: {request_id}; Proxy: null)"
)

# What SNS answers when KMS refuses the publisher the topic's key (recorded in aws/aws-cdk issue
# 24337): KMS's error, wrapped, under SNS's code KMSAccessDenied.
SNS_KMS_REFUSAL = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are "
    "not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; "
    "Request ID: {request_id}; Proxy: null)"
)
