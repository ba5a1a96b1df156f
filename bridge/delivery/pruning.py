"""Pruning, and why a replay never creates a job whose notification a prune takes away.

Retention deletes succeeded jobs older than `before` (with their attempts), then the
notifications older than `before` that no job references. A replay reads stored notifications,
plans their jobs, then inserts them (Store.enqueue): a prune between the read and the insert, or
during the insert, could delete a notification the new jobs name, and those jobs would read
their raw notification as `{}` (a template reading `notification` failed them). Two halves, one
in each operation, rule that out:

* A replay's insert (`insert_replayed_jobs`) creates a job only if its notification is stored
  at that moment, and keeps it stored until the jobs are committed. PostgreSQL: it joins the
  notifications it names FOR KEY SHARE; a notification a prune has locked is waited for, then
  skipped if the prune deleted it. SQLite: the insert and prune both need the one write lock.
  The jobs not created are not counted: the replay's answer says how many were.
* Prune locks the notifications it means to delete (`lock_prunable_notifications`; PostgreSQL:
  FOR UPDATE SKIP LOCKED, skipping those a replay is inserting jobs for instead of waiting on
  it; they go at a later prune once unreferenced), then deletes them in a second statement that
  checks again that no job references them. It must be a second statement: under READ
  COMMITTED a statement sees the jobs committed before it began, and only once the locks are
  held has every replay that held one of them committed. One DELETE would check with the
  snapshot it took before waiting, and delete a notification whose new jobs it did not see.

Jobs whose keys are their own (alerts' `alert:...`, follow-ups' `translate:...`) name no
notification: they are inserted by `insert_jobs`, unchecked, and no prune looks at them.
"""

from __future__ import annotations

from bridge.delivery.connectors import Tx


async def prune(tx: Tx, before: float) -> int:
    """Delete succeeded jobs and unreferenced notifications older than `before`; how many."""
    await tx.execute("prune_attempts", before=before)
    jobs = await tx.execute("prune_jobs", before=before)
    keys = [row["key"] for row in await tx.fetch("lock_prunable_notifications", before=before)]
    notes = await tx.execute("prune_notifications", keys=keys) if keys else 0
    await tx.execute("prune_latest", before=before)
    await tx.execute("prune_rule_stats", before=before)
    return jobs + notes
