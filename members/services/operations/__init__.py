"""Member mutations against the upstream Organization API, with exact money.

The protocol for every mutation (design.md, "Consistency with the upstream"):
1. Record (`record`): under the wallet lock, price it (`previews`), check the wallet can
   pay (402 before any upstream call), and record an Operation holding the charge. One
   operation per member may be in flight: a second one gets 409 MEMBER_BUSY.
2. Execute (`execute`): call upstream with no database transaction open.
3. Settle (`settle`): on a definitive answer, post the ledger entries (success) or
   release the hold (failure). Resolve (`resolve`): on an unknown outcome (timeout,
   dropped connection, 5xx), read the member back from upstream to decide; if upstream
   cannot be read either, a Celery task keeps trying.
Settling is idempotent: an operation is settled at most once, under lock.

`actions` holds the entry points; `member_settings` and `gateway_keys` the local-only
changes, which make no upstream call.
"""

from members.services.operations.actions import (
    member_cancel,
    member_change_plan,
    member_create,
    member_delete,
    member_renew,
)
from members.services.operations.gateway_keys import (
    member_key_masked,
    member_key_rotate,
    member_keys_revoke,
    member_live_key,
)
from members.services.operations.member_settings import member_settings_update
from members.services.operations.previews import (
    Preview,
    member_cancel_preview,
    member_create_preview,
    member_preview,
)
from members.services.operations.resolve import (
    operation_resolve,
    operations_in_flight,
)
from members.services.operations.settle import Outcome
from members.services.operations.state import (
    member_get_live,
    open_terms,
)

__all__ = [
    "Outcome",
    "Preview",
    "member_cancel",
    "member_cancel_preview",
    "member_change_plan",
    "member_create",
    "member_create_preview",
    "member_delete",
    "member_get_live",
    "member_key_rotate",
    "member_keys_revoke",
    "member_key_masked",
    "member_live_key",
    "member_preview",
    "member_renew",
    "member_settings_update",
    "open_terms",
    "operation_resolve",
    "operations_in_flight",
]
