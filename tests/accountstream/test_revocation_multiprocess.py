"""Account streams across two web processes on PostgreSQL and Redis: an unlinked
account and a cancelled member are closed in both within 5 s."""

import time

from brokerage.services import brokerage_unlink
from members.services import operations
from tests.accountstream.conftest import PATH, in_db_thread
from tests.accountstream.test_revocation import run, streaming
from tests.marketdata.conftest import free_port
from tests.webproc import MULTIPROCESS, Web, web_env

pytestmark = MULTIPROCESS


def test_unlink_and_cancel_close_streams_in_both_processes(
    sandbox, transactional_db, settings, linked, aries
):
    env = web_env(
        sandbox,
        settings,
        UPSTREAM_ARIES_URL=sandbox.url,
        UPSTREAM_ARIES_WS_URL=sandbox.url.replace("http://", "ws://") + PATH,
    )
    webs = [Web(env, free_port()), Web(env, free_port())]
    try:
        unlinked, cancelled = linked("m1"), linked("m2")

        async def scenario():
            clients = {}
            for uid, (key, user) in (("m1", unlinked), ("m2", cancelled)):
                for web in webs:
                    clients[uid, web.url] = await streaming(
                        web.url, key, user["account_ids"][0]
                    )
            await in_db_thread(brokerage_unlink, uid="m1", actor="tests")
            await in_db_thread(operations.member_cancel, uid="m2", actor="tests")
            started = time.monotonic()
            for client in clients.values():
                assert (await client.frames.close_code(timeout=6))[0] == 1008
            assert time.monotonic() - started < 5

        run(scenario())
    finally:
        for web in webs:
            web.stop()
