"""The events Kontent.ai documents for its current webhooks (object types and their actions).

Payloads may carry anything, so code that must stay bounded (metric labels, say) keeps to these
names and buckets the rest; rules still see every value as it came.
"""

from __future__ import annotations

from collections.abc import Mapping

DOCUMENTED_EVENTS: Mapping[str, frozenset[str]] = {
    "asset": frozenset({"created", "changed", "deleted", "metadata_changed"}),
    "content_item": frozenset(
        {
            "metadata_changed",
            "published",
            "unpublished",
            "created",
            "changed",
            "deleted",
            "workflow_step_changed",
        }
    ),
    "content_type": frozenset({"created", "changed", "deleted"}),
    "language": frozenset({"created", "changed", "deleted"}),
    "taxonomy": frozenset(
        {
            "created",
            "metadata_changed",
            "deleted",
            "term_created",
            "term_changed",
            "term_deleted",
            "terms_moved",
        }
    ),
}
OBJECT_TYPES = frozenset(DOCUMENTED_EVENTS)
ACTIONS = frozenset(action for actions in DOCUMENTED_EVENTS.values() for action in actions)
# The bucket for a value outside the documented ones (and for a missing one: "").
OTHER = "other"


def known_object_type(value: str | None) -> str:
    return value if value in OBJECT_TYPES else OTHER


def known_action(value: str | None) -> str:
    return value if value in ACTIONS else OTHER
