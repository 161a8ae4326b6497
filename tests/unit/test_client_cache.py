"""Connector clients are made once per (bot, serviceUrl, audience) and use the shared transport."""
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import ClaimsIdentity, MicrosoftAppCredentials

from bot.teams.client_cache import CachingConnectorFactory, ClientCache, identity_key
from bot.teams.transport import ConnectorTransport, _Sender


class CountingFactory:
    def __init__(self):
        self.made = 0

    async def create(self, service_url, audience):
        self.made += 1
        return ConnectorClient(MicrosoftAppCredentials("", ""), base_url=service_url)


async def test_one_client_per_service_url_and_audience():
    inner, cache, transport = CountingFactory(), ClientCache(), ConnectorTransport()
    factory = CachingConnectorFactory(inner, cache, identity_key(ClaimsIdentity({"aud": "bot-1"}, True)), transport)
    a = await factory.create("https://smba.trafficmanager.net/amer/", "aud")
    b = await factory.create("https://smba.trafficmanager.net/amer/", "aud")
    c = await factory.create("https://smba.trafficmanager.net/emea/", "aud")
    assert a is b and a is not c and inner.made == 2
    assert isinstance(a.config.pipeline._sender, _Sender)
    await transport.close()


def test_cache_is_bounded():
    cache = ClientCache(max_size=2)
    for i in range(3):
        cache.put(i, object())
    assert len(cache) == 2 and cache.get(0) is None and cache.get(2) is not None
