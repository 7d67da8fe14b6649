import pytest

from members.services import operations
from notifications.services.endpoints import webhook_endpoint_create
from tests.notifications.webhook_receiver import Receiver


@pytest.fixture
def receiver(settings):
    # The receiver listens on loopback, an internal address: sending to it takes the
    # development setting (the default refuses it).
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def eager(settings):
    """Tasks queued after commit run at once, in this process, as a worker would."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def endpoint(db, receiver):
    created, secret = webhook_endpoint_create(url=receiver.url, actor="tests")
    receiver.secret = secret
    return created


@pytest.fixture
def alice(funded, frozen):
    return operations.member_create(
        uid="alice", plan="pro", full_name="Alice Liddell", actor="tests"
    ).member
