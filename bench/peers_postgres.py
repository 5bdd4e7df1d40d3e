"""PostgreSQL peers: the Bodea audience and estimate on indexed tables, and iterative min-label propagation.

Uses the local server (RAPPORT_BENCH_PG, default host=127.0.0.1 port=5432 user=postgres dbname=test) in a schema
of its own, dropped at the end. Every public method returns (seconds, answer); only the query is timed.
"""

import os
import time

import psycopg

import peers_duckdb

SCHEMA = "rapport_bench"
DSN = os.environ.get("RAPPORT_BENCH_PG", "host=127.0.0.1 port=5432 user=postgres dbname=test")

TABLES = {
    "persons": "pid bigint PRIMARY KEY, department text, primary_key text, email text, first_name text, last_name text",
    "person_accounts": "pid bigint, account_key text",
    "opportunities": "opportunity_key text, account_key text, is_open boolean",
    "accounts": "account_key text, name text",
    "edges": "a text, b text",
}
INDEXES = [
    "CREATE INDEX ON persons (department)",
    "CREATE INDEX ON person_accounts (pid, account_key)",
    "CREATE INDEX ON opportunities (account_key) WHERE is_open",
    "CREATE INDEX ON opportunities (account_key, is_open)",
]
MIN_LABEL_SETUP = [
    "DROP TABLE IF EXISTS e",
    "DROP TABLE IF EXISTS lab",
    "CREATE TEMP TABLE e AS SELECT a AS s, b AS d FROM edges UNION ALL SELECT b, a FROM edges",
    "CREATE INDEX ON e (s)",
    "CREATE TEMP TABLE lab AS SELECT DISTINCT s AS node, s AS label FROM e",
    "CREATE UNIQUE INDEX ON lab (node)",
    "ANALYZE e",
    "ANALYZE lab",
]


def reachable():
    """None when the server answers, else the reason it does not."""
    try:
        with psycopg.connect(DSN, connect_timeout=3) as con:
            con.execute("SELECT 1")
        return None
    except Exception as err:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return str(err).strip().splitlines()[0]


def _timed(run):
    start = time.perf_counter()
    answer = run()
    return time.perf_counter() - start, answer


class PostgresPeer:
    """The merged Bodea tables and the edge list in PostgreSQL, with indexes and fresh statistics."""

    def __init__(self, prepared_dir, edges_file):
        self.con = psycopg.connect(DSN, autocommit=True)
        self.con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        self.con.execute(f"CREATE SCHEMA {SCHEMA}")
        self.con.execute(f"SET search_path = {SCHEMA}")
        self.con.execute("SET work_mem = '256MB'")
        for table, columns in TABLES.items():
            self.con.execute(f"CREATE TABLE {table} ({columns})")
            if table != "edges" and prepared_dir is None:
                continue  # the stitching workloads alone: the Bodea tables stay empty
            path = edges_file if table == "edges" else os.path.join(prepared_dir, f"{table}.csv")
            with open(path, "rb") as f, self.con.cursor().copy(
                f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
        for sql in INDEXES:
            self.con.execute(sql)
        self.con.execute("VACUUM ANALYZE")
        self.version = self.con.execute("SHOW server_version").fetchone()[0]

    def audience(self):
        """The audience query (same SQL as DuckDB), members fetched."""
        return _timed(lambda: len(self.con.execute(peers_duckdb.AUDIENCE).fetchall()))

    def estimate(self):
        """The audience query as count(*)."""
        return _timed(lambda: self.con.execute(peers_duckdb.ESTIMATE).fetchone()[0])

    def stitch_min_label(self):
        """Iterative min-label propagation with indexed temporary tables built inside the timer."""

        def run():
            for sql in MIN_LABEL_SETUP:
                self.con.execute(sql)
            while self.con.execute(peers_duckdb.MIN_LABEL_STEP).rowcount > 0:
                pass
            return self.con.execute(peers_duckdb.MIN_LABEL_ANSWER).fetchone()[0]

        return _timed(run)

    def close(self):
        """Drops the schema."""
        self.con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        self.con.close()
