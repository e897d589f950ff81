"""The ways of sending N messages to a Twilio-compatible endpoint that the benchmarks compare.

* ``raw aiohttp``: form POSTs with Basic auth, ``concurrency`` workers, JSON parsed.
* ``SDK create_async``: the twilio SDK's ``messages.create_async`` on its ``AsyncTwilioHttpClient``.
* ``SDK sync loop``: what many integrations do - ``messages.create`` in a plain loop.
* ``Apprise per message``: Apprise's Twilio plugin as a personalised notification is sent
  with it - per recipient an ``apprise.Apprise()`` given that recipient's ``twilio://`` URL,
  then its (sync) ``notify``; one message after another, a new connection each
  (``requests.post``).
* ``Apprise N targets``: one ``notify`` on one Twilio plugin holding all N recipients; the
  plugin's own loop posts to them one after another (the fastest Apprise goes).
  Both unthrottled (``NotifyTwilio.request_rate_per_sec = 0``; Apprise ships 0.2 s between
  requests), with ``NotifyTwilio.notify_sms_url`` pointed at the endpoint.
* ``relaykit``: ``Relay.anotify`` with ``concurrency`` workers - store, templates, routing,
  rate-limit middleware, logging and the real Twilio connector (which uses the SDK's
  ``create_async`` underneath).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import tempfile
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp

from relaykit.delivery import Relay
from relaykit.logs import configure_logging
from relaykit.plugins import build_plugin_host
from relaykit.service import hash_api_key

__all__ = [
    "ACCOUNT_SID",
    "API_KEY",
    "AUTH_TOKEN",
    "SENDER",
    "RelaykitSender",
    "apprise_n_targets",
    "apprise_per_message",
    "build_relay",
    "endpoint_stats",
    "numbers",
    "raw_aiohttp",
    "recipient",
    "sdk_async",
    "sdk_sync_loop",
    "warm_apprise",
]

ACCOUNT_SID = "AC5a4db0c05a4db0c05a4db0c05a4db0c0"
AUTH_TOKEN = "5a4db0c0f00df00df00df00df00df00d"
SENDER = "+15005550006"
BODY = "Jamie Rivera was absent from North High School on Monday 12 May 2025."
EVENT = "attendance_absence"
DATA = {
    "student_name": "Jamie Rivera",
    "school_name": "North High School",
    "absence_date": "Monday 12 May 2025",
}


def numbers() -> Iterable[str]:
    """Distinct valid US numbers, +1 212 200-0000 upwards."""
    return (f"+1212{2000000 + i:07d}" for i in itertools.count())


def recipient(index: int, number: str) -> dict[str, Any]:
    return {
        "id": f"stu-{index}",
        "kind": "student",
        "name": "Jamie Rivera",
        "phones": [{"number": number, "type": "mobile", "sms_status": "enabled"}],
    }


async def _workers(count: int, concurrency: int, send: Callable[[int], Awaitable[None]]) -> int:
    sent = 0
    next_index = iter(range(count))

    async def worker() -> None:
        nonlocal sent
        for index in next_index:
            await send(index)
            sent += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent


async def raw_aiohttp(url: str, count: int, concurrency: int) -> int:
    endpoint = f"{url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    auth = aiohttp.BasicAuth(ACCOUNT_SID, AUTH_TOKEN)
    to = numbers()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, auth=auth) as session:

        async def send(index: int) -> None:
            form = {"To": next(to), "From": SENDER, "Body": BODY}
            async with session.post(endpoint, data=form) as response:
                body = json.loads(await response.read())
                if response.status != 201 or not body["sid"]:
                    raise RuntimeError(f"raw aiohttp: {response.status}")

        return await _workers(count, concurrency, send)


async def sdk_async(url: str, count: int, concurrency: int, pool: int | None = None) -> int:
    """``create_async`` at ``concurrency``; ``pool``: aiohttp's connection limit (default 100)."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    http = AsyncTwilioHttpClient()
    if pool is not None:  # the SDK takes no limit; its session is a plain aiohttp one
        await http.session.close()
        http.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pool))
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
    client.api.base_url = url
    to = numbers()

    async def send(index: int) -> None:
        message = await client.messages.create_async(to=next(to), from_=SENDER, body=BODY)
        if not message.sid:
            raise RuntimeError("SDK create_async: no sid")

    try:
        return await _workers(count, concurrency, send)
    finally:
        await http.close()


def sdk_sync_loop(url: str, count: int) -> int:
    from twilio.rest import Client

    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = url
    sent = 0
    for number in itertools.islice(numbers(), count):
        if client.messages.create(to=number, from_=SENDER, body=BODY).sid:
            sent += 1
    return sent


def endpoint_stats(url: str) -> dict[str, int]:
    """``_endpoint.py``'s counters: ``created`` (answered 201) and ``refused`` (answered 400)."""
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        stats: dict[str, int] = json.loads(response.read())
    return stats


