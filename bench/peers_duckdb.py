"""DuckDB peers: the Bodea audience, estimate and export on in-memory tables, stitching (recursive CTE and
iterative min-label propagation) and batch ingest with read_csv.

Every public method returns (seconds, answer); only the work named in its docstring is inside the timer.
"""

import os
import shutil
import time

import duckdb

# The Bodea audience over the merged tables bench/prepare.py writes: department "Sales" and some related account
# with an open opportunity. AUDIENCE returns the members; ESTIMATE only counts them.
AUDIENCE = """
SELECT p.pid FROM persons p
WHERE p.department = 'Sales'
  AND EXISTS (SELECT 1 FROM person_accounts pa JOIN opportunities o ON o.account_key = pa.account_key
              WHERE pa.pid = p.pid AND o.is_open)
"""
ESTIMATE = f"SELECT count(*) FROM ({AUDIENCE}) AS members"

# One row per person: primary identity, email, first and last name, first related account's name (by key).
EXPORT_QUERY = """
SELECT p.primary_key AS primaryIdentity, p.email, p.first_name AS firstName, p.last_name AS lastName,
       coalesce(a.name, '') AS accountName
FROM persons p
LEFT JOIN (SELECT pa.pid, arg_min(ac.name, ac.account_key) AS name
           FROM person_accounts pa JOIN accounts ac ON ac.account_key = pa.account_key AND ac.name <> ''
           GROUP BY pa.pid) a ON a.pid = p.pid
"""

# Connected components by a recursive CTE: every node's label reaches every node of its component (UNION
# removes duplicates, so it terminates); a node's component is the smallest label that reached it.
RECURSIVE_CTE = """
WITH RECURSIVE e(s, d) AS (SELECT a, b FROM edges UNION ALL SELECT b, a FROM edges),
reach(node, label) AS (
    SELECT s, s FROM e
    UNION
    SELECT e.d, r.label FROM reach r JOIN e ON e.s = r.node
)
SELECT count(DISTINCT label), count(*) FROM (SELECT node, min(label) AS label FROM reach GROUP BY node)
"""

# Iterative min-label propagation: each round every node takes the smallest label among itself and its
# neighbours, until no label changes.
MIN_LABEL_SETUP = [
    "DROP TABLE IF EXISTS e",
    "DROP TABLE IF EXISTS lab",
    "CREATE TEMP TABLE e AS SELECT a AS s, b AS d FROM edges UNION ALL SELECT b, a FROM edges",
    "CREATE TEMP TABLE lab AS SELECT DISTINCT s AS node, s AS label FROM e",
]
MIN_LABEL_STEP = """
UPDATE lab SET label = m.label
FROM (SELECT e.s AS node, min(n.label) AS label FROM e JOIN lab n ON n.node = e.d GROUP BY e.s) m
WHERE lab.node = m.node AND m.label < lab.label
"""
MIN_LABEL_ANSWER = "SELECT count(DISTINCT label), count(*) FROM lab"


def _timed(run):
    start = time.perf_counter()
    answer = run()
    return time.perf_counter() - start, answer


class DuckDBPeer:
    """An in-memory DuckDB database holding the merged Bodea tables and the edge list."""

    def __init__(self, prepared_dir, edges_file):
        """`prepared_dir` None: the edges only (the stitching workloads)."""
        self.con = duckdb.connect(":memory:")
        for table in ("persons", "person_accounts", "opportunities", "accounts") if prepared_dir else ():
            path = os.path.join(prepared_dir, f"{table}.csv")
            self.con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, header = true)", [path])
        self.con.execute(
            "CREATE TABLE edges AS SELECT * FROM read_csv(?, header = true, columns = {'a': 'VARCHAR', 'b': 'VARCHAR'})",
            [edges_file],
        )
        self.version = duckdb.__version__

    def audience(self):
        """The audience query, members fetched."""
        return _timed(lambda: len(self.con.execute(AUDIENCE).fetchall()))

    def estimate(self):
        """The audience query as count(*)."""
        return _timed(lambda: self.con.execute(ESTIMATE).fetchone()[0])

    def export(self, out_dir):
        """COPY (one row per person, five columns) TO a CSV file; returns rows written."""
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "members.csv")

        # Counting the written rows back is a check, not part of the export: time only the COPY.
        start = time.perf_counter()
        self.con.execute(f"COPY ({EXPORT_QUERY}) TO '{path}' (HEADER, DELIMITER ',')")
        seconds = time.perf_counter() - start
        rows = self.con.execute(f"SELECT count(*) FROM read_csv('{path}', header = true, all_varchar = true)").fetchone()[0]
        shutil.rmtree(out_dir)
        return seconds, rows

    def stitch_recursive(self):
        """Recursive CTE over the edge table; returns the number of components."""
        return _timed(lambda: self.con.execute(RECURSIVE_CTE).fetchone()[0])

    def stitch_min_label(self):
        """Iterative min-label propagation (symmetric edge table and label table built inside the timer)."""

        def run():
            for sql in MIN_LABEL_SETUP:
                self.con.execute(sql)
            while True:
                changed = self.con.execute(MIN_LABEL_STEP).fetchone()[0]
                if changed == 0:
                    break
            return self.con.execute(MIN_LABEL_ANSWER).fetchone()[0]

        return _timed(run)


# Salesforce Contact.csv with typed date columns: rows with a wrong field count or an invalid datetime are
# dropped by ignore_errors, rows with an empty id by the WHERE clause.
CONTACT_COLUMNS = {
    "Id": "VARCHAR", "AccountId": "VARCHAR", "FirstName": "VARCHAR", "LastName": "VARCHAR", "Name": "VARCHAR",
    "Email": "VARCHAR", "Department": "VARCHAR", "Title": "VARCHAR", "Phone": "VARCHAR", "MailingCity": "VARCHAR",
    "MailingCountry": "VARCHAR", "LeadSource": "VARCHAR", "CreatedDate": "TIMESTAMP", "LastModifiedDate": "TIMESTAMP",
}


def ingest_contacts(contact_csv, work_dir):
    """read_csv of Contact.csv into a table of a fresh, persisted DuckDB file, then CHECKPOINT; returns rows kept."""
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, "ingest.duckdb")
    for leftover in (path, path + ".wal"):
        if os.path.exists(leftover):
            os.remove(leftover)
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in CONTACT_COLUMNS.items()) + "}"

    def run():
        con = duckdb.connect(path)
        con.execute(
            f"""CREATE TABLE contact AS SELECT * FROM read_csv(?, header = true, columns = {columns},
                    timestampformat = '%Y-%m-%dT%H:%M:%S.%gZ', ignore_errors = true, strict_mode = true)
                WHERE coalesce(Id, '') <> ''""",
            [contact_csv],
        )
        con.execute("CHECKPOINT")
        rows = con.execute("SELECT count(*) FROM contact").fetchone()[0]
        con.close()
        return rows

    seconds, rows = _timed(run)
    shutil.rmtree(work_dir)
    return seconds, rows
