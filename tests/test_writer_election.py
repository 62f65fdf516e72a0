"""One table writer per sheet, even when the database ends the writer's session: real
PostgreSQL, real advisory locks, the session ended by `pg_terminate_backend`."""

import asyncio

import sqlalchemy as sa
from waiting import eventually

from persistence.database import create_engine, psycopg_params
from persistence.store.sheet_claims import HOLDER, PostgresClaims
from server.processes.writer_election import WriterElection


async def test_a_writer_whose_claim_another_process_took_stops_writing(postgresql_url):
    engine = create_engine(postgresql_url)
    params = psycopg_params(engine)
    events: list[str] = []
    election = WriterElection(PostgresClaims(params), interval=0.05)
    election.stand("orders", lambda: events.append("elected"), lambda: events.append("demoted"))
    running = asyncio.create_task(election.run())
    try:
        await eventually(lambda: events == ["elected"], what="elected")
        assert election.writes("orders")

        # The database ends the writer's session (as a restart or an operator does), and before
        # the writer reconnects, another process takes the sheet's claim.
        with engine.connect() as conn:
            ended = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :holder AND datname = current_database()"
                ),
                {"holder": HOLDER},
            ).scalar_one()
        assert ended == 1
        other = PostgresClaims(params)
        await asyncio.to_thread(other.claim, "orders")

        await eventually(lambda: events == ["elected", "demoted"], what="demoted")
        assert not election.writes("orders")
        await eventually(lambda: election.writer("orders") is not None, what="the writer named")
        other.release("orders")
        await eventually(lambda: events[-1] == "elected", what="elected again once free")
    finally:
        running.cancel()
        engine.dispose()
