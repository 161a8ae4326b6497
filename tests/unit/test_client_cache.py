"""Connector clients are made once per (bot, serviceUrl, audience) and read the environment once."""
import os
from unittest import mock

from botframework.connector import ConnectorClient
from botframework.connector.auth import ClaimsIdentity, MicrosoftAppCredentials

from bot.teams.client_cache import CachingConnectorFactory, ClientCache, freeze_environment, identity_key


class CountingFactory:
    def __init__(self):
        self.made = 0

    async def create(self, service_url, audience):
        self.made += 1
        return ConnectorClient(MicrosoftAppCredentials("", ""), base_url=service_url)


async def test_one_client_per_service_url_and_audience():
    inner, cache = CountingFactory(), ClientCache()
    factory = CachingConnectorFactory(inner, cache, identity_key(ClaimsIdentity({"aud": "bot-1"}, True)))
    a = await factory.create("https://smba.trafficmanager.net/amer/", "aud")
    b = await factory.create("https://smba.trafficmanager.net/amer/", "aud")
    c = await factory.create("https://smba.trafficmanager.net/emea/", "aud")
    assert a is b and a is not c and inner.made == 2


def test_cache_is_bounded():
    cache = ClientCache(max_size=2)
    for i in range(3):
        cache.put(i, object())
    assert len(cache) == 2 and cache.get(0) is None and cache.get(2) is not None


def test_environment_is_read_once_and_no_proxy_honoured():
    client = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="https://smba.trafficmanager.net/amer/")
    env = {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "internal.corp", "REQUESTS_CA_BUNDLE": "/etc/corp-ca.pem"}
    with mock.patch.dict(os.environ, env):
        freeze_environment(client, "https://smba.trafficmanager.net/amer/")
    assert client.config.proxies.use_env_settings is False  # requests no longer re-reads the env per send
    assert client.config.proxies.proxies.get("https") == "http://proxy.corp:3128"
    assert client.config.connection.verify == "/etc/corp-ca.pem"

    bypassed = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="https://bot.internal.corp/")
    with mock.patch.dict(os.environ, env):
        freeze_environment(bypassed, "https://bot.internal.corp/")
    assert bypassed.config.proxies.proxies == {}
