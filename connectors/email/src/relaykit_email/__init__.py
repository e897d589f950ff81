"""relaykit connector: email over SMTP, the fallback channel.

Public modules: :mod:`relaykit_email.connector` (:class:`EmailConnector`),
:mod:`relaykit_email.signing` (how a mail gateway signs the bounces it
forwards), :mod:`relaykit_email.sandbox` (a local SMTP sink).
"""

from relaykit_email.connector import EmailConnector

__all__ = ["EmailConnector"]
