"""The delivery table at 80 columns with ids as large as the store allows (19 digits): the id
column takes what it needs, and the action keeps a readable width, on its own line if need be."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from bridge.cli.delivery_table import ACTION_MIN_WIDTH, print_deliveries
from bridge.delivery.model import DeliveryRow

pytestmark = pytest.mark.timeout(10)

T = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
LARGEST_ID = 2**63 - 1  # SQLite INTEGER and PostgreSQL BIGINT: 19 digits
LONG_ACTION = "search-reindex-for-the-production-site"


def row(job_id: int, action: str) -> DeliveryRow:
    return DeliveryRow(
        job_id=job_id,
        action=action,
        rule="reindex",
        state="succeeded",
        attempts=1,
        created_at=T,
        last_attempt_at=T,
        last_status=200,
        last_response="ok",
        summary="content_item published article 'Launch'",
    )


def rendered(*rows: DeliveryRow, width: int = 80) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, highlight=False)
    print_deliveries(console, rows, parked_actions=(), now=T)
    return out.getvalue()


def test_a_19_digit_id_at_80_columns_moves_the_action_to_a_line_of_its_own() -> None:
    shown = rendered(row(LARGEST_ID, LONG_ACTION), row(7, "publishing-log"))
    assert shown == (
        "                JOB  STATE      TRIES  LAST (UTC)      NEXT (UTC)\n"
        "9223372036854775807  succeeded      1  01-02 03:04:05  -\n"
        "                     action search-reindex-for-the-production-site\n"
        "                     200 ok\n"
        "                     rule reindex: content_item published article 'Launch'\n"
        "                  7  succeeded      1  01-02 03:04:05  -\n"
        "                     action publishing-log\n"
        "                     200 ok\n"
        "                     rule reindex: content_item published article 'Launch'\n"
    )
    assert max(len(line) for line in shown.splitlines()) <= 80


def test_the_action_stays_on_the_first_line_while_it_has_its_minimum_width() -> None:
    # 80 columns leave the action 28 minus the id's width: 8 digits leave it 20, 9 leave it 19.
    assert ACTION_MIN_WIDTH == 20
    fits = rendered(row(10**7, LONG_ACTION)).splitlines()
    assert fits[0].endswith("NEXT (UTC)      ACTION")
    assert (
        fits[1]
        == "10000000  succeeded      1  01-02 03:04:05  -               search-reindex-for-…"
    )
    squeezed = rendered(row(10**8, LONG_ACTION)).splitlines()
    assert squeezed[0].endswith("NEXT (UTC)")
    assert squeezed[2] == "           action search-reindex-for-the-production-site"


def test_a_wide_console_keeps_a_19_digit_ids_action_on_the_first_line() -> None:
    first = rendered(row(LARGEST_ID, LONG_ACTION), width=120).splitlines()[1]
    assert (
        first
        == f"9223372036854775807  succeeded      1  01-02 03:04:05  -               {LONG_ACTION}"
    )


def failed(error: str | None, status: int | None, response: str | None) -> DeliveryRow:
    return DeliveryRow(
        job_id=2,
        action="crm",
        rule="products",
        state="retrying",
        attempts=1,
        created_at=T,
        last_attempt_at=T,
        last_status=status,
        last_response=response,
        summary="content_item published article 'Launch'",
        last_error=error,
    )


@pytest.mark.parametrize(
    ("error", "status", "response", "shown"),
    [
        # The http action's own words, then what the target said: the cause at a glance.
        (
            "crm answered 500",
            500,
            '{"error": "database is down"}',
            '500 crm answered 500: {"error": "database is down"}',
        ),
        ("crm answered 429", 429, "slow down", "429 crm answered 429: slow down"),
        # An error that only repeats the status gives way to the body; one quoting it stays.
        ("HTTP 502", 502, "bad gateway", "502 bad gateway"),
        ("Slack answered 500: no_service", 500, "no_service", "500 Slack answered 500: no_service"),
        # Nothing came back: the error alone.
        ("timed out after 5s", None, None, "timed out after 5s"),
        ("crm answered 500", 500, "", "500 crm answered 500"),
    ],
)
def test_a_failed_job_shows_its_error_and_the_body_that_came_back(
    error: str, status: int | None, response: str | None, shown: str
) -> None:
    lines = rendered(failed(error, status, response), width=200).splitlines()
    assert lines[2] == "     " + shown
