"""The organisation's pages: plans with their member counts, the audit log."""

from django.db.models import Count, Q

from members import selectors, tiers
from members.models import AuditEvent, Member, Plan


def plans_with_counts() -> list[Plan]:
    """Every plan with its live members counted and `newsfeed` (its tier's)."""
    plans = list(
        Plan.objects.annotate(
            live_members=Count(
                "members", filter=~Q(members__status=Member.Status.DELETED)
            )
        ).order_by("is_custom", "price", "name")
    )
    for plan in plans:
        plan.newsfeed = tiers.tier_features(plan.tier).newsfeed
    return plans


def audit_page(*, actor="", action="", object_id="", before=None, limit=50):
    """Newest first; each filter given narrows the events (`action`: a prefix)."""
    lookups = {"actor": actor, "action__startswith": action, "object_id": object_id}
    qs = AuditEvent.objects.filter(**{k: v for k, v in lookups.items() if v})
    return selectors.keyset_page(qs, before=before, limit=limit)
