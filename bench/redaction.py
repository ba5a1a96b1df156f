"""Microseconds per `Redactor.redact` call, against one alternation of every secret form.

    .venv/bin/python bench/redaction.py [--secrets 20] [--rounds 7]

Redaction runs on the hot path: every log line, every stored answer, every shown value. The
texts are what it sees most: an accepted-webhook log line (no secret, no URL), a 2 KiB and an
8 KiB echoed answer (JSON with a URL and its query). The baseline is how the redactor matched
before: one regex alternating every form of every secret, longest first, which tries each form
at each position; the redactor writes the same forms as a trie and adds the pass that hides URL
credentials by their shape (bridge.secret_urls). Both must show the same text (these texts hold
no URL credential), and they run interleaved in the same process: read the ratio. Minimum of
`rounds`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.redaction import REDACTED, Redactor, variants


def texts() -> dict[str, str]:
    line = (
        '{"ts":"2026-12-03T17:01:51.945Z","level":"info","logger":"bridge.receiver","message":'
        "\"webhook 'production': accepted 1 notification(s), 0 duplicate(s), 16 job(s)\"}"
    )
    event = {"id": "i-1", "name": "Hello world", "codename": "hello_world", "language": "en"}
    echo = json.dumps(
        {
            "url": "https://h.example/hook?ref=main&page=2",
            "headers": {"Host": "h.example", "Content-Type": "application/json", "X-T": "a=b"},
            "body": json.dumps({"events": [event] * 60}),
        }
    )
    return {"log line": line, "2 KiB answer": echo[:2048], "8 KiB answer": echo[:8192]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    secrets = [f"secret-value-{i:04d}-abcdefgh" for i in range(args.secrets)] + [
        "https://api.netlify.com/build_hooks/5f3a9c0e1d2b4a6f8e7c9d0a",
        "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx",
    ]
    redactor = Redactor(secrets)
    forms = sorted({f for s in secrets for f in variants(s)}, key=len, reverse=True)
    baseline = re.compile("|".join(re.escape(f) for f in forms))
    print(f"{len(secrets)} secrets, {len(forms)} forms")
    for name, text in texts().items():
        assert redactor.redact(text) == baseline.sub(REDACTED, text)  # the same text shown
        number = 20000 if len(text) < 1000 else 2000
        old = new = float("inf")
        for _ in range(args.rounds):
            old = min(old, timeit.timeit(lambda t=text: baseline.sub(REDACTED, t), number=number))
            new = min(new, timeit.timeit(lambda t=text: redactor.redact(t), number=number))
        old_us, new_us = old / number * 1e6, new / number * 1e6
        ratio = old / new
        print(f"{name:>13}: {new_us:8.2f} us  (one alternation: {old_us:8.2f} us, x{ratio:.2f})")


if __name__ == "__main__":
    main()
