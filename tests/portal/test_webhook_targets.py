"""The portal's webhook form refuses internal targets next to the URL field, naming why."""

import pytest

from notifications.models import WebhookEndpoint


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.5/hook", "10.0.0.5 is a private address"),
        (
            "http://169.254.169.254/latest/",
            "169.254.169.254 is a cloud metadata address",
        ),
        ("http://localhost:6379/", "localhost is a loopback name"),
        (
            "http://metadata.google.internal/",
            "metadata.google.internal is a cloud metadata name",
        ),
    ],
)
def test_the_webhook_form_refuses_internal_targets(owner_client, settings, url, reason):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = owner_client.post(
        "/webhooks/new/", {"url": url, "events": ["org.low_balance"], "active": "on"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["url"] == [reason]
    assert 'id="id_url_error"' in response.content.decode()
    assert WebhookEndpoint.objects.count() == 0


def test_editing_an_endpoint_to_an_internal_target_is_refused(owner_client, settings):
    from tests.portal import factories

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    endpoint, _ = factories.webhook_delivery()
    response = owner_client.post(
        f"/webhooks/{endpoint.pk}/edit/",
        {"url": "http://[::ffff:127.0.0.1]/", "events": [], "active": "on"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["url"] == [
        "::ffff:127.0.0.1 reaches 127.0.0.1, a loopback address"
    ]
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/orgportal"
