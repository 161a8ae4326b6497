"""Build the botbuilder `CloudAdapter` from `Settings`, failing closed.

Three things differ from the SDK's defaults, each for a reason found in botbuilder 4.17.1:

* Token validation always takes the SDK's *parameterized* path with the public-cloud
  constants, so the OpenID metadata URL is a per-adapter value that tests can point at a local
  fake. (The built-in path reads the process-global
  `ChannelValidation.open_id_metadata_endpoint`.) Production and tests run the same code.
* `FailClosedAuthentication` wraps it: every way validation can fail (PyJWT errors, missing
  identity -> AttributeError, unknown key -> IndexError, network errors) becomes one
  `AuthenticationFailed(PermissionError)`, which `CloudAdapter.process` turns into a 401 and
  the messages endpoint can tell apart from a PermissionError raised inside a turn. It also
  refuses tokens not issued by the Bot Framework channel service (emulator and skill tokens:
  Firebreak is neither) and demands a token in production whatever the SDK thinks.
* Outbound credentials are cached. The SDK's `PasswordServiceClientCredentialFactory` makes a
  new `MicrosoftAppCredentials` (a new MSAL app: OIDC discovery plus a token request, both
  blocking, on the event loop) for every turn.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import jwt
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity, CallerIdConstants
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConfiguration,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)

from bot.config import Settings
from bot.teams.client_cache import CachingConnectorFactory, ClientCache, identity_key
from bot.teams.sdk_patches import apply_sdk_patches
from bot.teams.transport import ConnectorTransport

log = logging.getLogger(__name__)

OnTurnError = Callable[[Any, Exception], Awaitable[None]]

CHANNEL_TOKEN_ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
PUBLIC_OPENID_METADATA_URL = AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL


class AuthenticationFailed(PermissionError):
    """The inbound request is not authenticated; `str()` is a short reason, safe to log
    (never the token)."""


class _SdkConfiguration:
    """The attribute bag `ConfigurationBotFrameworkAuthentication` reads. Holds the password,
    so its repr hides it."""

    def __init__(self, settings: Settings, metadata_url: str) -> None:
        dev = settings.dev
        # Dev mode: empty app id = the SDK accepts unauthenticated activities and sends no
        # token. Only loopback serviceUrls get that far (security.gate_activity).
        self.APP_ID = "" if dev else settings.app_id
        self.APP_PASSWORD = "" if dev else settings.app_password.get_secret_value()
        self.APP_TYPE = "MultiTenant" if dev else settings.app_type
        self.APP_TENANTID = settings.app_tenant_id
        self.VALIDATE_AUTHORITY = True
        constants = AuthenticationConstants
        self.TO_CHANNEL_FROM_BOT_LOGIN_URL = constants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
        self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = constants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = CHANNEL_TOKEN_ISSUER
        self.OAUTH_URL = AuthenticationConstants.OAUTH_URL
        self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = metadata_url
        self.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = (
            AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
        )
        self.CALLER_ID = CallerIdConstants.public_azure_channel

    def __repr__(self) -> str:
        return (
            f"_SdkConfiguration(APP_ID={self.APP_ID!r}, APP_TYPE={self.APP_TYPE!r}, "
            "APP_PASSWORD=***)"
        )


class CachingCredentialsFactory(ServiceClientCredentialsFactory):
    """Reuse one credentials object per (app id, scope, login endpoint), so MSAL's token cache
    survives from one turn to the next instead of being rebuilt (and refetched) per turn."""

    _MAX_ENTRIES = 64

    def __init__(self, inner: ServiceClientCredentialsFactory) -> None:
        self._inner = inner
        self._cache: dict[tuple, Any] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return await self._inner.is_valid_app_id(app_id)

    async def is_authentication_disabled(self) -> bool:
        return await self._inner.is_authentication_disabled()

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Any:
        key = (app_id, oauth_scope, login_endpoint, validate_authority)
        credentials = self._cache.get(key)
        if credentials is None:
            credentials = await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
            if len(self._cache) < self._MAX_ENTRIES:
                self._cache[key] = credentials
        return credentials


def _reason(exc: BaseException) -> str:
    """A short, loggable reason: the SDK's own PermissionError text, else the error type and
    PyJWT's message (neither contains the token)."""
    if isinstance(exc, PermissionError) and exc.args:
        text = " ".join(str(a) for a in exc.args if a)
    elif isinstance(exc, jwt.PyJWTError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = type(exc).__name__
    return text.replace("\n", " ")[:200]


class FailClosedAuthentication(BotFrameworkAuthentication):
    """Delegates to the SDK's authentication, turning every failure into
    `AuthenticationFailed`."""

    def __init__(
        self, inner: BotFrameworkAuthentication, *, require_token: bool, transport: ConnectorTransport
    ) -> None:
        self._inner = inner
        self._require_token = require_token
        self._clients = ClientCache()
        self._transport = transport

    def _precheck(self, auth_header: str | None) -> str | None:
        header = auth_header or None  # CloudAdapter passes "" for a missing header
        if header is None:
            if self._require_token:
                raise AuthenticationFailed("no Authorization header")
            return None
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token or " " in token:
            raise AuthenticationFailed("Authorization is not a Bearer token")
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"malformed token ({type(exc).__name__})") from None
        if claims.get("iss") != CHANNEL_TOKEN_ISSUER:
            raise AuthenticationFailed("token not issued by the Bot Framework channel service")
        return header

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        header = self._precheck(auth_header)
        try:
            result = await self._inner.authenticate_request(activity, header)
        except AuthenticationFailed:
            raise
        except Exception as exc:  # every failure mode of the SDK's validation
            raise AuthenticationFailed(_reason(exc)) from exc
        if result.connector_factory is not None:
            result.connector_factory = self._wrap_factory(result.connector_factory, result.claims_identity)
        return result

    def _wrap_factory(self, factory: ConnectorFactory, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return CachingConnectorFactory(factory, self._clients, identity_key(claims_identity), self._transport)

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        header = self._precheck(auth_header)
        try:
            return await self._inner.authenticate_streaming_request(header, channel_id_header)
        except AuthenticationFailed:
            raise
        except Exception as exc:
            raise AuthenticationFailed(_reason(exc)) from exc

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        header = self._precheck(auth_header)
        try:
            return await self._inner.authenticate_channel_request(header)
        except AuthenticationFailed:
            raise
        except Exception as exc:
            raise AuthenticationFailed(_reason(exc)) from exc

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._wrap_factory(self._inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        """One user-token client per bot identity (the SDK builds one per turn, unused by Firebreak)."""
        key = ("user_token", identity_key(claims_identity))
        client = self._clients.get(key)
        if client is None:
            client = self._clients.put(key, await self._inner.create_user_token_client(claims_identity))
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()


def build_adapter(
    settings: Settings,
    *,
    openid_metadata_url: str | None = None,
    on_error: OnTurnError | None = None,
    transport: ConnectorTransport | None = None,
) -> CloudAdapter:
    """The CloudAdapter for `settings`, with the SDK work-arounds applied.

    `openid_metadata_url` replaces login.botframework.com's OpenID metadata document (tests
    point it at `tests/fakes/openid.py`). `on_error` becomes `adapter.on_turn_error`.
    Outbound calls go through `transport` (a new one if not given; its owner closes it).
    Production settings without credentials raise `ConfigError` (fail closed).
    """
    settings.require_production_ready()
    apply_sdk_patches()
    configuration = _SdkConfiguration(settings, openid_metadata_url or PUBLIC_OPENID_METADATA_URL)
    credentials = CachingCredentialsFactory(
        ConfigurationServiceClientCredentialFactory(configuration)
    )
    sdk_auth = ConfigurationBotFrameworkAuthentication(
        configuration,
        credentials_factory=credentials,
        auth_configuration=AuthenticationConfiguration(),
    )
    adapter = CloudAdapter(FailClosedAuthentication(
        sdk_auth, require_token=not settings.dev, transport=transport or ConnectorTransport()
    ))
    if on_error is not None:
        adapter.on_turn_error = on_error
    return adapter
