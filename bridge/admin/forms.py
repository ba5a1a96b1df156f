"""Dashboard form bodies: urlencoded fields read under a bound, or a refusal with its status.

The dashboard's forms are a few short fields (a CSRF value, a confirmation, a replay's
checkboxes); the sign-in form takes a POST from anyone, so no body is read past the bound.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

from bridge.receiver.body import BodyError, read_body

MAX_FORM_BYTES = 16 * 1024


class FormRefused(Exception):
    """A form body the dashboard does not read (too large, cut off): `status` and `message`
    make the answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded fields of a dashboard form (no multipart dependency for four fields).

    Read under the limit, not whole then measured: the sign-in form takes a POST from anyone,
    and `request.body()` held all of a 400 MB body in memory before it was refused. A body
    over the limit (or cut off) is a FormRefused with its status (413, 400), answered as such:
    it is not a wrong token or an out-of-date form, and no token was compared."""
    try:
        body = await read_body(request.headers, request.receive, MAX_FORM_BYTES)
    except BodyError as exc:
        if exc.status == 413:
            message = f"This form is larger than the dashboard reads ({MAX_FORM_BYTES:,} bytes)."
        else:
            message = f"This form could not be read: {exc.reason}."
        raise FormRefused(exc.status, message) from None
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    # A field sent several times (checkboxes) is its values one per line: names hold no \n.
    return {name: "\n".join(values) for name, values in fields.items()}
