import logging

from django.apps import AppConfig
from django.conf import settings

log = logging.getLogger("outbound")


class OutboundConfig(AppConfig):
    name = "outbound"
    verbose_name = "Outbound targets"

    def ready(self) -> None:
        # Said at every start of every process of a deployment that turned the
        # development setting on, so it does not go unnoticed. The embedded default has
        # it on by design and says so once, in run.py's banner.
        from orgportal import config

        if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS and not config.embedded_default():
            log.warning(
                "WEBHOOK_ALLOW_PRIVATE_TARGETS is on: webhook endpoints may reach "
                "loopback and private addresses (development only; the embedded "
                "default turns it on, set WEBHOOK_ALLOW_PRIVATE_TARGETS=false to refuse)"
            )
