//! Experience-event audiences (`xEvent`, `occurs`, `CHAIN`, counts and aggregates) and segment of segments
//! (`inSegment`), over generated events. Expected members come from oracles written here over the generated
//! values (calendar tuples, not epoch arithmetic), independent of the evaluator; batch, single-profile and
//! incremental evaluation must all agree with them.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::collections::BTreeMap;

use rapport_model::{EntityKind, Identity};
use rapport_profile::{Profile, ProfileGraph, ProfileSet};
use rapport_schema::b2b::generate_b2b;
use rapport_segment::{compile, compile_with, evaluate, evaluate_one, why, Change, Incremental};
use serde_json::{json, Value};

const PERSONS: u32 = 60;
/// 2026-11-30T12:00:00Z, a Monday.
const NOW: &str = "2026-11-30T12:00:00Z";
/// NOW in milliseconds since the epoch: 20_787 days (56 years of 365 days, 14 leap days, 333 days of 2026) plus
/// 12 hours.
const NOW_MS: i64 = 20_787 * 86_400_000 + 12 * 3_600_000;

/// One generated event, with its calendar time kept as a tuple for the oracles.
#[derive(Debug, Clone)]
struct Ev {
    person: u32,
    id: String,
    /// (month, day, hour, minute, second) in 2026, UTC.
    at: (u32, u32, u32, u32, u32),
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    PageView(&'static str),
    EmailOpened,
    Score(i64),
}

const URLS: [&str; 4] = [
    "https://bodea.com/pricing",
    "https://bodea.com/pricing/enterprise",
    "https://bodea.com/",
    "https://bodea.com/blog/cdp",
];

impl Ev {
    fn record(&self) -> Value {
        let (m, d, h, mi, s) = self.at;
        let mut r = json!({
            "_id": self.id,
            "timestamp": format!("2026-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
            "personKey": {"sourceKey": format!("p{}@mk.Marketo", self.person)},
        });
        match &self.kind {
            Kind::PageView(url) => {
                r["eventType"] = json!("web.webpagedetails.pageViews");
                r["web"] = json!({"webPageDetails": {"URL": url}});
            }
            Kind::EmailOpened => {
                r["eventType"] = json!("directMarketing.emailOpened");
                r["directMarketing"] = json!({"mailingName": "November newsletter"});
            }
            Kind::Score(v) => {
                r["eventType"] = json!("leadOperation.changeScore");
                r["leadOperation"] = json!({"changeScore": {"newValue": v}});
            }
        }
        r
    }

    fn pricing(&self) -> bool {
        matches!(self.kind, Kind::PageView(url) if url.contains("/pricing"))
    }

    fn score(&self) -> Option<i64> {
        match self.kind {
            Kind::Score(v) => Some(v),
            _ => None,
        }
    }
}

/// Days per month of 2026 from September to December 2.
fn days_in(month: u32) -> u32 {
    match month {
        9 | 11 => 30,
        10 => 31,
        _ => 2,
    }
}

fn generate(seed: u64) -> Vec<Ev> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    for person in 0..PERSONS {
        for i in 0..rng.u32(0..14) {
            let month = [9, 10, 11, 11, 11, 12][rng.usize(0..6)];
            let day = rng.u32(1..=days_in(month));
            // Seconds = event index: a person's events never share a timestamp.
            let at = (month, day, rng.u32(0..24), rng.u32(0..60), i);
            let kind = match rng.u32(0..3) {
                0 => Kind::PageView(URLS[rng.usize(0..4)]),
                1 => Kind::EmailOpened,
                _ => Kind::Score(rng.i64(0..=100)),
            };
            out.push(Ev { person, id: format!("ev-{person}-{i}"), at, kind });
        }
    }
    out
}

fn person(i: u32) -> Profile {
    let key = format!("p{i}@mk.Marketo");
    let title = if matches!(i % 3, 0) { "Vice President" } else { "Engineer" };
    let account = format!("a{}", i % 4);
    let primary = Identity::new("b2b_person", key.clone());
    let record = json!({
        "b2b": {"personKey": {"sourceKey": key}, "personScore": (i * 7) % 100},
        "extendedWorkDetails": {"jobTitle": title},
        "personComponents": [{"sourceAccountKey": {"sourceKey": account}}],
    });
    Profile { identities: vec![primary.clone()], primary, record: record.as_object().unwrap().clone() }
}

/// Accounts a0..a3; a0 and a2 have revenue of at least $100M.
fn account(i: u32) -> Profile {
    let primary = Identity::new("b2b_account", format!("a{i}"));
    let revenue = [250_000_000.0, 5_000_000.0, 100_000_000.0, 99_999_999.0][i as usize];
    let record = json!({"accountKey": {"sourceKey": format!("a{i}")},
                        "accountOrganization": {"annualRevenue": {"amount": revenue}}});
    Profile { identities: vec![primary.clone()], primary, record: record.as_object().unwrap().clone() }
}

fn graph(events: &[Ev]) -> ProfileGraph {
    let mut sets = BTreeMap::new();
    sets.insert(EntityKind::Person, ProfileSet::new((0..PERSONS).map(person).collect()));
    sets.insert(EntityKind::Account, ProfileSet::new((0..4).map(account).collect()));
    let mut graph = ProfileGraph::link(sets);
    graph.events.now = Some(NOW_MS);
    for ev in events {
        let linked = graph.add_event(ev.record().as_object().unwrap().clone()).unwrap();
        assert_eq!(linked, ev.person, "events link to their person through personKey");
    }
    graph
}

type Oracle = fn(&[&Ev], u32) -> bool;

/// Hand-written meaning of each audience, over one person's events (and the person's number).
fn cases() -> Vec<(&'static str, Oracle)> {
    vec![
        (
            "select E from xEvent where E.eventType = \"web.webpagedetails.pageViews\" and E.timestamp occurs last month",
            |evs, _| evs.iter().any(|e| matches!(e.kind, Kind::PageView(_)) && e.at.0 == 10),
        ),
        (
            "xEvent[web.webPageDetails.URL like \"%/pricing%\" and timestamp occurs last month].count() >= 3",
            |evs, _| evs.iter().filter(|e| e.pricing() && e.at.0 == 10).count() >= 3,
        ),
        (
            "exists E from xEvent where E.eventType = \"directMarketing.emailOpened\" and E.timestamp occurs <= 3 days before now",
            // From 2026-11-27T12:00 to 2026-11-30T12:00, both included.
            |evs, _| {
                evs.iter().any(|e| {
                    e.kind == Kind::EmailOpened
                        && e.at.0 == 11
                        && (e.at.1, e.at.2, e.at.3, e.at.4) >= (27, 12, 0, 0)
                        && (e.at.1, e.at.2, e.at.3, e.at.4) <= (30, 12, 0, 0)
                })
            },
        ),
        (
            "xEvent[eventType = \"leadOperation.changeScore\"].sum(leadOperation.changeScore.newValue) > 150",
            |evs, _| evs.iter().filter_map(|e| e.score()).sum::<i64>() > 150,
        ),
        (
            "xEvent[eventType = \"leadOperation.changeScore\"].leadOperation.changeScore.newValue.max() >= 90",
            |evs, _| evs.iter().filter_map(|e| e.score()).max().is_some_and(|m| m >= 90),
        ),
        (
            "(average X.leadOperation.changeScore.newValue over X from xEvent where X.eventType = \"leadOperation.changeScore\") < 40",
            |evs, _| {
                let scores: Vec<i64> = evs.iter().filter_map(|e| e.score()).collect();
                !scores.is_empty() && (scores.iter().sum::<i64>() as f64) < 40.0 * scores.len() as f64
            },
        ),
        (
            "CHAIN(xEvent, timestamp, [C0: WHAT(eventType = \"directMarketing.emailOpened\"), C1: WHAT(web.webPageDetails.URL like \"%/pricing%\") WHEN(this month)])",
            |evs, _| {
                evs.iter().any(|a| {
                    a.kind == Kind::EmailOpened && evs.iter().any(|b| b.pricing() && b.at.0 == 11 && b.at > a.at)
                })
            },
        ),
        ("xEvent.count() = 0", |evs, _| evs.is_empty()),
        (
            // 2026-11-30 is a Monday: last week is 23–29 November.
            "b2b.personScore > 50 and xEvent[timestamp occurs last week].count() >= 2",
            |evs, p| (p * 7) % 100 > 50 && evs.iter().filter(|e| e.at.0 == 11 && (23..=29).contains(&e.at.1)).count() >= 2,
        ),
        (
            "forall E from xEvent where E.eventType != \"directMarketing.emailOpened\"",
            |evs, _| evs.iter().all(|e| e.kind != Kind::EmailOpened),
        ),
        (
            "xEvent[timestamp occurs between date(2026, 10, 1) and date(2026, 10, 15)]",
            |evs, _| evs.iter().any(|e| e.at.0 == 10 && e.at.1 <= 15),
        ),
        ("xEvent.leadOperation.changeScore.newValue > 95", |evs, _| evs.iter().filter_map(|e| e.score()).any(|v| v > 95)),
        (
            "select E from xEvent where E.timestamp occurs before date(2026, 10, 1)",
            |evs, _| evs.iter().any(|e| e.at.0 == 9),
        ),
        ("select E from xEvent where E.timestamp occurs tomorrow", |evs, _| evs.iter().any(|e| e.at.0 == 12 && e.at.1 == 1)),
        (
            "select E from xEvent where E.timestamp occurs yesterday or E.timestamp occurs today",
            |evs, _| evs.iter().any(|e| e.at.0 == 11 && (e.at.1 == 29 || e.at.1 == 30)),
        ),
        (
            // Older than 2026-10-31T12:00:00Z.
            "select E from xEvent where E.timestamp occurs > 30 days before now",
            |evs, _| evs.iter().any(|e| (e.at.0, e.at.1, e.at.2, e.at.3, e.at.4) < (10, 31, 12, 0, 0)),
        ),
        (
            "not (select E from xEvent where E.timestamp occurs this month) and xEvent.count() > 0",
            |evs, _| !evs.is_empty() && evs.iter().all(|e| e.at.0 != 11),
        ),
    ]
}

fn expected(events: &[Ev], oracle: Oracle) -> Vec<u32> {
    (0..PERSONS)
        .filter(|&p| {
            let mine: Vec<&Ev> = events.iter().filter(|e| e.person == p).collect();
            oracle(&mine, p)
        })
        .collect()
}

#[test]
fn event_audiences_match_hand_written_oracles_in_batch_single_and_incremental() {
    let schemas = generate_b2b();
    for seed in [1, 2, 3] {
        let events = generate(seed);
        let full = graph(&events);
        // Incremental: start with the first half of the events, then let the rest arrive.
        let half = events.len() / 2;
        let early = graph(&events[..half]);
        for (text, oracle) in cases() {
            let plan = compile(text, EntityKind::Person, &schemas).unwrap_or_else(|e| panic!("{}", e.render()));
            let want = expected(&events, oracle);
            let batch: Vec<u32> = evaluate(&plan, &full).iter().collect();
            assert_eq!(batch, want, "batch, seed {seed}: {text}\n{plan}");
            let single: Vec<u32> = (0..PERSONS).filter(|&p| evaluate_one(&plan, &full, p)).collect();
            assert_eq!(single, want, "single profile, seed {seed}: {text}");
            for p in 0..PERSONS {
                assert_eq!(why(&plan, &full, p).holds, want.contains(&p), "why, seed {seed}, p{p}: {text}");
            }
            let mut incremental = Incremental::new(plan.clone(), &early);
            assert_eq!(
                incremental.members().iter().collect::<Vec<_>>(),
                expected(&events[..half], oracle),
                "incremental start, seed {seed}: {text}"
            );
            let mut changed: Vec<Change> =
                events[half..].iter().map(|e| Change { entity: EntityKind::Person, id: e.person }).collect();
            changed.sort();
            changed.dedup();
            incremental.apply(&full, &changed);
            assert_eq!(incremental.members().iter().collect::<Vec<_>>(), want, "incremental, seed {seed}: {text}");
        }
    }
}

/// B2B use case #6 (B2B-DOMAIN e.3): Vice Presidents of accounts with revenue of at least $100M who visited the
/// pricing page at least three times last month, the event part as its own audience (segment of segments).
#[test]
fn use_case_6_pricing_page_visits_as_a_segment_of_segments() {
    let schemas = generate_b2b();
    let mut events = generate(7);
    // Every fifth person also visits the pricing page on 10, 11 and 12 October.
    for p in (0..PERSONS).step_by(5) {
        for k in 0..3 {
            let at = (10, 10 + k, 9, 0, 50 + k);
            events.push(Ev { person: p, id: format!("extra-{p}-{k}"), at, kind: Kind::PageView(URLS[1]) });
        }
    }
    let full = graph(&events);
    let saved = |name: &str| match name {
        "pricing-visitors" => Some((
            EntityKind::Person,
            "xEvent[web.webPageDetails.URL like \"%/pricing%\" and timestamp occurs last month].count() >= 3"
                .to_owned(),
        )),
        _ => None,
    };
    let text = "extendedWorkDetails.jobTitle = \"Vice President\" and \
                (exists A from accounts where A.accountOrganization.annualRevenue.amount >= 100000000) and \
                inSegment(\"pricing-visitors\")";
    let plan = compile_with(text, EntityKind::Person, &schemas, &saved).unwrap_or_else(|e| panic!("{}", e.render()));
    // Person p is a VP when p % 3 = 0 and belongs to account a(p % 4); a0 and a2 have revenue >= $100M.
    let want: Vec<u32> = (0..PERSONS)
        .filter(|&p| {
            matches!(p % 3, 0)
                && [0, 2].contains(&(p % 4))
                && events.iter().filter(|e| e.person == p && e.pricing() && e.at.0 == 10).count() >= 3
        })
        .collect();
    assert_eq!(evaluate(&plan, &full).iter().collect::<Vec<_>>(), want);
    let single: Vec<u32> = (0..PERSONS).filter(|&p| evaluate_one(&plan, &full, p)).collect();
    assert_eq!(single, want);
    assert!(!want.is_empty(), "the generated data holds at least one member (seed 7)");
}

#[test]
fn in_segment_resolves_chains_and_refuses_cycles_and_unknown_audiences() {
    let schemas = generate_b2b();
    let saved = |name: &str| {
        let text = match name {
            "openers" => "select E from xEvent where E.eventType = \"directMarketing.emailOpened\"",
            "engaged" => "inSegment(\"openers\") and b2b.personScore > 50",
            "a" => "inSegment(\"b\")",
            "b" => "b2b.personScore > 1 and inSegment(\"a\")",
            "accounts-only" => return Some((EntityKind::Account, "accountName = \"Acme\"".to_owned())),
            _ => return None,
        };
        Some((EntityKind::Person, text.to_owned()))
    };
    let events = generate(3);
    let full = graph(&events);
    let plan = compile_with("inSegment(\"engaged\")", EntityKind::Person, &schemas, &saved).unwrap();
    let want: Vec<u32> = (0..PERSONS)
        .filter(|&p| (p * 7) % 100 > 50 && events.iter().any(|e| e.person == p && e.kind == Kind::EmailOpened))
        .collect();
    assert_eq!(evaluate(&plan, &full).iter().collect::<Vec<_>>(), want);

    let cycle = compile_with("inSegment(\"a\")", EntityKind::Person, &schemas, &saved).unwrap_err();
    assert!(cycle.diagnostic.message.contains("a -> b -> a"), "{}", cycle.diagnostic.message);
    assert_eq!(&cycle.text[cycle.diagnostic.span.start..cycle.diagnostic.span.end], "\"a\"");
    let unknown = compile_with("inSegment(\"nope\")", EntityKind::Person, &schemas, &saved).unwrap_err();
    assert_eq!(unknown.diagnostic.message, "unknown audience `nope`");
    let class = compile_with("inSegment(\"accounts-only\")", EntityKind::Person, &schemas, &saved).unwrap_err();
    assert!(class.diagnostic.message.contains("account members"), "{}", class.diagnostic.message);
    let plain = compile("inSegment(\"openers\")", EntityKind::Person, &schemas).unwrap_err();
    assert!(plain.diagnostic.message.contains("saved audiences"), "{}", plain.diagnostic.message);
}

#[test]
fn event_conditions_refuse_what_they_cannot_mean() {
    let schemas = generate_b2b();
    let err = |text: &str, entity| compile(text, entity, &schemas).unwrap_err().diagnostic.message;
    assert!(err("xEvent[eventTyp = \"x\"]", EntityKind::Person).contains("unknown field `eventTyp`"));
    assert!(err("select E from xEvent where E.eventType occurs today", EntityKind::Person).contains("not a date"));
    assert!(err("xEvent.count() > \"three\"", EntityKind::Person).contains("number literal"));
    assert!(err("xEvent.count() > 1", EntityKind::Account).contains("belong to persons"));
    assert!(err("select E from xEvent where E.timestamp occurs date(2026, 2, 30)", EntityKind::Person)
        .contains("not a calendar date"));
}

#[test]
fn explain_and_why_show_event_conditions() {
    let schemas = generate_b2b();
    let text = "xEvent[web.webPageDetails.URL like \"%/pricing%\" and timestamp occurs last month].count() >= 3";
    let plan = compile(text, EntityKind::Person, &schemas).unwrap();
    let printed = plan.to_string();
    assert!(printed.contains("Events count() >= 3 where ((web.webPageDetails.URL like \"%/pricing%\") and (timestamp occurs last month))"), "{printed}");
    let sql = rapport_segment::to_sql(&plan, &schemas);
    assert!(sql.contains("FROM experience_events"), "{sql}");
    assert!(sql.contains("date_trunc('month', now() - interval '1 month')"), "{sql}");
    assert!(sql.contains(">= 3"), "{sql}");

    // p0 gets exactly three pricing views in October and one in November.
    let mut events = Vec::new();
    for (i, at) in [(10, 2, 9, 0, 0), (10, 9, 9, 0, 1), (10, 31, 23, 59, 2), (11, 1, 0, 0, 3)].into_iter().enumerate() {
        events.push(Ev { person: 0, id: format!("x{i}"), at, kind: Kind::PageView(URLS[0]) });
    }
    let g = graph(&events);
    let trace = why(&plan, &g, 0);
    assert!(trace.holds);
    assert!(trace.render().contains("3 of 4 event(s) match"), "{}", trace.render());
    assert!(trace.render().contains(&NOW.replace('Z', ".000Z")), "{}", trace.render());
    assert!(!why(&plan, &g, 1).holds);
}
