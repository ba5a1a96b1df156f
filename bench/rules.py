"""Notifications per second through RuleEngine.plan, indexed against a linear scan.

    .venv/bin/python bench/rules.py [--seconds 1.0] [--sizes 10,1000,10000]

The rule mix is what a large site writes: most rules keyed on a content type or one item's
codename, the rest on object_type/action, collection, codename globs and `where:` JSONPath. The
baseline (`RuleEngine(config, indexed=False)`) evaluates every rule for every event; both run in
the same process on the same notifications and must plan the same jobs, so the ratio is what to
read. `cpu/s` is the indexed rate over the process's CPU time: on a shared machine it moves less
than the wall-clock rate when other processes take the cores. `candidates` is the rules an event
is checked against, `exact` those of them the index lookup alone proves matched.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.actions.log import LogAction
from bridge.config import parse_config
from bridge.events import Notification
from bridge.payloads import parse_payload
from bridge.rules import RuleEngine
from bridge.rules.index import RuleIndex

TYPES = [f"type_{i}" for i in range(200)]
CODENAMES = [f"item_{i}" for i in range(20000)]
COLLECTIONS = [f"collection_{i}" for i in range(50)]
OBJECT_TYPES = ["content_item", "asset", "taxonomy", "content_type", "language"]
ACTIONS = ["published", "unpublished", "changed", "metadata_changed", "deleted", "created"]


def rule(rng: random.Random, i: int) -> str:
    """One rule line; the mix: 45% codename, 35% type, 5% each of the other kinds."""
    roll = rng.random()
    if roll < 0.45:
        when = f"{{codename: {rng.choice(CODENAMES)}, action: published}}"
    elif roll < 0.80:
        picks = ", ".join(rng.sample(TYPES, 2))
        when = f"{{type: [{picks}], delivery_slot: published}}"
    elif roll < 0.85:
        when = f"{{object_type: {rng.choice(OBJECT_TYPES)}, action: {rng.choice(ACTIONS)}}}"
    elif roll < 0.90:
        when = f"{{collection: {rng.choice(COLLECTIONS)}, language: {{not: de}}}}"
    elif roll < 0.95:
        when = f"{{codename: {{glob: 'item_{rng.randrange(1000)}*'}}}}"
    else:
        where = f'[{{path: "$.data.system.name", regex: "^{rng.choice(CODENAMES)}$"}}]'
        return f"  - {{name: r{i}, where: {where}, do: [log]}}"
    return f"  - {{name: r{i}, when: {when}, do: [log]}}"


def config_text(rng: random.Random, size: int) -> str:
    rules = "\n".join(rule(rng, i) for i in range(size))
    return f"version: 1\nactions:\n  log: {{type: log}}\nrules:\n{rules}\n"


def notifications(rng: random.Random, count: int) -> list[Notification]:
    raws = []
    for _ in range(count):
        codename = rng.choice(CODENAMES)
        system = {
            "id": codename,
            "name": codename,
            "codename": codename,
            "type": rng.choice(TYPES),
            "collection": rng.choice(COLLECTIONS),
            "language": rng.choice(["en", "de", "fr"]),
        }
        message = {
            "object_type": rng.choice(OBJECT_TYPES),
            "action": rng.choice(ACTIONS),
            "delivery_slot": rng.choice(["published", "preview"]),
        }
        raws.append({"data": {"system": system}, "message": message})
    return parse_payload({"notifications": raws}, "bench")


def rate(engine: RuleEngine, batch: list[Notification], seconds: float) -> tuple[float, float]:
    """Notifications per second of wall-clock and of CPU time (one notification per plan call,
    as the receiver does)."""
    done = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        for notification in batch:
            engine.plan([notification])
        done += len(batch)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed, done / max(time.process_time() - cpu_start, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--sizes", default="10,1000,10000", help="rule counts, comma-separated")
    args = parser.parse_args()
    rng = random.Random(42)
    batch = notifications(rng, 200)
    print(
        f"{'rules':>7} {'indexed/s':>11} {'cpu/s':>9} {'linear/s':>10} {'ratio':>7} "
        f"{'candidates':>11} {'exact':>7} {'scanned':>8} {'jobs/notif':>11} {'load s':>7}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        config = parse_config(config_text(rng, size), "bench.yaml", {}, types={"log": LogAction})
        load_s = time.perf_counter() - started
        indexed = RuleEngine(config)
        linear = RuleEngine(config, indexed=False)
        assert indexed.plan(batch) == linear.plan(batch), "index and scan disagree"
        fast, fast_cpu = rate(indexed, batch, args.seconds)
        slow, _ = rate(linear, batch, args.seconds)
        index = RuleIndex.build(config.rules)
        found = [index.candidates(n.events[0]) for n in batch]
        candidates = sum(map(len, found)) / len(batch)
        exact = sum(len(index.exact.intersection(c)) for c in found) / len(batch)
        per_notification = len(indexed.plan(batch)) / len(batch)
        print(
            f"{size:>7} {fast:>11,.0f} {fast_cpu:>9,.0f} {slow:>10,.0f} {fast / slow:>6.1f}x "
            f"{candidates:>11.1f} {exact:>7.1f} {len(index.scan):>8} {per_notification:>11.2f} "
            f"{load_s:>7.2f}"
        )


if __name__ == "__main__":
    main()
