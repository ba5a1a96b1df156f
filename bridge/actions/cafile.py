"""`ca_file` options (azure_search, email): a PEM bundle of CA certificates, checked at load.

One check for every action that takes one, so a wrong path is a config error naming the file,
not a failure at each attempt for days: the path must be a regular file (not /dev/zero, a FIFO
or a directory) that OpenSSL reads as at least one certificate.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator


def ca_file_problem(path: str) -> str | None:
    """Why `path` is not a readable PEM bundle of CA certificates, or None."""
    try:
        regular = Path(path).is_file()
    except OSError as exc:  # a name too long, a loop of links: is_file raises these
        return f"cannot use {path[:200]!r} as a CA bundle: {exc.strerror}"
    if not regular:
        return f"{path!r} is not a file (a PEM bundle of CA certificates)"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError:
        return f"{path!r} holds no PEM certificate (-----BEGIN CERTIFICATE----- blocks)"
    except OSError as exc:
        return f"cannot read {path!r}: {exc.strerror}"
    return None


def _checked(path: str) -> str:
    problem = ca_file_problem(path)
    if problem is not None:
        raise ValueError(problem)
    return path


CaFile = Annotated[str, AfterValidator(_checked)]
