"""A member's link to an Aries brokerage user: the token pair orgportal keeps for it and
the accounts the member may stream.

The tokens are Fernet-encrypted (members.crypto) and never leave this table in clear
except towards Aries itself: not in an API response, a portal page, a log line, the
admin or an audit row.
"""

from django.db import models


class BrokerageLink(models.Model):
    member = models.OneToOneField(
        "members.Member", on_delete=models.PROTECT, related_name="brokerage_link"
    )
    # Order as the parent SaaS sent them; unique strings (brokerage.rules).
    account_ids = models.JSONField(default=list)
    access_token_encrypted = models.TextField(help_text="Fernet token; never shown")
    refresh_token_encrypted = models.TextField(help_text="Fernet token; never shown")
    expires_at = models.DateTimeField(help_text="the access token's JWT exp claim")
    linked_at = models.DateTimeField(help_text="when this token pair was linked")
    refreshed_at = models.DateTimeField(
        null=True, blank=True, help_text="last successful refresh of this link"
    )
    # Set when Aries answered invalid_grant: the refresh token is dead for good and only
    # a new link (PUT) revives the link. Transient failures leave it null.
    failed_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(
        max_length=300,
        blank=True,
        help_text="why the last refresh failed; cleared by a success or a new link",
    )
    failure_at = models.DateTimeField(null=True, blank=True)
    # The refresh in flight, if any: a random claim and until when it holds (longer
    # than one refresh call can take, retries included). Refresh tokens rotate, so two
    # processes sending the same one would leave the link dead.
    refresh_claim = models.CharField(max_length=32, blank=True)
    refresh_claimed_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The refresher's scan: live links by expiry.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(failed_at__isnull=True),
                name="brokerage_link_refresh_scan",
            )
        ]

    def __str__(self) -> str:
        return f"brokerage link of member {self.member_id}"
