"""Create Upload and the storage POST: what is stored, and everything S3 refuses."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import anyio
import pytest

from .conftest import PDF, Procore, running, sha256

pytestmark = pytest.mark.anyio


async def test_ticket_has_ulid_storage_url_and_policy_fields(procore: Procore):
    ticket = await procore.create_upload("A-101 Plan.pdf")
    assert len(ticket["uuid"]) == 26
    assert ticket["url"].startswith(procore.emu.s3_base)
    assert list(ticket["fields"]) == [
        "key",
        "Content-Type",
        "Content-Disposition",
        "policy",
        "x-amz-credential",
        "x-amz-algorithm",
        "x-amz-date",
        "x-amz-signature",
    ]
    assert ticket["fields"]["key"] == f"companies/{procore.company_id}/{ticket['uuid']}"
    assert ticket["fields"]["Content-Type"] == "application/pdf"
    policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
    assert policy["expiration"].endswith("Z")


@pytest.mark.parametrize("level", ["projects", "companies"])
@pytest.mark.parametrize("version", ["v1.0", "v1.1"])
async def test_uploads_at_project_and_company_level(procore: Procore, level: str, version: str):
    owner = procore.project_id if level == "projects" else procore.company_id
    ticket = await procore.create_upload(path=f"/rest/{version}/{level}/{owner}/uploads")
    assert (await procore.post_file(ticket)).status == 204


async def test_v11_needs_response_filename_v10_does_not(procore: Procore):
    v11 = await procore.call("POST", f"/rest/v1.1/projects/{procore.project_id}/uploads", json={})
    assert v11.status == 422
    v10 = await procore.call("POST", f"/rest/v1.0/projects/{procore.project_id}/uploads")
    assert v10.status == 201
    assert v10.json()["fields"]["Content-Disposition"] == "inline"


async def test_non_ascii_and_quoted_names_are_escaped_in_the_disposition(procore: Procore):
    ticket = await procore.create_upload('Façade "North" A-201.pdf')
    disposition = ticket["fields"]["Content-Disposition"]
    assert disposition.startswith('inline; filename="Fa?ade \\"North\\" A-201.pdf"')
    assert "filename*=UTF-8''Fa%C3%A7ade%20%22North%22%20A-201.pdf" in disposition
    assert (await procore.post_file(ticket)).status == 204


async def test_post_stores_the_bytes_on_disk_and_reports_their_hash(procore: Procore):
    content = PDF + b"x" * 700_000
    ticket = await procore.create_upload()
    reply = await procore.post_file(ticket, content)
    assert reply.status == 204
    assert reply.text == ""
    assert reply.headers["ETag"].startswith('"')
    stored = await anyio.Path(procore.emu.world.storage_dir, ticket["uuid"]).read_bytes()
    assert stored == content
    (upload,) = (await procore.state("uploads"))["uploads"]
    assert upload["size"] == len(content)
    assert upload["sha256"] == sha256(content)
    assert upload["posted"] is True
    assert upload["post_count"] == 1


async def test_fields_after_file_are_ignored(procore: Procore):
    """Procore's own screenshot sends `uuid` after the file; S3 ignores it."""
    ticket = await procore.create_upload()
    reply = await procore.post_file(ticket, after_file=(("uuid", ticket["uuid"]),))
    assert reply.status == 204


async def test_expired_policy_is_403_xml(procore: Procore):
    ticket = await procore.create_upload()
    await procore.advance(3600)
    reply = await procore.post_file(ticket)
    assert reply.status == 403
    assert reply.headers["Content-Type"].startswith("application/xml")
    assert "<Code>AccessDenied</Code>" in reply.text
    assert "<Message>Invalid according to Policy: Policy expired.</Message>" in reply.text
    assert (await procore.state("rejections"))["rejections"] == {"policy_expired": 1}


async def test_upload_ttl_is_configurable():
    async with running(upload_ttl=2) as procore:
        clock = procore.emu.world.clock
        before = clock.now()
        ticket = await procore.create_upload()
        after = clock.now()
        issued = procore.emu.world.uploads[ticket["uuid"]].created_at
        assert before <= issued <= after
        policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
        expires = datetime.fromisoformat(policy["expiration"]).timestamp()
        assert expires == pytest.approx(issued + 2, abs=0.001)  # the policy says milliseconds
        assert (await procore.post_file(ticket)).status == 204
        late = await procore.create_upload()
        await procore.advance(2)
        assert (await procore.post_file(late)).status == 403


async def test_extra_field_before_file_is_refused(procore: Procore):
    ticket = await procore.create_upload()
    fields = [*ticket["fields"].items(), ("uuid", ticket["uuid"])]
    reply = await procore.post_file(ticket, fields=fields)
    assert reply.status == 403
    assert "Extra input fields: uuid" in reply.text


async def test_key_after_file_counts_as_missing(procore: Procore):
    ticket = await procore.create_upload()
    fields = [(k, v) for k, v in ticket["fields"].items() if k != "key"]
    reply = await procore.post_file(
        ticket, fields=fields, after_file=(("key", ticket["fields"]["key"]),)
    )
    assert reply.status == 400
    assert "must contain a field named 'key'" in reply.text


