"""The typed boundary (bulkimport.procore.boundary) over real sockets on 127.0.0.1: what the
network and the answers of Procore and storage become in the engine's exception tree, and what
the client does with each, on a clock the test moves."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer

from bulkimport.emulator import EmulatorConfig, RateLimits, RunningEmulator, serve
from bulkimport.errors import (
    DrawingNumberTaken,
    PolicyExpired,
    ProcoreError,
    ProcoreRejected,
    ProcoreUnavailable,
    RetriesExhausted,
    StorageError,
    StorageUnavailable,
    UnexpectedAnswer,
)
from bulkimport.models import Ticket
from bulkimport.procore.answers import DrawingArea
from bulkimport.procore.boundary import procore_errors, procore_reply
from bulkimport.procore.client import ProcoreClient
from bulkimport.procore.storage import post_file
from bulkimport.settings import ProcoreSettings

from .clocks import EmulatorClock
from .conftest import CREDENTIALS, procore_settings, write_pdf
from .fake_clock import FakeClock
from .test_contract import spend
from .test_storage import drawing

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def settings_for(base: str, max_attempts: int = 2) -> ProcoreSettings:
    return ProcoreSettings(base, base, 1, 2, timeout=5.0, max_attempts=max_attempts)


class Scripted:
    """A Procore stand-in: a token for every token request, then the scripted answers in turn
    (the last one again once the script runs out)."""

    def __init__(self, *answers: tuple[int, dict[str, str], str]) -> None:
        self.answers = list(answers)
        self.requests = 0

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        await request.read()
        if request.path == "/oauth/token":
            token = {"access_token": "scripted-token", "expires_in": 3600}
            return web.json_response(token)
        self.requests += 1
        status, headers, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return web.Response(status=status, headers=headers, text=body)


@pytest.fixture(name="session")
async def _session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


JSON = {"Content-Type": "application/json"}
XML = {"Content-Type": "application/xml"}
AREAS = json.dumps([{"id": 7, "name": "Building A"}])


class TestProcore:
    async def test_no_answer_is_procore_unavailable(self, session: aiohttp.ClientSession):
        """A refused connection is ProcoreUnavailable, with aiohttp's error as its cause."""
        url = f"http://127.0.0.1:{closed_port()}/rest/v1.1/me"

        async def get() -> None:
            with procore_errors("GET /rest/v1.1/me"):
                async with session.get(url) as response:
                    await response.read()

        with pytest.raises(ProcoreUnavailable) as caught:
            await get()
        assert caught.value.status is None
        assert caught.value.message.startswith("ClientConnectorError")
        assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)

    async def test_a_client_that_cannot_connect_gives_up_once(self, session):
        """The token request gives up after its attempts; the call that needed the token
        does not retry it again (no retries of retries), and nothing really slept."""
        clock = FakeClock()
        base = f"http://127.0.0.1:{closed_port()}"
        client = ProcoreClient(
            settings_for(base, max_attempts=3), CREDENTIALS, session, None, clock
        )
        with pytest.raises(RetriesExhausted, match="gave up after 3 failed attempts"):
            await client.drawing_areas()
        assert client.requests == {"POST /oauth/token": 3}
        assert len(clock.slept) == 2

    async def test_a_5xx_is_retried_and_procores_message_kept(self, session):
        script = Scripted((502, JSON, '{"errors": "Bad Gateway"}'), (200, JSON, AREAS))
        async with RawTestServer(script, host="127.0.0.1") as server:
            base = str(server.make_url("")).rstrip("/")
            client = ProcoreClient(settings_for(base), CREDENTIALS, session, None, FakeClock())
            assert await client.drawing_areas() == [DrawingArea(7, "Building A")]
        assert script.requests == 2

    async def test_a_5xx_that_lasts_gives_up_with_procores_message(self, session):
        script = Scripted((503, JSON, '{"errors": "Service Unavailable"}'))
        async with RawTestServer(script, host="127.0.0.1") as server:
            base = str(server.make_url("")).rstrip("/")
            client = ProcoreClient(settings_for(base), CREDENTIALS, session, None, FakeClock())
            with pytest.raises(RetriesExhausted) as caught:
                await client.drawing_areas()
        assert script.requests == 2
        assert caught.value.endpoint == "GET /rest/v1.1/projects/{id}/drawing_areas"
        assert "gave up after 2 failed attempts" in caught.value.message
        assert caught.value.message.endswith("Service Unavailable")

    async def test_a_4xx_carries_procores_message(self, session):
        """Field errors are spelt out; nothing is retried. Create Drawing's "taken" is the one
        refusal the client reads the words of, into its own type."""
        body = json.dumps({"errors": {"number": ["has already been taken"]}})
        script = Scripted((422, JSON, body))
        async with RawTestServer(script, host="127.0.0.1") as server:
            base = str(server.make_url("")).rstrip("/")
            client = ProcoreClient(settings_for(base), CREDENTIALS, session, None, FakeClock())
            with pytest.raises(ProcoreRejected) as caught:
                await client.create_drawing(7, "A-1", None, "Architectural")
        assert (caught.value.status, caught.value.message) == (
            422,
            "number: has already been taken",
        )
        assert isinstance(caught.value, DrawingNumberTaken)  # told by its type, not its words
        assert caught.value.endpoint == "POST /rest/v1.1/drawing_areas/{id}/drawings"
        assert script.requests == 1

    async def test_the_emulators_404_is_a_rejection_with_its_text(self, client: ProcoreClient):
        with pytest.raises(ProcoreRejected) as caught:
            await client.drawing_upload(999_999)
        assert (caught.value.status, caught.value.message) == (404, "Drawing upload not found")

    @pytest.mark.parametrize("body", ['[{"name": "no id"}]', '{"not": "a list"}'])
    async def test_an_answer_without_the_documented_shape_is_unexpected(self, session, body):
        """Read at the client into typed values: a missing field is UnexpectedAnswer there,
        never a KeyError in a stage."""
        script = Scripted((200, JSON, body))
        async with RawTestServer(script, host="127.0.0.1") as server:
            base = str(server.make_url("")).rstrip("/")
            client = ProcoreClient(settings_for(base), CREDENTIALS, session, None, FakeClock())
            with pytest.raises(UnexpectedAnswer) as caught:
                await client.drawing_areas()
        assert caught.value.status == 200
        assert "documented shape" in caught.value.message
        assert script.requests == 1  # not retried

    def test_answers_map_by_status(self):
        """The statuses the policy treats apart each have their own type."""
        now = 1_000.0
        assert procore_reply("E", 200, JSON, "[]", with_token=True, now=now).body == []
        cases = {
            (429, (("X-Rate-Limit-Reset", "1030"),)): ("RateLimited", 30.0),
            (503, (("Retry-After", "4"),)): ("Throttled", 4.0),
            (503, ()): ("ProcoreUnavailable", None),
            (401, ()): ("TokenRefused", None),
            (501, ()): ("ProcoreRejected", None),
        }
        for (status, headers), (kind, wait) in cases.items():
            with pytest.raises(ProcoreError) as caught:
                procore_reply("E", status, dict(headers), "{}", with_token=True, now=now)
            assert (type(caught.value).__name__, caught.value.retry_after) == (kind, wait)


