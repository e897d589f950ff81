"""The error table: Twilio codes and HTTP statuses → relaykit error kinds (PITFALLS 24, 25)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from relaykit import (
    AmbiguousSendError,
    AuthenticationError,
    OptOutError,
    PermanentSendError,
    RateLimitedError,
    TransientSendError,
)
from relaykit_twilio.error_table import (
    ERROR_TABLE,
    ErrorKind,
    error_for_response,
    error_for_transport,
    parse_retry_after,
)


@pytest.mark.parametrize("code", [21211, 21606, 21608, 21612, 21614, 21408, 63014, 63016])
def test_pitfall_25_permanent_codes_are_never_retried(code: int) -> None:
    error = error_for_response(400, code, "refused", retry_after=None, creates=True)
    assert type(error) is PermanentSendError
    assert not isinstance(error, TransientSendError)
    assert error.provider_code == str(code) and error.connector == "twilio"


def test_pitfall_25_opt_out_and_auth_have_their_own_kinds() -> None:
    opt_out = error_for_response(400, 21610, "unsubscribed", retry_after=None, creates=True)
    auth = error_for_response(401, 20003, "Authenticate", retry_after=None, creates=True)
    assert type(opt_out) is OptOutError and isinstance(opt_out, PermanentSendError)
    assert type(auth) is AuthenticationError
    assert type(error_for_response(401, None, "", retry_after=None, creates=False)) is (
        AuthenticationError
    )


def test_rate_limits_carry_retry_after() -> None:
    by_code = error_for_response(429, 20429, "Too Many Requests", retry_after=7, creates=True)
    assert isinstance(by_code, RateLimitedError) and by_code.retry_after == 7
    by_status = error_for_response(429, None, "", retry_after=None, creates=True)
    assert isinstance(by_status, RateLimitedError) and by_status.retry_after is None
    unavailable = error_for_response(503, 20503, "later", retry_after=30, creates=True)
    assert isinstance(unavailable, RateLimitedError) and unavailable.retry_after == 30


def test_pitfall_24_a_5xx_on_create_is_ambiguous_but_transient_on_a_read() -> None:
    for status in (500, 502, 503, 504):
        on_create = error_for_response(status, None, "", retry_after=None, creates=True)
        on_read = error_for_response(status, None, "", retry_after=None, creates=False)
        assert type(on_create) is AmbiguousSendError, status
        assert type(on_read) is TransientSendError, status


def test_pitfall_24_transport_failures_split_on_whether_the_request_left() -> None:
    refused = aiohttp.ClientConnectorError(None, OSError(111, "refused"))  # type: ignore[arg-type]
    before = error_for_transport(refused, sent=False, creates=True)
    after = error_for_transport(TimeoutError(), sent=True, creates=True)
    read = error_for_transport(TimeoutError(), sent=True, creates=False)
    assert type(before) is TransientSendError and "nothing was sent" in str(before)
    assert type(after) is AmbiguousSendError and "reconcile" in str(after)
    assert type(read) is TransientSendError


def test_unknown_4xx_is_permanent() -> None:
    assert type(error_for_response(400, 21999, "new", retry_after=None, creates=True)) is (
        PermanentSendError
    )


def test_the_table_covers_the_codes_the_issue_names() -> None:
    kinds = {code: rule.kind for code, rule in ERROR_TABLE.items()}
    assert kinds[20003] is ErrorKind.AUTH
    assert kinds[21610] is ErrorKind.OPT_OUT
    assert kinds[20429] is ErrorKind.RATE_LIMITED
    for code in (21211, 21408, 21612, 21614, 21606, 21608, 63014, 63016):
        assert kinds[code] is ErrorKind.PERMANENT


def test_the_readme_documents_every_code_in_the_table() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "connectors/twilio/README.md").read_text("utf-8")
    missing = [code for code in ERROR_TABLE if str(code) not in readme]
    assert not missing, f"connectors/twilio/README.md does not document {missing}"


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == 30.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
