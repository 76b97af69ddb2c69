"""The POST policy is real AWS SigV4, and S3's form rules are applied."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from bulkimport.emulator.sigv4 import check_form, post_fields, signing_key

SECRET = "s3cr3t"
KEYS = {"AKIATEST": SECRET}


def fields(**overrides: object) -> dict[str, str]:
    args: dict[str, object] = {
        "bucket": "b",
        "key": "companies/1/01ABC",
        "content_type": "application/pdf",
        "content_disposition": 'inline; filename="a.pdf"',
        "access_key": "AKIATEST",
        "secret": SECRET,
        "issued_at": 1_700_000_000.0,
        "expires_at": 1_700_003_600.0,
        "max_bytes": 1000,
    }
    args.update(overrides)
    return post_fields(**args)  # type: ignore[arg-type]


def test_signing_key_matches_aws_published_example():
    """AWS's Task 3 example (secret, 20150830, us-east-1, iam) gives signature 5d672d79..."""
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")
    string_to_sign = (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    assert signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


def test_policy_names_expiration_and_every_field():
    """The policy decodes to JSON whose expiration is the issue time plus the TTL."""
    policy = json.loads(base64.b64decode(fields()["policy"]))
    assert policy["expiration"] == "2023-11-14T23:13:20.000Z"
    named = {next(iter(c)) for c in policy["conditions"] if isinstance(c, dict)}
    assert named == {
        "bucket",
        "key",
        "Content-Type",
        "Content-Disposition",
        "x-amz-credential",
        "x-amz-algorithm",
        "x-amz-date",
    }
    assert ["content-length-range", 0, 1000] in policy["conditions"]


def test_untouched_fields_pass_and_report_the_size_range():
    rejection, size_range = check_form(fields(), "b", 1_700_000_001.0, KEYS)
    assert rejection is None
    assert size_range == (0, 1000)


def test_field_names_compare_case_insensitively_and_x_ignore_is_allowed():
    form = {k.lower(): v for k, v in fields().items()} | {"x-ignore-note": "hi"}
    assert check_form(form, "b", 1_700_000_001.0, KEYS)[0] is None


def test_expired_policy_is_access_denied():
    rejection, _ = check_form(fields(), "b", 1_700_003_600.0, KEYS)
    assert rejection is not None
    assert (rejection.status, rejection.code) == (403, "AccessDenied")
    assert rejection.message == "Invalid according to Policy: Policy expired."


def test_changed_field_fails_its_condition():
    form = fields() | {"Content-Type": "image/png"}
    rejection, _ = check_form(form, "b", 1_700_000_001.0, KEYS)
    assert rejection is not None
    assert rejection.kind == "policy_condition_failed"
    assert "$content-type" in rejection.message


def test_other_bucket_fails_the_bucket_condition():
    rejection, _ = check_form(fields(), "another", 1_700_000_001.0, KEYS)
    assert rejection is not None
    assert rejection.kind == "policy_condition_failed"


def test_field_not_in_policy_is_an_extra_input_field():
    rejection, _ = check_form(fields() | {"uuid": "x"}, "b", 1_700_000_001.0, KEYS)
    assert rejection is not None
    assert rejection.message == "Invalid according to Policy: Extra input fields: uuid"


def test_tampered_policy_does_not_match_its_signature():
    form = fields()
    longer = fields(expires_at=1_800_000_000.0)
    rejection, _ = check_form(form | {"policy": longer["policy"]}, "b", 1_700_000_001.0, KEYS)
    assert rejection is not None
    assert rejection.code == "SignatureDoesNotMatch"


def test_missing_field_fails_and_no_policy_is_anonymous():
    form = fields()
    del form["Content-Disposition"]
    assert check_form(form, "b", 1_700_000_001.0, KEYS)[0].kind == "policy_condition_failed"  # type: ignore[union-attr]
    del form["policy"]
    assert check_form(form, "b", 1_700_000_001.0, KEYS)[0].kind == "anonymous_post"  # type: ignore[union-attr]