def unthrottled_apprise_twilio(url: str) -> None:
    """Point Apprise's Twilio plugin at ``url`` and take its 0.2 s pause between requests away.

    Both are class attributes: ``notify_sms_url`` is a format string with ``{sid}``.
    """
    from apprise.plugins.twilio import NotifyTwilio

    NotifyTwilio.request_rate_per_sec = 0
    NotifyTwilio.notify_sms_url = f"{url}/2010-04-01/Accounts/{{sid}}/Messages.json"


def warm_apprise() -> None:
    """Untimed: Apprise loads its plugins on first use (~0.3 s), once per process."""
    import apprise

    apprise.Apprise().add(f"twilio://{ACCOUNT_SID}:{AUTH_TOKEN}@{SENDER}/+12122000000")


def apprise_per_message(url: str, count: int) -> int:
    """Per recipient: ``Apprise()``, ``add("twilio://sid:token@from/to")``, ``notify(body=...)``."""
    import apprise

    unthrottled_apprise_twilio(url)
    sent = 0
    for number in itertools.islice(numbers(), count):
        notifier = apprise.Apprise()
        if not notifier.add(f"twilio://{ACCOUNT_SID}:{AUTH_TOKEN}@{SENDER}/{number}"):
            raise RuntimeError("Apprise refused the twilio:// URL")
        if notifier.notify(body=BODY):  # an AppriseResult, true only when every target took it
            sent += 1
    return sent


def apprise_n_targets(url: str, count: int) -> int:
    """One ``notify`` on one Twilio plugin with ``count`` targets; it sends them one by one."""
    import apprise
    from apprise.plugins.twilio import NotifyTwilio

    unthrottled_apprise_twilio(url)
    targets = list(itertools.islice(numbers(), count))
    notifier = apprise.Apprise()
    notifier.add(
        NotifyTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, source=SENDER, targets=targets)
    )
    result = notifier.notify(body=BODY)
    return count if result else 0  # all or nothing: the endpoint's counter says how many arrived


#: The benchmark tenant's API key (its hash is in the settings built below).
API_KEY = "rk_benchmark_key_not_a_secret"


def build_relay(url: str, data_dir: Path, *, max_connections: int = 100, **overrides: Any) -> Relay:
    """A relay with one tenant whose SMS goes to ``url``; no sender rate limit to speak of.

    :param max_connections: the Twilio instance's connection pool (its setting, default 100).
    """
    tenant = {
        "display_name": "North High School",
        "api_keys": [hash_api_key(API_KEY)],
        "instances": {
            "sms": {
                "connector": "twilio",
                "settings": {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                    "sms_sender": SENDER,
                    "api_base_url": url,
                    "max_connections": max_connections,
                },
                "rate_per_second": 1e9,
                "burst": 1e9,
            }
        },
        "routes": {"default": {"steps": [{"channel": "sms", "instance": "sms"}]}},
    }
    return Relay.from_config(
        None,
        plugins=build_plugin_host(),
        data_dir=data_dir,
        tenants={"north-high": tenant},
        **overrides,
    )


def quiet_logging() -> None:
    """relaykit's logging as configured by default (JSON, info), written to /dev/null."""
    configure_logging(format="json", level="info", stream=open(os.devnull, "w"))  # noqa: SIM115


class RelaykitSender:
    """``Relay.anotify`` with ``concurrency`` workers, on a fresh relay (new SQLite file) per run.

    ``prepare()`` builds the relay (settings, plugins, migrations) outside the timed part.
    Its Twilio instance's ``max_connections`` is ``concurrency`` (at least the default
    100), as an integrator sending that many at once would set it.
    """

    def __init__(self, url: str, concurrency: int) -> None:
        self.url = url
        self.concurrency = concurrency
        self._relay: Relay | None = None
        self._data_dir: tempfile.TemporaryDirectory[str] | None = None

    def prepare(self) -> None:
        self._data_dir = tempfile.TemporaryDirectory(prefix="relaykit-bench-")
        self._relay = build_relay(
            self.url, Path(self._data_dir.name), max_connections=max(100, self.concurrency)
        )

    def run(self, count: int, recipients: AsyncIterator[dict[str, Any]] | None = None) -> int:
        return asyncio.run(self.dispatch(count, recipients or _generated(count)))

    async def dispatch(self, count: int, people: AsyncIterator[dict[str, Any]]) -> int:
        relay = self._relay
        assert relay is not None, "prepare() first"
        lock = asyncio.Lock()

        async def send(index: int) -> None:
            async with lock:
                person = await anext(people)
            record = await relay.anotify("north-high", EVENT, person, DATA)
            if record.channel is None or record.state == "failed":
                raise RuntimeError(f"relaykit: {record.as_dict()}")

        try:
            return await _workers(count, self.concurrency, send)
        finally:
            await relay.aclose()
            self._relay = None
            if self._data_dir is not None:
                self._data_dir.cleanup()


async def _generated(count: int) -> AsyncIterator[dict[str, Any]]:
    for index, number in enumerate(itertools.islice(numbers(), count)):
        yield recipient(index, number)
