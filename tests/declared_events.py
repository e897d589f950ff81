"""An integrator's event declared in relaykit.toml: for the CLI, delivery and service tests.

``doorcode_changed`` is also a shipped event; this declaration defines it anew
(its own variables and templates, SMS and email only), as an integrator would.
"""

from __future__ import annotations

import tomllib
from typing import Any

#: ``doorcode_changed`` declared anew, with SMS and email templates only.
DOORCODE_TOML = r'''
[events.doorcode_changed]
title = "Door code changed"
description = "A site's door code was changed; sent to each key holder."

[events.doorcode_changed.variables.site_name]
description = "The site whose door code changed."
example = "Harbour View"

[events.doorcode_changed.variables.door_code]
description = "The new code."
example = "4821"

[events.doorcode_changed.variables.valid_from]
description = "When the new code starts to work."
required = false
example = "Monday 09:00"

[events.doorcode_changed.templates]
sms = """\
{{site_name}}: the door code is now {{door_code}}.\
{{#valid_from}} From {{valid_from}}.{{/valid_from}}"""
email_subject = "New door code for {{site_name}}"
email_text = "The door code of {{site_name}} is now {{door_code}}."
email_html = "<p>The door code of {{site_name}} is now <b>{{door_code}}</b>.</p>"
'''

DOORCODE_DATA = {"site_name": "Harbour View", "door_code": "4821", "valid_from": "Monday 09:00"}
DOORCODE_SMS = "Harbour View: the door code is now 4821. From Monday 09:00."


def doorcode_events() -> dict[str, Any]:
    """The ``[events]`` table of :data:`DOORCODE_TOML`, as settings take it."""
    events: dict[str, Any] = tomllib.loads(DOORCODE_TOML)["events"]
    return events
