"""Everything the demo runs, on free 127.0.0.1 ports: Twilio sandbox, SMTP sink, the service.

The sandboxes come from the plugin registry (``plugins.sandboxes``) exactly
as ``relaykit sandbox NAME`` starts them; the tenant is configured in code,
with the service's own URL as its public base URL; the sandbox's number is
pointed at the service's inbound webhook through Twilio's REST API, as one
would in the Twilio Console.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from relaykit.delivery import Relay
from relaykit.demo._client import request
from relaykit.demo._toml import to_toml
from relaykit.errors import RelaykitError
from relaykit.host import ConnectorHost
from relaykit.plugins import PluginHost, build_plugin_host
from relaykit.sandboxes import RunningSandbox, SandboxOptions
from relaykit.service import EmbeddedServer, create_app, hash_api_key, new_api_key
from relaykit.settings import settings_from

__all__ = ["BACKLOG", "MONTHLY_LIMIT", "OTP_VALIDITY_SECONDS", "TENANT", "DemoStack", "start_stack"]

TENANT = "north-high"
#: SMS being paced on the school's sender when the OTP scenario sends its passcode.
BACKLOG = 12
#: The OTP route's Twilio ValidityPeriod (and its delivery deadline), in seconds.
OTP_VALIDITY_SECONDS = 60
#: The monthly SMS limit of the demo tenant: what the story sends by SMS before its last
#: scenario (3 notifications, the backlog and the OTP), so that one reaches it.
MONTHLY_LIMIT = 3 + BACKLOG + 1
TEACHER_ROLE = "teacher"
#: The school sender's rate: quick for a demo, slow enough that the backlog forms a line.
SMS_RATE = 20


@dataclass(frozen=True)
class DemoStack:
    """The running demo: what a person needs to poke at it."""

    relay: Relay
    service_url: str
    twilio: RunningSandbox
    email: RunningSandbox
    data_dir: Path
    maildir: Path
    config_file: Path
    api_key: str

    @property
    def sms_number(self) -> str:
        return str(self.twilio.settings["sms_sender"])


def tenant_settings(
    twilio: Mapping[str, Any], email: Mapping[str, Any], api_key: str
) -> dict[str, Any]:
    """The demo tenant: SMS then email, WhatsApp first for emergencies, OTPs by SMS only and
    ahead of other SMS, a staff sender pool.

    The sandbox's account owns one SMS number, so it is both the school's sender and the
    pool a teacher's number comes from; replies to it reach the teacher holding it.
    """
    number = str(twilio["sms_sender"])
    return {
        "display_name": "North High School",
        "time_zone": "Europe/London",
        "api_keys": [hash_api_key(api_key)],
        "instances": {
            "sms": {
                "connector": "twilio",
                "settings": {
                    "account_sid": twilio["account_sid"],
                    "auth_token": twilio["auth_token"],
                    "sms_sender": number,
                    "whatsapp_sender": twilio["whatsapp_sender"],
                    "api_base_url": twilio["api_base_url"],
                    "allowed_countries": ["US"],
                },
                # A sandbox is no long code: the default of 1 SMS/s per sender would only slow
                # the demo down.
                "rate_per_second": SMS_RATE,
            },
            "mail": {
                "connector": "email",
                "settings": {
                    "host": email["host"],
                    "port": email["port"],
                    "security": "none",
                    "from_address": "office@northhigh.example.org",
                    "from_name": "North High School",
                },
            },
        },
        "routes": {
            "default": {
                "steps": [
                    {"channel": "sms", "instance": "sms"},
                    {"channel": "email", "instance": "mail"},
                ]
            },
            "emergency_alert": {
                "steps": [
                    {"channel": "whatsapp", "instance": "sms"},
                    {"channel": "sms", "instance": "sms"},
                    {"channel": "email", "instance": "mail"},
                ]
            },
            # SMS only: a passcode late or by email is no use (docs/otp.md)
            "otp": {
                "steps": [
                    {
                        "channel": "sms",
                        "instance": "sms",
                        "validity_period": OTP_VALIDITY_SECONDS,
                    }
                ],
                "deadline_seconds": OTP_VALIDITY_SECONDS,
                "priority": "high",
            },
        },
        "sms": {"monthly_limit": MONTHLY_LIMIT},
        "two_way": {
            "permitted_roles": [TEACHER_ROLE],
            "sender_pool": [number],
            "instance": "sms",
            "notify_instance": "mail",
        },
    }


@asynccontextmanager
async def start_stack(
    data_dir: Path, plugins: PluginHost | None = None
) -> AsyncIterator[DemoStack]:
    """Start the sandboxes and the service; stop them all on exit."""
    plugins = plugins or build_plugin_host()
    options = SandboxOptions(data_dir=data_dir)
    async with AsyncExitStack() as stack:
        twilio = await stack.enter_async_context(plugins.sandboxes.get("twilio")(options))
        email = await stack.enter_async_context(plugins.sandboxes.get("email")(options))
        server = EmbeddedServer()
        api_key = new_api_key()
        settings: dict[str, Any] = {
            "data_dir": str(data_dir),
            "public_base_url": server.url,
            "log": {"level": "warning"},
            "tenants": {TENANT: tenant_settings(twilio.settings, email.settings, api_key)},
        }
        # The demo's settings only: a caller's RELAYKIT_* env, secrets directory or config file
        # (a real password, a production database) must not reach it.
        relay = Relay.from_host(
            ConnectorHost.from_settings(settings_from(settings), plugins=plugins)
        )
        stack.push_async_callback(relay.aclose)
        await stack.enter_async_context(server.serving(create_app(relay)))
        await _point_number_at(twilio, f"{server.url}/webhooks/{TENANT}/sms/inbound")
        config_file = data_dir / "relaykit.toml"
        config_file.write_text(to_toml(settings), encoding="utf-8")
        yield DemoStack(
            relay=relay,
            service_url=server.url,
            twilio=twilio,
            email=email,
            data_dir=data_dir,
            maildir=data_dir / "email-maildir",
            config_file=config_file,
            api_key=api_key,
        )


async def _point_number_at(twilio: RunningSandbox, sms_url: str) -> None:
    """Set the number's SmsUrl (incoming messages) with Twilio's IncomingPhoneNumbers API."""
    base = f"{twilio.url}/2010-04-01/Accounts/{twilio.settings['account_sid']}"
    auth = (str(twilio.settings["account_sid"]), str(twilio.settings["auth_token"]))
    number = str(twilio.settings["sms_sender"])
    status, found = await request(
        "GET",
        f"{base}/IncomingPhoneNumbers.json?{urlencode({'PhoneNumber': number})}",
        basic_auth=auth,
    )
    numbers = (found or {}).get("incoming_phone_numbers", [])
    if status != 200 or not numbers:
        raise RelaykitError(f"the Twilio sandbox does not list {number} ({status})")
    status, _ = await request(
        "POST",
        f"{base}/IncomingPhoneNumbers/{numbers[0]['sid']}.json",
        form={"SmsUrl": sms_url},
        basic_auth=auth,
    )
    if status != 200:
        raise RelaykitError(f"could not set the SmsUrl of {number} ({status})")
