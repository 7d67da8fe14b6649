"""No N+1: the members list and a member's page cost the same number of queries with 5
members as with 50."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Member
from tests.portal import factories

pytestmark = pytest.mark.django_db


def queries_for(client, url: str) -> int:
    client.get(url)  # first use creates the settings row and the wallet account
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def grow_to(count: int) -> None:
    have = Member.objects.count()
    made = factories.members(count - have, prefix=f"g{have}-")
    for member in made:
        factories.gateway_key(member)
        factories.usage(member, days=3)


@pytest.mark.parametrize(
    "url",
    [
        "/members/",
        "/members/?sort=-term_end&per_page=50",
        "/members/?q=member&status=active&plan=pro",
    ],
)
def test_members_list_queries_do_not_grow_with_members(
    owner_client, django_assert_num_queries, url
):
    # given 5 members, then 50 (the list shows up to 25 a page)
    grow_to(5)
    few = queries_for(owner_client, url)
    grow_to(50)
    # then the page costs the same
    with django_assert_num_queries(few):
        owner_client.get(url)


def test_member_page_queries_do_not_grow_with_members_or_history(
    owner_client, django_assert_num_queries
):
    grow_to(5)
    member = Member.objects.order_by("id").first()
    for n in range(1, 4):
        factories.gateway_key(member, n)
    url = f"/members/{member.uid}/"
    few = queries_for(owner_client, url)
    grow_to(50)
    for n in range(4, 12):
        factories.gateway_key(member, n)
    with django_assert_num_queries(few):
        owner_client.get(url)


def test_dashboard_queries_do_not_grow_with_members(
    owner_client, django_assert_num_queries
):
    grow_to(5)
    few = queries_for(owner_client, "/")
    grow_to(50)
    with django_assert_num_queries(few):
        owner_client.get("/")
