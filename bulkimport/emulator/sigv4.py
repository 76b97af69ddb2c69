"""AWS Signature Version 4 browser-POST policies: issued with each upload, checked by storage.

The policy is base64 JSON `{"expiration": ..., "conditions": [...]}`, signed with the SigV4
signing key derived from the secret, the credential date, the region and "s3". Verification
follows S3's rules for POST forms: signature, expiration, every condition, and no form field
that no condition names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ALGORITHM = "AWS4-HMAC-SHA256"
REGION = "us-east-1"
# Fields S3 never requires a condition for.
UNCONDITIONED = frozenset({"policy", "x-amz-signature", "file"})


@dataclass(frozen=True, slots=True)
class PolicyRejection:
    status: int
    code: str
    message: str
    kind: str  # a short name for the ledger


def signing_key(secret: str, date: str, region: str = REGION, service: str = "s3") -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(policy_b64: str, secret: str, date: str) -> str:
    return hmac.new(signing_key(secret, date), policy_b64.encode(), hashlib.sha256).hexdigest()


def post_fields(
    *,
    bucket: str,
    key: str,
    content_type: str,
    content_disposition: str,
    access_key: str,
    secret: str,
    issued_at: float,
    expires_at: float,
    max_bytes: int | None,
) -> dict[str, str]:
    """The `fields` of a Create Upload answer, in the order a client must send them."""
    issued = datetime.fromtimestamp(issued_at, UTC)
    amz_date = issued.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{access_key}/{issued:%Y%m%d}/{REGION}/s3/aws4_request"
    expiration = datetime.fromtimestamp(expires_at, UTC).isoformat(timespec="milliseconds")
    conditions: list[Any] = [
        {"bucket": bucket},
        {"key": key},
        {"Content-Type": content_type},
        {"Content-Disposition": content_disposition},
        {"x-amz-credential": credential},
        {"x-amz-algorithm": ALGORITHM},
        {"x-amz-date": amz_date},
    ]
    if max_bytes is not None:
        conditions.append(["content-length-range", 0, max_bytes])
    policy = json.dumps(
        {"expiration": expiration.replace("+00:00", "Z"), "conditions": conditions},
        separators=(",", ":"),
    )
    policy_b64 = base64.b64encode(policy.encode()).decode()
    return {
        "key": key,
        "Content-Type": content_type,
        "Content-Disposition": content_disposition,
        "policy": policy_b64,
        "x-amz-credential": credential,
        "x-amz-algorithm": ALGORITHM,
        "x-amz-date": amz_date,
        "x-amz-signature": sign(policy_b64, secret, f"{issued:%Y%m%d}"),
    }


def _denied(message: str, kind: str) -> PolicyRejection:
    return PolicyRejection(403, "AccessDenied", f"Invalid according to Policy: {message}", kind)


def check_form(
    form: Mapping[str, str], bucket: str, now: float, secrets_by_key: Mapping[str, str]
) -> tuple[PolicyRejection | None, tuple[int, int] | None]:
    """Check the form fields sent before `file`.

    Returns the rejection, if any, and the allowed size range from `content-length-range`.
    Field names compare case-insensitively, as S3 does.
    """
    fields = {name.lower(): value for name, value in form.items()}
    policy_b64 = fields.get("policy")
    signature = fields.get("x-amz-signature")
    credential = fields.get("x-amz-credential", "")
    if not policy_b64 or not signature:
        return PolicyRejection(403, "AccessDenied", "Access Denied", "anonymous_post"), None
    access_key, _, scope = credential.partition("/")
    date = scope.split("/", 1)[0]
    secret = secrets_by_key.get(access_key)
    if secret is None:
        return PolicyRejection(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            "unknown_access_key",
        ), None
    if not hmac.compare_digest(sign(policy_b64, secret, date), signature):
        return PolicyRejection(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            "signature_mismatch",
        ), None
    try:
        policy = json.loads(base64.b64decode(policy_b64, validate=True))
        expiration = datetime.fromisoformat(policy["expiration"])
        conditions = list(policy["conditions"])
    except (ValueError, KeyError, TypeError):
        return _denied("Policy could not be parsed.", "bad_policy"), None
    if now >= expiration.timestamp():
        return _denied("Policy expired.", "policy_expired"), None

    covered = set(UNCONDITIONED)
    size_range: tuple[int, int] | None = None
    for condition in conditions:
        if isinstance(condition, dict):
            ((name, expected),) = condition.items()
            condition = ["eq", f"${name}", expected]
        op = str(condition[0]).lower()
        if op == "content-length-range":
            size_range = (int(condition[1]), int(condition[2]))
            continue
        name = str(condition[1]).lstrip("$").lower()
        covered.add(name)
        actual = bucket if name == "bucket" else fields.get(name)
        ok = actual is not None and (
            actual == condition[2] if op == "eq" else actual.startswith(str(condition[2]))
        )
        if not ok:
            shown = json.dumps([op, f"${name}", condition[2]])
            return _denied(f"Policy Condition failed: {shown}", "policy_condition_failed"), None
    extra = sorted(n for n in fields if n not in covered and not n.startswith("x-ignore-"))
    if extra:
        return _denied(f"Extra input fields: {', '.join(extra)}", "extra_input_fields"), None
    return None, size_range
