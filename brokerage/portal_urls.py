"""The portal's brokerage actions on a member, mounted at the site root beside the
portal's own URLs (the member's page shows the card, brokerage.templatetags)."""

from django.urls import path

from brokerage import views
from members import inputs  # noqa: F401  (registers the uid path converter)

app_name = "brokerage"

urlpatterns = [
    path("members/<uid:uid>/brokerage/link/", views.link, name="link"),
    path("members/<uid:uid>/brokerage/unlink/", views.unlink, name="unlink"),
]
