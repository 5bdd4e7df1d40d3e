"""Streams people and open opportunities naming 20 accounts that do not exist yet, then each account alone,
and prints the latency of the account requests (each answered once the account, the resident graph's patch and
the memberships it moves are committed).

Usage: python3 bench/accounts_after_people.py URL INLET TOKEN RUN
against `rapport serve` on a data directory with the B2B schemas and datasets bench.person, bench.opportunity and
bench.account (docs/benchmarks.md, "Streaming with a saved audience: an account after its people"); RUN tells the
keys of one run from another's. Standard library only."""
import json, sys, time, urllib.request
url, inlet, token, run = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ORG = "00D5"
def key(kind, i):
    return {"sourceID": f"{kind}{run}x{i}", "sourceInstanceID": ORG, "sourceKey": f"{kind}{run}x{i}@{ORG}.Salesforce", "sourceType": "Salesforce"}
def env(schema, dataset, entity):
    sid = f"https://ns.adobe.com/rapport/schemas/{schema}"
    return {"header": {"schemaRef": {"id": sid}, "datasetId": dataset}, "body": {"xdmMeta": {"schemaRef": {"id": sid}}, "xdmEntity": entity}}
def post(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        answer = json.loads(r.read())
    return time.perf_counter() - start, answer
people = [env("b2b-person", "bench.person", {
    "b2b": {"personKey": key("NEWP", i), "accountKey": key("NEWA", i % 20)},
    "personComponents": [{"sourceAccountKey": key("NEWA", i % 20), "sourcePersonKey": key("NEWP", i)}],
    "extendedWorkDetails": {"departments": ["Sales"]}}) for i in range(200)]
_, a = post(f"/collection/batch/{inlet}", {"messages": people})
assert all("statusCode" not in r for r in a["responses"]), a
opps = [env("b2b-opportunity", "bench.opportunity", {"opportunityKey": key("NEWO", i), "accountKey": key("NEWA", i), "isClosed": False, "opportunityName": "x"}) for i in range(20)]
_, a = post(f"/collection/batch/{inlet}", {"messages": opps})
assert all("statusCode" not in r for r in a["responses"]), a
times = []
for i in range(20):
    t, a = post(f"/collection/{inlet}", env("b2b-account", "bench.account", {"accountKey": key("NEWA", i), "accountName": f"New {i}"}))
    times.append(t * 1000)
times.sort()
print("account requests (ms): median %.1f, min %.1f, max %.1f" % (times[10], times[0], times[-1]))
