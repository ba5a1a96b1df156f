"""Reading a secret from a file (`NAME_FILE`, as Docker and Kubernetes secrets are mounted).

One bounded read for the settings (`BRIDGE_*_FILE`) and the config (`${NAME}` with `NAME_FILE`):
a secret is a few hundred bytes, so a file past the limit is a mistake (the wrong path,
/dev/zero, a pipe that never ends) and is refused before it fills memory or hangs start-up.
"""

from __future__ import annotations

from pathlib import Path

MAX_SECRET_FILE_BYTES = 64 * 1024


def read_secret_file(file: str) -> str:
    """The file's text; OSError (its strerror says why) or UnicodeDecodeError otherwise."""
    with Path(file).open("rb") as stream:
        data = stream.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise OSError(0, f"it is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB")
    return data.decode("utf-8")
