"""The shipped ``attendance_absence`` event with an approved WhatsApp template (a Content SID).

For the config, Twilio and delivery tests of provider-side templates.
"""

from __future__ import annotations

#: The approved template's Content SID in Twilio (and in the sandbox, once seeded).
ABSENCE_SID = "HX" + "0123456789abcdef" * 2
#: What the approved template says; ``{{1}}`` and ``{{2}}`` come from the event's data.
ABSENCE_CONTENT = "{{1}} was marked absent on {{2}}. Reply to this message to talk to us."

PROVIDER_TEMPLATE_TOML = f"""
[events.attendance_absence.provider_templates.whatsapp]
content_sid = "{ABSENCE_SID}"
variables = {{ "1" = "student_name", "2" = "absence_date" }}
"""

ABSENCE_DATA = {
    "student_name": "Jamie Rivera",
    "school_name": "North High School",
    "absence_date": "Monday 12 May",
}
