"""The benchmark harness: runs each workload on Rapport and its peers over the same data, alternating systems,
cross-checks the answers, prints a table and writes bench/results/latest.json and docs/benchmarks.md.

Run it through bench/run.sh, which builds Rapport and prepares the virtualenv. Rapport's timings come from
`rapport bench …` (in-process, load reported apart); the peers' from perf_counter around their query only.
The ratio is peer median / Rapport median: above 1 means Rapport took less time. A ratio is printed only when
both sides gave the same answer; any difference makes the run fail.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import peers_duckdb  # noqa: E402
import prepare  # noqa: E402

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
EVERYONE_PQL = "b2b.personKey.sourceKey.isNotNull()"
WORKLOADS = ["audience", "stitch", "stitch-incremental", "ingest", "streaming", "change-latency", "estimate", "export", "restart"]
NOT_BUILT = {}
CHANGES = 2000


class Failure(Exception):
    """A run that must make the harness exit non-zero."""


def bodea_pql():
    """The Bodea audience, read from crates/rapport/src/demo.rs so both always agree."""
    with open(os.path.join(ROOT, "crates/rapport/src/demo.rs"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("pub const BODEA_PQL: &str = "):
                text = line.split("= ", 1)[1].strip().rstrip(";")
                return json.loads(text)
    raise Failure("BODEA_PQL not found in crates/rapport/src/demo.rs")


def mem_total():
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def rss_of(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_rapport(binary, args, memory_limit):
    """Runs `rapport ARGS`, stopping it if its RSS passes `memory_limit`; returns its JSON report.

    The watchdog keeps an out-of-memory run from taking the machine (and the peers) down with it; it samples
    RSS every 0.2 s, so the reported peak is a lower bound when it has to stop the process.
    """
    proc = subprocess.Popen([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, stopped = [0], [False]

    def watch():
        while proc.poll() is None:
            rss = rss_of(proc.pid)
            peak[0] = max(peak[0], rss)
            if rss > memory_limit:
                stopped[0] = True
                proc.send_signal(signal.SIGKILL)
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    watcher.join()
    label = "rapport " + (args[args.index("bench") + 1] if "bench" in args else args[0])
    if stopped[0]:
        raise Failure(f"{label}: stopped by the harness at "
                      f"{peak[0] / 2**30:.1f} GiB resident (limit {memory_limit / 2**30:.1f} GiB)")
    if proc.returncode != 0:
        tail = err.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise Failure(f"{label}: {tail[0]}")
    return json.loads(out)


def fmt_seconds(s):
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_bytes(b):
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


class Harness:
    def __init__(self, args):
        self.args = args
        self.binary = args.rapport
        self.data = os.path.join(HERE, "data", f"p{args.persons}")
        self.bodea = os.path.join(self.data, "bodea")
        self.store = os.path.join(self.data, "store")
        self.edges = os.path.join(self.data, "edges.csv")
        self.prepared = os.path.join(self.data, "prepared")
        self.work = os.path.join(self.data, "work")
        self.memory_limit = int(mem_total() * args.memory_fraction)
        self.results = {}  # workload -> dict
        self.failures = []
        self.notes = []
        self.load = None
        self.load_error = None
        self.pql = bodea_pql()
        self.rounds = 1 if args.reps < 2 else 2
        self.duck = self.pg = self.nx = None
        self.versions = {}

    def wanted(self, name):
        return self.args.only is None or name in self.args.only.split(",")

    def log(self, text):
        print(f"bench: {text}", file=sys.stderr, flush=True)

    # ---- data -------------------------------------------------------------------------------------------------

    def needs_bodea(self):
        """Whether a wanted workload reads the Bodea exports (the stitching workloads read only the edges)."""
        return any(self.wanted(w) for w in WORKLOADS if w not in ("stitch", "stitch-incremental"))

    def prepare_data(self):
        os.makedirs(self.data, exist_ok=True)
        n = str(self.args.persons)
        if self.needs_bodea():
            self.log(f"generating Bodea exports for {n} persons (seed {self.args.seed})")
            subprocess.run([self.binary, "generate", "bodea", "--out", self.bodea, "--persons", n, "--seed",
                            str(self.args.seed), "--json"], check=True, stdout=subprocess.DEVNULL)
        self.log("generating the identity-edge workload")
        self.edges_report = run_rapport(self.binary, ["bench", "edges", "--out", self.edges, "--persons", n,
                                                      "--seed", str(self.args.seed)], self.memory_limit)
        needs_store = any(self.wanted(w) for w in ("audience", "estimate", "export", "restart", "change-latency"))
        if needs_store:
            shutil.rmtree(self.store, ignore_errors=True)
            self.log("loading the exports into a fresh Rapport data directory (ingest, profiles per batch; untimed for the table)")
            try:
                self.load = run_rapport(self.binary, ["--data-dir", self.store, "bench", "load", "--bodea",
                                                      self.bodea], self.memory_limit)
            except Failure as err:
                self.load_error = str(err)
                self.failures.append(f"load: {err}")
                self.log(f"LOAD FAILED: {err}")
        self.prepared_counts = None
        if not self.needs_bodea():
            return
        self.log("preparing the merged tables for the SQL peers (bench/prepare.py)")
        self.prepared_counts = prepare.prepare(self.bodea, self.prepared)
        if self.load:
            persons = self.load["answer"]["profiles"].get("person")
            if persons != self.prepared_counts["persons"]:
                self.failures.append(f"load: Rapport merged {persons} persons, bench/prepare.py "
                                     f"{self.prepared_counts['persons']}")

    def open_peers(self):
        self.log("loading the peers (DuckDB in memory, PostgreSQL, networkx)")
        self.duck = peers_duckdb.DuckDBPeer(self.prepared if self.needs_bodea() else None, self.edges)
        self.versions["duckdb"] = self.duck.version
        if self.args.no_postgres:
            self.notes.append("PostgreSQL columns skipped: --no-postgres.")
        else:
            try:
                import peers_postgres
                reason = peers_postgres.reachable()
            except ImportError as err:
                reason = str(err)
            if reason is None:
                self.pg = peers_postgres.PostgresPeer(self.prepared if self.needs_bodea() else None, self.edges)
                self.versions["postgresql"] = self.pg.version
            else:
                self.notes.append(f"PostgreSQL columns skipped: server not reachable ({reason}).")
        if self.wanted("stitch"):
            import peers_networkx
            self.nx = peers_networkx.NetworkxPeer(self.edges)
            self.versions["networkx"] = self.nx.version

    # ---- running ----------------------------------------------------------------------------------------------

    def alternate(self, workload, rapport_args, rapport_answer, peers):
        """Runs Rapport and each peer in rounds, reversing the order each round; checks and records the answers.

        `peers` maps a peer name to (what it does, a function returning (seconds, answer)).
        """
        systems = ["rapport", *peers]
        per_round = [self.args.reps // self.rounds + (1 if r < self.args.reps % self.rounds else 0)
                     for r in range(self.rounds)]
        samples = {s: [] for s in systems}
        answers = {s: set() for s in systems}
        rapport_report = None
        for r, reps in enumerate(per_round):
            for system in (systems if r % 2 == 0 else list(reversed(systems))):
                if system == "rapport":
                    report = run_rapport(self.binary, [*rapport_args, "--repeat", str(reps)], self.memory_limit)
                    rapport_report = rapport_report or report
                    rapport_report.setdefault("all_samples", []).extend(report["samples_seconds"])
                    rapport_report["peak_rss_bytes"] = max(rapport_report.get("peak_rss_bytes") or 0,
                                                           report.get("peak_rss_bytes") or 0)
                    samples["rapport"].extend(report["samples_seconds"])
                    answers["rapport"].add(rapport_answer(report))
                else:
                    for _ in range(reps):
                        seconds, answer = peers[system][1]()
                        samples[system].append(seconds)
                        answers[system].add(answer)
        entry = {"rapport": {"measures": rapport_report["measures"], "samples_seconds": samples["rapport"],
                             "median_seconds": statistics.median(samples["rapport"]),
                             "load_seconds": rapport_report.get("load_seconds"),
                             "answer": rapport_report["answer"], "extra": rapport_report.get("extra"),
                             "peak_rss_bytes": rapport_report.get("peak_rss_bytes")},
                 "peers": {}}
        ours = answers["rapport"]
        if len(ours) != 1:
            self.failures.append(f"{workload}: Rapport's answers differ between rounds: {sorted(ours)}")
        for name, (does, _) in peers.items():
            equal = answers[name] == ours and len(ours) == 1
            if not equal:
                self.failures.append(f"{workload}: {name} answered {sorted(answers[name])}, Rapport {sorted(ours)}")
            median = statistics.median(samples[name])
            entry["peers"][name] = {"does": does, "samples_seconds": samples[name], "median_seconds": median,
                                    "answer": sorted(answers[name])[0] if answers[name] else None,
                                    "same_answer": equal,
                                    "ratio": median / entry["rapport"]["median_seconds"] if equal else None}
        entry["answer"] = sorted(ours)[0] if ours else None
        self.results[workload] = entry

    def open_row(self, workload, reason):
        self.results[workload] = {"open": reason}

    def run_all(self):
        store_args = ["--data-dir", self.store, "bench"]
        pg = self.pg
        for workload in WORKLOADS:
            if not self.wanted(workload):
                continue
            self.log(f"workload {workload}")
            try:
                if workload in NOT_BUILT:
                    issue, what = NOT_BUILT[workload]
                    self.open_row(workload, f"not available yet (issue {issue}): {what}")
                elif workload in ("audience", "estimate", "export", "restart", "change-latency") and self.load is None:
                    self.open_row(workload, f"open: the Rapport store could not be loaded ({self.load_error})")
                elif workload == "audience":
                    peers = {"duckdb": ("the audience SQL on in-memory tables, member ids fetched", self.duck.audience)}
                    if pg:
                        peers["postgresql"] = ("the same SQL on indexed tables, member ids fetched", pg.audience)
                    self.alternate(workload, [*store_args, "audience", "--pql", self.pql],
                                   lambda r: r["answer"]["members"], peers)
                elif workload == "estimate":
                    peers = {"duckdb": ("the audience SQL as count(*)", self.duck.estimate)}
                    if pg:
                        peers["postgresql"] = ("the audience SQL as count(*)", pg.estimate)
                    self.alternate(workload, [*store_args, "estimate", "--pql", self.pql],
                                   lambda r: r["answer"]["members"], peers)
                elif workload == "change-latency":
                    # No peer keeps an audience current change by change: Rapport alone, its answer (the members
                    # after the seeded changes) checked against a fresh batch evaluation inside the workload.
                    self.alternate(workload, [*store_args, "change-latency", "--pql", self.pql, "--changes",
                                              str(CHANGES)], lambda r: r["answer"]["members"], {})
                elif workload == "export":
                    out = os.path.join(self.work, "export-duckdb")
                    peers = {"duckdb": ("COPY (one row per person, the same five columns) TO a CSV file",
                                        lambda: self.duck.export(out))}
                    self.alternate(workload, [*store_args, "export", "--pql", EVERYONE_PQL, "--work-dir",
                                              self.work], lambda r: r["answer"]["rows"], peers)
                elif workload == "restart":
                    self.alternate(workload, [*store_args, "restart"], lambda r: r["answer"]["persons"], {})
                elif workload == "stitch":
                    peers = {
                        "duckdb-recursive-cte": ("recursive CTE reachability, min label per node",
                                                 self.duck.stitch_recursive),
                        "duckdb-min-label": ("iterative min-label propagation (UPDATE until no change)",
                                             self.duck.stitch_min_label),
                    }
                    if pg:
                        peers["postgresql-min-label"] = ("iterative min-label propagation, indexed temp tables",
                                                         pg.stitch_min_label)
                    peers["networkx"] = ("Graph(edges) + connected_components", self.nx.stitch)
                    self.alternate(workload, ["bench", "stitch", "--edges", self.edges],
                                   lambda r: r["answer"]["components"], peers)
                elif workload == "stitch-incremental":
                    # No peer keeps connected components current record by record: Rapport alone, its graphs
                    # checked against a from-scratch stitch inside the workload. Below 100,000 persons, 1,000
                    # records: a third of the drawn records link two existing identities, and among the few
                    # thousand of a small run they soon join one giant graph that every later insert re-stitches
                    # (10,000 records at 2,000 persons took 215 s, p99 138 ms an insert, in CI).
                    records = 10_000 if self.args.persons >= 100_000 else 1_000
                    self.alternate(workload, ["bench", "stitch-incremental", "--edges", self.edges, "--records",
                                              str(records)], lambda r: r["answer"]["graphs_before"], {})
                elif workload == "streaming":
                    # No peer has an HTTP inlet: Rapport alone, its answer checked (every acknowledged message
                    # is a stored person profile, checked inside `rapport bench streaming`).
                    messages = min(200_000, max(20_000, self.args.persons * 20))
                    self.alternate(workload, ["bench", "streaming", "--messages", str(messages), "--batch", "100",
                                              "--concurrency", "6", "--work-dir", self.work],
                                   lambda r: r["answer"]["accepted"], {})
                elif workload == "ingest":
                    contact = os.path.join(self.bodea, "salesforce", "Contact.csv")
                    out = os.path.join(self.work, "ingest-duckdb")
                    peers = {"duckdb": ("read_csv (typed dates, bad rows dropped) into a table of a new DuckDB "
                                        "file, CHECKPOINT; no mapping, identities or merge",
                                        lambda: peers_duckdb.ingest_contacts(contact, out))}
                    self.alternate(workload, ["bench", "ingest", contact, "--work-dir", self.work],
                                   lambda r: r["answer"]["rows_ingested"], peers)
            except Failure as err:
                self.failures.append(str(err))
                self.open_row(workload, f"open: {err}")

    # ---- output -----------------------------------------------------------------------------------------------

    def machine(self):
        return {
            "cores": os.cpu_count(),
            "memory_bytes": mem_total(),
            "cpu": cpu_model(),
            "os": f"{platform.system()} {platform.release()}",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(),
            "python": platform.python_version(),
            "versions": self.versions,
        }

    def rows(self):
        """Table rows: (workload, Rapport does, peer, peer does, Rapport median, peer median, ratio)."""
        out = []
        for workload in WORKLOADS:
            entry = self.results.get(workload)
            if entry is None:
                continue
            if "open" in entry:
                out.append((workload, entry["open"], "", "", "—", "—", "—"))
                continue
            rap = entry["rapport"]
            rap_does = f"{rap['measures']} (answer {entry['answer']})"
            if not entry["peers"]:
                out.append((workload, rap_does, "none", "", fmt_seconds(rap["median_seconds"]), "—", "—"))
            for name, peer in entry["peers"].items():
                ratio = f"{peer['ratio']:.2f}" if peer["ratio"] is not None else "not comparable (answers differ)"
                out.append((workload, rap_does, name, peer["does"], fmt_seconds(rap["median_seconds"]),
                            fmt_seconds(peer["median_seconds"]), ratio))
                rap_does = "〃"
        return out

    def extra_facts(self):
        facts = []
        if self.load:
            steps = self.load["extra"]["steps_seconds"]
            facts.append("Rapport load (once, before the workloads): "
                         + ", ".join(f"{k} {fmt_seconds(v)}" for k, v in steps.items())
                         + f"; peak RSS of the loading process {fmt_bytes(self.load['peak_rss_bytes'])}")
        elif self.load_error:
            facts.append(f"Rapport load FAILED: {self.load_error}")
        for workload in ("audience", "estimate", "export"):
            e = self.results.get(workload, {})
            if "rapport" in e and e["rapport"].get("load_seconds") is not None:
                extra = e["rapport"].get("extra") or {}
                if "columns_seconds" in extra:
                    facts.append(f"{workload}: Rapport's load, untimed in the median: profile graph "
                                 f"{fmt_seconds(extra['graph_seconds'])}, then the columns the plan reads "
                                 f"{fmt_seconds(extra['columns_seconds'])}")
                else:
                    facts.append(f"{workload}: Rapport's profile_graph() load, untimed in the median: "
                                 f"{fmt_seconds(e['rapport']['load_seconds'])}")
        ingest = self.results.get("ingest", {})
        if "rapport" in ingest:
            a = ingest["rapport"]["answer"]
            rate = a["rows_read"] / ingest["rapport"]["median_seconds"]
            facts.append(f"ingest: {a['rows_read']} rows read, {a['rows_ingested']} kept, {a['rows_rejected']} "
                         f"rejected; Rapport {rate:,.0f} rows/s end to end")
        streaming = self.results.get("streaming", {})
        if "rapport" in streaming:
            runs = streaming["rapport"]["extra"]["runs"]
            facts.append("streaming: " + "; ".join(
                f"{r['messages_per_second']:,.0f} messages/s, p99 {r['latency_ms']['p99']:.1f} ms" for r in runs))
        stitch = self.results.get("stitch", {})
        if "rapport" in stitch and stitch["rapport"].get("extra"):
            extra = stitch["rapport"]["extra"]
            facts.append(f"stitch: Rapport's load, untimed in the median: reading the edge file "
                         f"{fmt_seconds(extra['read_seconds'])}, interning its identities to u32 "
                         f"{fmt_seconds(extra['intern_seconds'])} ({extra['nodes']} identities); the peers' "
                         "loading of the edges is untimed too")
            if extra.get("cpu_median_seconds") is not None:
                facts.append(f"stitch: Rapport's CPU time per stitch (thread user + system, 10 ms ticks), median of "
                             f"its first round: {fmt_seconds(extra['cpu_median_seconds'])}")
        incremental = self.results.get("stitch-incremental", {})
        if "rapport" in incremental:
            extra = incremental["rapport"]["extra"]
            facts.append(f"stitch-incremental: {extra['records']} records inserted one by one into the graphs of "
                         f"every edge, p50 {extra['p50_us']:.1f} µs, p99 {extra['p99_us']:.1f} µs, max "
                         f"{extra['max_us']:.1f} µs; graphs built in {fmt_seconds(extra['build_seconds'])} after "
                         f"reading the edges")
        change = self.results.get("change-latency", {})
        if "rapport" in change:
            latencies = sorted(change["rapport"]["samples_seconds"])
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            extra = change["rapport"]["extra"]
            facts.append(f"change-latency: {len(latencies)} changes, p50 {fmt_seconds(statistics.median(latencies))}, "
                         f"p99 {fmt_seconds(p99)}, max {fmt_seconds(latencies[-1])}; incremental state built in "
                         f"{fmt_seconds(extra['state_seconds'])} after the graph load")
        restart = self.results.get("restart", {})
        if "rapport" in restart:
            facts.append(f"restart: peak RSS of the process after open + loading the graph the Bodea audience reads: "
                         f"{fmt_bytes(restart['rapport']['peak_rss_bytes'])}")
        return facts

    def table_text(self):
        header = ("workload", "Rapport does", "peer", "peer does", "Rapport median", "peer median",
                  "ratio (peer / Rapport)")
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.rows():
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
        return "\n".join(lines)

    def markdown(self):
        m = self.machine()
        n = self.args.persons
        lines = [
            f"Run: `bench/run.sh --persons {n} --reps {self.args.reps}` · {m['date']} · commit {m['commit']}",
            f"Machine: {m['cores']} cores ({m['cpu']}), {fmt_bytes(m['memory_bytes'])} memory, {m['os']}; "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.versions.items())),
            f"Data: `rapport generate bodea --persons {n} --seed {self.args.seed}`; identity edges: "
            f"`rapport bench edges --persons {n} --seed {self.args.seed}` "
            f"({self.edges_report['edges']} edges). {self.args.reps} repetitions per system in {self.rounds} "
            "alternating round(s); medians.",
            "",
            self.table_text(),
            "",
        ]
        lines += [f"- {fact}" for fact in self.extra_facts()]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def write(self):
        payload = {"machine": self.machine(), "persons": self.args.persons, "seed": self.args.seed,
                   "reps": self.args.reps, "rounds": self.rounds, "pql": self.pql,
                   "ratio": "peer median / Rapport median (above 1: Rapport took less time)",
                   "load": self.load, "load_error": self.load_error, "prepared": self.prepared_counts,
                   "edges": self.edges_report, "workloads": self.results, "notes": self.notes,
                   "failures": self.failures}
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        with open(os.path.join(HERE, "results", self.args.results_name), "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, ensure_ascii=False)
            f.write("\n")
        docs = os.path.join(ROOT, "docs", "benchmarks.md")
        with open(docs, encoding="utf-8") as f:
            text = f.read()
        if BEGIN not in text or END not in text:
            raise Failure(f"docs/benchmarks.md has no {BEGIN} … {END} markers")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(docs, "w", encoding="utf-8") as f:
            f.write(head + BEGIN + "\n" + self.markdown() + END + tail)

    def close(self):
        if self.pg:
            self.pg.close()
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rapport", required=True, help="the rapport binary")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", help="comma-separated workloads: " + ",".join(WORKLOADS))
    parser.add_argument("--no-write", action="store_true", help="print only; leave results and docs alone")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--results-name", default="latest.json")
    parser.add_argument("--memory-fraction", type=float, default=0.85,
                        help="stop a rapport process whose RSS passes this fraction of the machine's memory")
    args = parser.parse_args()
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    if args.only:
        unknown = set(args.only.split(",")) - set(WORKLOADS)
        if unknown:
            parser.error(f"unknown workload(s) {sorted(unknown)}; choose from {WORKLOADS}")

    h = Harness(args)
    try:
        h.prepare_data()
        h.open_peers()
        h.run_all()
    finally:
        h.close()
    print()
    print(h.markdown())
    if not args.no_write:
        h.write()
        print("bench: wrote bench/results/" + args.results_name + " and docs/benchmarks.md", file=sys.stderr)
    if h.failures:
        print("\nbench: FAILED", file=sys.stderr)
        for failure in h.failures:
            print(f"  - {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
