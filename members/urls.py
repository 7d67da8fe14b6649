from django.urls import path

from members import api

urlpatterns = [
    path("plans", api.PlansApi.as_view()),
    path("members", api.MemberListApi.as_view()),
    path("members/create", api.MemberCreateApi.as_view()),
    path("members/<str:uid>", api.MemberDetailApi.as_view()),
    path("members/<str:uid>/update", api.MemberUpdateApi.as_view()),
    path("members/<str:uid>/cancel", api.MemberCancelApi.as_view()),
    path("members/<str:uid>/renew", api.MemberRenewApi.as_view()),
    path("members/<str:uid>/preview", api.MemberPreviewApi.as_view()),
    path("members/<str:uid>/rotate-key", api.MemberRotateKeyApi.as_view()),
    path("members/<str:uid>/revoke-keys", api.MemberRevokeKeysApi.as_view()),
    path("members/<str:uid>/usage", api.MemberUsageApi.as_view()),
    path("balance", api.BalanceApi.as_view()),
    path("ledger", api.LedgerApi.as_view()),
    path("ledger/adjustments", api.AdjustmentApi.as_view()),
    path("credits/quote", api.QuoteApi.as_view()),
    path("credits/purchase", api.PurchaseApi.as_view()),
    path("credits/refund", api.RefundApi.as_view()),
    path("operations/<int:operation_id>", api.OperationApi.as_view()),
]
