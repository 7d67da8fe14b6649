import pytest

from members.services import operations
from tests.portal.conftest import make_user, signed_in


@pytest.fixture
def member(funded):
    return operations.member_create(uid="m1", plan="pro", actor="tests").member


@pytest.fixture
def owner_client(db):
    client = signed_in(make_user("fuzz-owner", "owner"))
    client.raise_request_exception = False
    return client
