"""Measure how fast dss-postgres reads a large table, by read method. Not part of the test suite.

    .venv/bin/python benchmarks/postgres_read.py [--rows 1000000] [--runs 3] [--url URL]

Creates (once) the table ``dss_bench.users`` with ``--rows`` rows on the
server (default ``postgresql://postgres@127.0.0.1:5432/test``), then for each
read method of :class:`dss_postgres.PostgresImporter` -- ``copy`` (COPY ...
TO STDOUT via psycopg), ``cursor`` (a psycopg server-side named cursor) and
``stream`` (dss-sql's SQLAlchemy ``stream_results`` streaming) -- times
reading every record through the importer, and prints rows/second, the
median of ``--runs`` runs. ``--drop`` removes the table afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import time

from dss_postgres import READ_METHODS, PostgresImporter, postgres_url

from dss_core import Branch, Config, Model, Tree

SCHEMA = "dss_bench"


class User(Model):
    name: str
    email: str
    year: int
    active: bool


def prepare(url: str, rows: int) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        have = conn.exec_driver_sql(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%(t)s)",
            {"t": f"{SCHEMA}.users"}).scalar()
        if have is not None:
            count = conn.exec_driver_sql(f"SELECT count(*) FROM {SCHEMA}.users").scalar()
            if count == rows:
                return
            conn.exec_driver_sql(f"DROP TABLE {SCHEMA}.users")
        print(f"creating {SCHEMA}.users with {rows:,} rows ...", flush=True)
        conn.exec_driver_sql(
            f"CREATE TABLE {SCHEMA}.users (idnumber text PRIMARY KEY, name text NOT NULL, "
            "email text NOT NULL, year integer NOT NULL, active boolean NOT NULL)")
        conn.exec_driver_sql(
            f"INSERT INTO {SCHEMA}.users SELECT 'u' || i, 'User number ' || i, "
            "'user' || i || '@example.org', 2000 + mod(i, 20), mod(i, 7) <> 0 "
            f"FROM generate_series(1, {rows}) AS i")
        conn.exec_driver_sql(f"ANALYZE {SCHEMA}.users")
    engine.dispose()


def read_once(url: str, method: str) -> tuple[int, float]:
    class Bench(Tree):
        name = "bench"
        users = Branch(User, importer=PostgresImporter)

    config = Config({"trees": {"bench": {"url": url, "users": {
        "table": f"{SCHEMA}.users", "method": method, "yield_per": 5000}}}}, environ={})
    tree = Bench(config=config)
    importer = tree.importer_for("users")
    start = time.perf_counter()
    count = sum(1 for _ in importer.records())
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--methods", default=",".join(READ_METHODS))
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    url = postgres_url(args.url)
    prepare(url, args.rows)
    print(f"reading {args.rows:,} rows x {args.runs} runs per method (median rows/second):")
    results = {}
    for method in args.methods.split(","):
        rates = []
        for _ in range(args.runs):
            count, seconds = read_once(url, method)
            assert count == args.rows, (method, count)
            rates.append(count / seconds)
        results[method] = statistics.median(rates)
        print(f"  {method:<7} {results[method]:>12,.0f} rows/s   "
              f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})", flush=True)
    best = max(results, key=lambda m: results[m])
    print(f"fastest: {best}")
    if args.drop:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {SCHEMA} CASCADE")
        engine.dispose()


if __name__ == "__main__":
    main()