async def test_changed_or_missing_fields_fail_their_condition(procore: Procore):
    ticket = await procore.create_upload()
    changed = {**ticket["fields"], "Content-Type": "application/octet-stream"}
    assert (await procore.post_file(ticket, fields=list(changed.items()))).status == 403
    missing = [(k, v) for k, v in ticket["fields"].items() if k != "Content-Disposition"]
    reply = await procore.post_file(ticket, fields=missing)
    assert reply.status == 403
    assert "Policy Condition failed" in reply.text


async def test_forged_signature_is_refused(procore: Procore):
    ticket = await procore.create_upload()
    forged = {**ticket["fields"], "x-amz-signature": "0" * 64}
    reply = await procore.post_file(ticket, fields=list(forged.items()))
    assert reply.status == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in reply.text


async def test_missing_file_is_400(procore: Procore):
    ticket = await procore.create_upload()
    form = aiohttp.FormData(list(ticket["fields"].items()), default_to_multipart=True)
    reply = await procore.raw("POST", ticket["url"], data=form)
    assert reply.status == 400
    assert "exactly one file upload" in reply.text


async def test_authorization_header_to_storage_is_400(procore: Procore):
    ticket = await procore.create_upload()
    reply = await procore.post_file(ticket, headers={"Authorization": f"Bearer {procore.token}"})
    assert reply.status == 400
    assert "<Code>InvalidArgument</Code>" in reply.text
    violations = (await procore.state("violations"))["violations"]
    assert violations[-1]["kind"] == "authorization_to_s3"


async def test_body_without_content_length_is_411(procore: Procore):
    ticket = await procore.create_upload()
    boundary = "bulkimportboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in ticket["fields"].items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        f"Content-Type: application/pdf\r\n\r\n".encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )

    async def chunked() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    reply = await procore.raw(
        "POST",
        ticket["url"],
        data=chunked(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert reply.status == 411


async def test_not_multipart_and_unknown_bucket(procore: Procore):
    ticket = await procore.create_upload()
    reply = await procore.raw(
        "POST", ticket["url"], data=b"x", headers={"Content-Type": "text/plain"}
    )
    assert reply.status == 412
    elsewhere = {**ticket, "url": f"{procore.emu.s3_base}/some-other-bucket"}
    assert (await procore.post_file(elsewhere)).status == 404


async def test_file_over_the_policy_size_is_too_large_and_not_kept():
    async with running(max_upload_bytes=1000) as procore:
        ticket = await procore.create_upload()
        reply = await procore.post_file(ticket, PDF + b"x" * 2000)
        assert reply.status == 400
        assert "<Code>EntityTooLarge</Code>" in reply.text
        assert list(procore.emu.world.storage_dir.iterdir()) == []


async def test_posting_again_replaces_the_object_and_is_counted(procore: Procore):
    ticket = await procore.create_upload()
    await procore.post_file(ticket, PDF)
    await procore.post_file(ticket, PDF + b"more")
    (upload,) = (await procore.state("uploads"))["uploads"]
    assert upload["post_count"] == 2
    assert upload["sha256"] == sha256(PDF + b"more")


async def test_storage_refuses_what_it_did_not_sign(procore: Procore):
    ticket = await procore.create_upload()
    other = await procore.as_other_user()
    other_ticket = await other.create_upload()
    # A ticket's fields are bound to its key: swapping keys breaks the signature.
    swapped = {**ticket["fields"], "key": other_ticket["fields"]["key"]}
    assert (await procore.post_file(ticket, fields=list(swapped.items()))).status == 403


async def test_form_fields_over_20_kb_before_the_file_are_refused(procore: Procore):
    ticket = await procore.create_upload()
    fields = [*ticket["fields"].items(), ("x-ignore-padding", "p" * 21_000)]
    reply = await procore.post_file(ticket, fields=fields)
    assert reply.status == 400
    assert "<Code>MaxPostPreDataLengthExceeded</Code>" in reply.text


async def test_company_uploads_only_for_the_header_company(procore: Procore):
    reply = await procore.call(
        "POST", "/rest/v1.1/companies/12345/uploads", json={"response_filename": "a.pdf"}
    )
    assert reply.status == 404


async def test_segmented_uploads_are_declined_plainly(procore: Procore):
    reply = await procore.call(
        "POST",
        f"/rest/v1.1/projects/{procore.project_id}/uploads",
        json={"response_filename": "big.pdf", "segments": [{"size": 6_000_000, "sha256": "0"}]},
    )
    assert reply.status == 422
    assert "Segmented uploads" in reply.json()["errors"]


async def test_a_sunset_v10_create_upload_is_404_and_counted():
    async with running(v10_uploads=False) as procore:
        project = f"/rest/v1.0/projects/{procore.project_id}/uploads"
        company = f"/rest/v1.0/companies/{procore.company_id}/uploads"
        for path in (project, company):
            reply = await procore.call("POST", path, json={"response_filename": "a.pdf"})
            assert reply.status == 404
            assert reply.json() == {"errors": "Not Found"}
        await procore.create_upload()  # v1.1 is served
        state = await procore.state("requests", "violations")
        assert state["requests"]["POST /rest/v1.0/projects/{project_id}/uploads"] == 1
        assert state["requests"]["POST /rest/v1.0/companies/{company_id}/uploads"] == 1
        assert [v["kind"] for v in state["violations"]] == ["v10_upload_sunset"] * 2
