"""Large legacy bodies: parse, then encode every notification's raw as the store writes it.

    .venv/bin/python bench/legacy_bodies.py [--sizes 1000,5000,20000]

A legacy message lists every affected item; each item becomes one notification. The baseline is
what storing the whole body with every notification would write (the size is computed, not
encoded: at 20,000 items it is tens of GiB). CPU time per item should stay flat as the body grows;
the ratio column is the bytes written against that baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.payloads import parse_body


def body(count: int) -> bytes:
    items = [
        {
            "id": f"e113e464-bba0-4aa4-a84f-{i:012d}",
            "codename": f"article_{i:06d}",
            "language": "en-US",
            "type": "article",
            "collection": "default",
        }
        for i in range(count)
    ]
    message = {
        "id": "c8a41abb-e3a2-4c7e-9248-415c48dc4e6c",
        "project_id": "195a50c1-f1b8-0066-9eb4-83f7246d5459",
        "type": "content_item_variant",
        "operation": "publish",
        "api_name": "delivery_production",
        "created_timestamp": "2024-02-15T13:27:01Z",
        "webhook_url": "https://bridge.example.com/webhooks/kontent",
    }
    return json.dumps({"data": {"items": items, "taxonomies": []}, "message": message}).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,20000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    columns = ("items", "body MiB", "CPU ms", "us/item", "raw B", "written")
    print(" ".join(f"{c:>9}" for c in columns), "ratio")
    for count in sizes:
        data = body(count)
        started = time.process_time()
        notifications = parse_body(data, "legacy")
        written = sum(len(json.dumps(n.raw)) for n in notifications)
        cpu_s = time.process_time() - started
        baseline = count * len(data)
        cells = (
            f"{count}",
            f"{len(data) / 2**20:.2f}",
            f"{cpu_s * 1000:.0f}",
            f"{cpu_s / count * 1e6:.1f}",
            f"{written // count}",
            f"{written / 2**20:.1f}Mi",
        )
        print(" ".join(f"{c:>9}" for c in cells), f"1/{baseline / written:,.0f}")


if __name__ == "__main__":
    main()
