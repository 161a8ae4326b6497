"""The bot's outbound token is fetched off the event loop, with a timeout, and every way it
fails is one retryable `TokenUnavailable` (Microsoft Entra ID down must not freeze the bot,
nor lose what the outbox was about to send)."""
from __future__ import annotations

import asyncio
import threading

import pytest
import requests
from botframework.connector.auth import MicrosoftAppCredentials

from bot.teams import bot_token
from bot.teams.bot_token import TokenUnavailable, authorization


class _Credentials:
    """Stands in for botframework's AppCredentials: `signed_session` runs `behaviour`."""

    def __init__(self, behaviour, app_id: str = "00000000-0000-0000-0000-00000000b07") -> None:
        self.microsoft_app_id = app_id
        self._behaviour = behaviour
        self.threads: list[str] = []

    def signed_session(self, session):
        self.threads.append(threading.current_thread().name)
        self._behaviour(session)
        return session


def _bearer(session) -> None:
    session.headers["Authorization"] = "Bearer t0ken"


async def test_a_token_endpoint_that_hangs_times_out_and_never_blocks_the_loop():
    released = threading.Event()
    credentials = _Credentials(lambda session: released.wait(10))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    try:
        with pytest.raises(TokenUnavailable, match=r"no token from Microsoft Entra ID within 0.5 s"):
            await authorization(credentials, timeout_s=0.5)
    finally:
        released.set()  # let the token thread go (it is shared)
        ticker.cancel()
    assert ticks >= 20  # the loop ran all along (about 50 ticks in 0.5 s)
    assert credentials.threads and credentials.threads[0].startswith("bot-token")


async def test_the_token_comes_from_the_token_thread():
    credentials = _Credentials(_bearer)
    assert await authorization(credentials) == {"Authorization": "Bearer t0ken"}
    assert credentials.threads[0].startswith("bot-token")


@pytest.mark.parametrize(("raised", "said"), [
    (PermissionError("Failed to get access token with error: invalid_client, error_description: AADSTS7000215: "
                     "Invalid client secret provided."), "AADSTS7000215: Invalid client secret provided."),
    (requests.exceptions.ConnectionError("login.microsoftonline.com: Name or service not known"),
     "cannot reach Microsoft Entra ID: ConnectionError"),
    (ValueError("Unable to get authority configuration for https://login.microsoftonline.com/botframework.com"),
     "cannot reach Microsoft Entra ID: ValueError"),
])
async def test_every_token_failure_is_token_unavailable_with_its_reason(raised, said):
    def fail(session):
        raise raised

    with pytest.raises(TokenUnavailable) as caught:
        await authorization(_Credentials(fail))
    assert said in str(caught.value)


async def test_dev_mode_has_no_token_and_takes_no_thread():
    credentials = _Credentials(_bearer, app_id="")
    assert await authorization(credentials) == {"Authorization": "Bearer t0ken"}  # what signed_session gave
    assert credentials.threads == [threading.current_thread().name]  # signed on the loop: nothing to fetch
    assert await authorization(MicrosoftAppCredentials.empty()) == {}  # the SDK's own dev-mode credentials
    assert await authorization(None) == {}


async def test_the_msal_app_is_built_with_the_timeout(monkeypatch):
    """The SDK builds its MSAL app without a timeout (a hung request would hold the token
    thread for good); the app is built here instead, with the SDK's own arguments plus one."""
    built: list[dict] = []

    class FakeMsal:
        def __init__(self, **kwargs) -> None:
            built.append(kwargs)

        def acquire_token_silent(self, scopes, account=None):
            return None

        def acquire_token_for_client(self, scopes):
            return {"access_token": "from-entra"}

    monkeypatch.setattr(bot_token, "ConfidentialClientApplication", FakeMsal)
    credentials = MicrosoftAppCredentials("11111111-2222-3333-4444-555555555555", "s3cret")
    assert await authorization(credentials, timeout_s=7) == {"Authorization": "Bearer from-entra"}
    assert built == [{"client_id": "11111111-2222-3333-4444-555555555555", "client_credential": "s3cret",
                      "authority": credentials.oauth_endpoint, "timeout": 7}]
    await authorization(credentials)
    assert len(built) == 1  # built once: MSAL's token cache lives in it
