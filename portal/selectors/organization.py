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
    qs = AuditEvent.objects.all()
    if actor:
        qs = qs.filter(actor=actor)
    if action:
        qs = qs.filter(action__startswith=action)
    if object_id:
        qs = qs.filter(object_id=object_id)
    return selectors.keyset_page(qs, before=before, limit=limit)
