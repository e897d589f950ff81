"""relaykit connector for Twilio: SMS and WhatsApp through the official twilio SDK.

The entry point (``relaykit_twilio.plugin``) registers :class:`TwilioConnector`;
the modules below are public for people who want the pieces:

* :mod:`relaykit_twilio.error_table` - Twilio codes and HTTP statuses → relaykit error kinds;
* segment counting (GSM-7 / UCS-2) is the core's :mod:`relaykit.sms`;
* :mod:`relaykit_twilio.numbers` - recipient normalisation to E.164;
* :mod:`relaykit_twilio.senders` - the three sender forms;
* :mod:`relaykit_twilio.signatures` - ``X-Twilio-Signature`` verification;
* :mod:`relaykit_twilio.callbacks` - webhook parameters → relaykit events.
"""

from relaykit_twilio.connector import TwilioConnector
from relaykit_twilio.error_table import ERROR_TABLE, ErrorKind

__all__ = ["ERROR_TABLE", "ErrorKind", "TwilioConnector"]