class TestProcoresWaitsOnOneClock:
    async def test_a_429_waits_for_reset_without_costing_an_attempt(self, tmp_path: Path):
        """One attempt allowed, and another integration spent the spike window: the 429 holds
        the budget until the window's Reset (600 s of the shared clock, no real wait), then the
        call succeeds."""
        limits = RateLimits(spike_limit=3, spike_window=600.0, retry_after=False)
        async with serve(EmulatorConfig(rate_limits=limits)) as emu, aiohttp.ClientSession() as s:
            clock = EmulatorClock(emu)
            settings = settings_of(emu, tmp_path, max_attempts=1)
            client = ProcoreClient(settings, CREDENTIALS, s, None, clock)
            await spend(emu, 3)
            assert len(await client.drawing_areas()) == 2
        assert (client.budget.rate_limited, emu.world.ledger.rate_limited) == (1, 1)
        assert sum(clock.slept) >= 590.0

    async def test_a_503_throttle_holds_without_costing_an_attempt(self, session):
        busy = (503, {"Retry-After": "30", **JSON}, '{"errors": "Service Unavailable"}')
        script = Scripted(busy, busy, (200, JSON, AREAS))
        async with RawTestServer(script, host="127.0.0.1") as server:
            base = str(server.make_url("")).rstrip("/")
            clock = FakeClock()
            client = ProcoreClient(settings_for(base, 1), CREDENTIALS, session, None, clock)
            assert await client.drawing_areas() == [DrawingArea(7, "Building A")]
        assert client.budget.throttled == 2
        assert sum(clock.slept) >= 60.0  # both holds, waited in the budget on the clock

    async def test_the_token_is_renewed_before_it_expires(self, tmp_path: Path):
        """The emulator's tokens live 5,400 s; the client renews 300 s early, by its clock."""
        async with serve(EmulatorConfig()) as emu, aiohttp.ClientSession() as session:
            clock = EmulatorClock(emu)
            client = ProcoreClient(settings_of(emu, tmp_path), CREDENTIALS, session, None, clock)
            await client.drawing_areas()
            clock.advance(5_000)
            await client.drawing_areas()
            assert emu.world.ledger.tokens_issued == 1
            clock.advance(150)
            await client.drawing_areas()
            assert emu.world.ledger.tokens_issued == 2
            assert emu.world.ledger.rejections.get("invalid_token", 0) == 0

    async def test_a_refused_token_is_renewed_once_and_the_call_repeated(self, tmp_path: Path):
        """The client's clock stands still while Procore's moves past the token's life: the
        401 renews the token and the same call goes again."""
        async with serve(EmulatorConfig()) as emu, aiohttp.ClientSession() as session:
            client = ProcoreClient(
                settings_of(emu, tmp_path, max_attempts=1),
                CREDENTIALS,
                session,
                None,
                FakeClock(),
            )
            await client.drawing_areas()
            emu.world.clock.advance(6_000)
            assert len(await client.drawing_areas()) == 2
            assert emu.world.ledger.tokens_issued == 2
            assert emu.world.ledger.rejections.get("invalid_token", 0) == 1


