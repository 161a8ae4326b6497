"""A fake login.botframework.com: OpenID metadata + JWKS, and a minter of channel tokens.

Bot Framework channel tokens are RS256 JWTs issued by `https://api.botframework.com` with the
bot's app id as audience and a `serviceurl` claim; the SDK validates them against the keys
published at the OpenID metadata URL. Point `build_adapter(..., openid_metadata_url=
server.metadata_url)` here and mint good or bad tokens:

    async with FakeOpenIdServer() as idp:
        adapter = build_adapter(settings, openid_metadata_url=idp.metadata_url)
        good = idp.mint(app_id=APP_ID, service_url=url)
        forged = idp.mint(app_id=APP_ID, service_url=url, wrong_key=True)
        expired = idp.mint(app_id=APP_ID, service_url=url, expires_in=-3600)

`keys_delay_s` makes the JWKS endpoint slow; `hang=True` makes both endpoints answer only
after `hang_s` (default 30 s) or when the server closes. The server runs in its own thread
with its own event loop, like the real one: if the SDK ever fetches keys on the event loop
again, the tests see a stalled loop instead of a deadlock. Every instance publishes its URLs
under a random path prefix: the SDK caches metadata per URL for a day, process-wide, so a
later server reusing the same port must not inherit this one's keys.
"""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes import serve_on_loopback

CHANNEL_ISSUER = "https://api.botframework.com"


def new_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit signing key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def mint_channel_token(
    *,
    key: rsa.RSAPrivateKey,
    kid: str,
    app_id: str,
    service_url: str,
    issuer: str = CHANNEL_ISSUER,
    expires_in: int = 3600,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """A channel->bot token as the Bot Framework issues it (negative `expires_in` = expired)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "serviceurl": service_url,
        "nbf": now - 60,
        "iat": now - 60,
        "exp": now + expires_in,
        "iss": issuer,
        "aud": app_id,
    }
    claims.update(extra_claims or {})
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


class FakeOpenIdServer:
    """OpenID metadata and JWKS on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        *,
        keys_delay_s: float = 0.0,
        hang: bool = False,
        hang_s: float = 30.0,
        endorsements: tuple[str, ...] = ("msteams",),
    ) -> None:
        self.key = new_rsa_key()
        self.kid = f"fake-{uuid.uuid4().hex[:8]}"
        self.keys_delay_s = keys_delay_s
        self.hang = hang
        self.hang_s = hang_s
        self.endorsements = list(endorsements)
        self.metadata_requests = 0
        self.keys_requests = 0
        self._prefix = f"/{uuid.uuid4().hex}"
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closing: asyncio.Event | None = None
        self.base_url = ""

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}{self._prefix}/v1/.well-known/openidconfiguration"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}{self._prefix}/v1/.well-known/keys"

    def mint(
        self,
        *,
        app_id: str,
        service_url: str,
        wrong_key: bool = False,
        kid: str | None = None,
        issuer: str = CHANNEL_ISSUER,
        expires_in: int = 3600,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A token signed with this server's key (or, with `wrong_key`, a key it never
        published, under the same `kid`)."""
        return mint_channel_token(
            key=new_rsa_key() if wrong_key else self.key,
            kid=kid or self.kid,
            app_id=app_id,
            service_url=service_url,
            issuer=issuer,
            expires_in=expires_in,
            extra_claims=extra_claims,
        )

    def jwk(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        public.update({"kid": self.kid, "use": "sig", "endorsements": self.endorsements})
        return public

    async def _stall(self, seconds: float) -> None:
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _metadata(self, request: web.Request) -> web.Response:
        self.metadata_requests += 1
        if self.hang:
            await self._stall(self.hang_s)
        return web.json_response(
            {
                "issuer": CHANNEL_ISSUER,
                "authorization_endpoint": "https://invalid.example/v1/auth",
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        self.keys_requests += 1
        if self.hang:
            await self._stall(self.hang_s)
        elif self.keys_delay_s:
            await self._stall(self.keys_delay_s)
        return web.json_response({"keys": [self.jwk()]})

    def _serve_forever(self, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_get(f"{self._prefix}/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get(f"{self._prefix}/v1/.well-known/keys", self._keys)
        self._runner, self.base_url = loop.run_until_complete(serve_on_loopback(app))
        started.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    async def start(self) -> "FakeOpenIdServer":
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve_forever, args=(started,),
                                        name="fake-openid", daemon=True)
        self._thread.start()
        if not await asyncio.to_thread(started.wait, 10):
            raise RuntimeError("fake OpenID server did not start")
        return self

    async def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        def stop() -> None:
            assert self._closing is not None
            self._closing.set()
            loop.call_later(0.05, loop.stop)  # let released handlers answer first
        loop.call_soon_threadsafe(stop)
        await asyncio.to_thread(thread.join, 10)
        self._loop = self._thread = None

    async def __aenter__(self) -> "FakeOpenIdServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
