"""The brokerage link API, included by api.urls under /api/organization/ (its
names are in the "organization" namespace; scopes in members.scopes)."""

from django.urls import path

from brokerage import api
from members import inputs  # noqa: F401  (registers the uid path converter)

urlpatterns = [
    path(
        "members/<uid:uid>/brokerage",
        api.MemberBrokerageApi.as_view(),
        name="member-brokerage",
    ),
]