def settings_of(emu: RunningEmulator, root: Path, max_attempts: int = 4) -> ProcoreSettings:
    settings = procore_settings(emu)
    return ProcoreSettings(
        settings.api_base,
        settings.login_base,
        settings.company_id,
        settings.project_id,
        max_attempts=max_attempts,
    )


class TestStorage:
    @pytest.mark.parametrize(
        ("status", "code", "message", "kind"),
        [
            (400, "EntityTooLarge", "Your proposed upload exceeds the maximum", StorageError),
            (403, "AccessDenied", "Invalid according to Policy: Policy expired.", PolicyExpired),
            (503, "SlowDown", "Please reduce your request rate.", StorageUnavailable),
        ],
    )
    async def test_s3s_xml_error_is_read_into_its_type(
        self, session, tmp_path: Path, status: int, code: str, message: str, kind: type
    ):
        document = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        script = Scripted((status, XML, document))
        write_pdf(tmp_path / "A-1.pdf")
        async with RawTestServer(script, host="127.0.0.1") as server:
            ticket = Ticket("u-1", str(server.make_url("/bucket")), (("key", "k"),), 0.0, 9e9)
            with pytest.raises(StorageError) as caught:
                await post_file(session, ticket, drawing(tmp_path, "A-1.pdf"))
        assert type(caught.value) is kind
        assert (caught.value.path, caught.value.status) == ("A-1.pdf", status)
        assert (caught.value.code, caught.value.message) == (code, message)

    async def test_no_answer_from_storage_is_storage_unavailable(self, session, tmp_path: Path):
        write_pdf(tmp_path / "A-1.pdf")
        url = f"http://127.0.0.1:{closed_port()}/bucket"
        ticket = Ticket("u-1", url, (("key", "k"),), 0.0, 9e9)
        with pytest.raises(StorageUnavailable) as caught:
            await post_file(session, ticket, drawing(tmp_path, "A-1.pdf"))
        assert (caught.value.path, caught.value.status) == ("A-1.pdf", None)
        assert caught.value.code == "ClientConnectorError"
