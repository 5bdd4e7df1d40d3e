//! Batch (columnar) = incremental = single-profile = an oracle, on random B2B graphs, random audiences and random
//! changes applied one by one.
//!
//! The data is generated as plain Rust structs ([`World`]); the profile graph is built from them, and the oracle
//! evaluates the random audience's own syntax tree ([`Q`]) directly on the structs, with the documented semantics
//! (a missing value makes a comparison false, `not` is two-valued, `forall` holds over nothing) — it never calls
//! rapport-segment. The PQL text given to rapport-segment is printed from the same tree.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::collections::{BTreeMap, BTreeSet};

use rapport_model::{EntityKind, Identity};
use rapport_profile::{Profile, ProfileGraph, ProfileSet};
use rapport_schema::b2b::generate_b2b;
use rapport_segment::{compile, evaluate, evaluate_columns, evaluate_one, Change, Incremental};
use serde_json::{json, Value};

const DEPARTMENTS: &[&str] = &["Sales", "IT", "Marketing", "Finance"];
const TITLES: &[&str] = &["CEO", "CTO", "VP Sales", "VP IT", "Manager", "Sales Manager", "Engineer"];
const NAMES: &[&str] = &["Acme", "Globex", "Initech", "Acme Europe", "Umbrella"];
const STAGES: &[&str] = &["Prospect", "Proposal", "Won", "Lost"];

#[derive(Debug, Clone)]
struct Person {
    departments: Option<Vec<&'static str>>,
    title: Option<&'static str>,
    score: Option<f64>,
    accounts: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Account {
    /// False for an account known only by reference (a placeholder: no fields, never a member).
    stored: bool,
    name: Option<&'static str>,
    employees: Option<i64>,
    parent: Option<usize>,
}

#[derive(Debug, Clone)]
struct Opportunity {
    account: Option<usize>,
    closed: Option<bool>,
    amount: Option<f64>,
    stage: Option<&'static str>,
}

/// An opportunity-person relation record.
#[derive(Debug, Clone)]
struct Relation {
    person: usize,
    opportunity: usize,
}

#[derive(Debug, Clone)]
struct World {
    persons: Vec<Person>,
    /// Stored accounts first, then the ones known only by reference.
    accounts: Vec<Account>,
    opportunities: Vec<Opportunity>,
    relations: Vec<Relation>,
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// Four times in five, a value.
fn maybe<T>(rng: &mut fastrand::Rng, value: impl FnOnce(&mut fastrand::Rng) -> T) -> Option<T> {
    (rng.u8(..5) != 0).then(|| value(rng))
}

impl World {
    fn random_person(rng: &mut fastrand::Rng, accounts: usize) -> Person {
        let departments = maybe(rng, |r| (0..r.usize(..3)).map(|_| pick(r, DEPARTMENTS)).collect());
        let title = maybe(rng, |r| pick(r, TITLES));
        let score = maybe(rng, |r| f64::from(r.u8(..10)) * 10.0);
        let links = (0..rng.usize(..3)).map(|_| rng.usize(..accounts)).collect();
        Person { departments, title, score, accounts: links }
    }

    fn random_account(rng: &mut fastrand::Rng, accounts: usize) -> Account {
        let name = maybe(rng, |r| pick(r, NAMES));
        let employees = maybe(rng, |r| i64::from(r.u16(..1000)));
        let parent = (rng.u8(..3) == 0).then(|| rng.usize(..accounts));
        Account { stored: true, name, employees, parent }
    }

    fn random_opportunity(rng: &mut fastrand::Rng, accounts: usize) -> Opportunity {
        let account = maybe(rng, |r| r.usize(..accounts));
        let closed = maybe(rng, |r| r.bool());
        let amount = maybe(rng, |r| f64::from(r.u16(..100)) * 1000.0);
        let stage = maybe(rng, |r| pick(r, STAGES));
        Opportunity { account, closed, amount, stage }
    }

    fn random(rng: &mut fastrand::Rng) -> World {
        Self::random_scaled(rng, 1)
    }

    /// A random world about `scale` times the size of [`World::random`]'s.
    fn random_scaled(rng: &mut fastrand::Rng, scale: usize) -> World {
        let (stored, unstored) = (rng.usize(3 * scale..10 * scale), rng.usize(0..3 * scale));
        let total = stored + unstored;
        let mut accounts: Vec<Account> = (0..stored).map(|_| Self::random_account(rng, total)).collect();
        accounts.extend((0..unstored).map(|_| Account { stored: false, name: None, employees: None, parent: None }));
        let persons =
            (0..rng.usize(5 * scale..40 * scale)).map(|_| Self::random_person(rng, total)).collect::<Vec<_>>();
        let opportunities =
            (0..rng.usize(scale..25 * scale)).map(|_| Self::random_opportunity(rng, total)).collect::<Vec<_>>();
        let relations = (0..rng.usize(0..20 * scale))
            .map(|_| Relation { person: rng.usize(..persons.len()), opportunity: rng.usize(..opportunities.len()) })
            .collect();
        World { persons, accounts, opportunities, relations }
    }

    /// The merged profiles, as the store would hold them, linked.
    fn graph(&self) -> ProfileGraph {
        fn profile(ns: &str, key: String, record: Value) -> Profile {
            let primary = Identity::new(ns, key);
            Profile { identities: vec![primary.clone()], primary, record: record.as_object().unwrap().clone() }
        }
        fn put(record: &mut Value, path: &[&str], value: Value) {
            let mut map = record.as_object_mut().unwrap();
            for segment in &path[..path.len() - 1] {
                map = map.entry(*segment).or_insert_with(|| json!({})).as_object_mut().unwrap();
            }
            map.insert(path[path.len() - 1].to_owned(), value);
        }
        let persons = self.persons.iter().enumerate().map(|(i, p)| {
            let mut r = json!({"b2b": {"personKey": {"sourceKey": format!("p{i}")}}});
            if let Some(d) = &p.departments {
                put(&mut r, &["extendedWorkDetails", "departments"], json!(d));
            }
            if let Some(t) = p.title {
                put(&mut r, &["extendedWorkDetails", "jobTitle"], json!(t));
            }
            if let Some(s) = p.score {
                put(&mut r, &["b2b", "personScore"], json!(s));
            }
            let components: Vec<Value> =
                p.accounts.iter().map(|a| json!({"sourceAccountKey": {"sourceKey": format!("a{a}")}})).collect();
            put(&mut r, &["personComponents"], json!(components));
            profile("b2b_person", format!("p{i}"), r)
        });
        let accounts = self.accounts.iter().enumerate().filter(|(_, a)| a.stored).map(|(i, a)| {
            let mut r = json!({"accountKey": {"sourceKey": format!("a{i}")}});
            if let Some(n) = a.name {
                put(&mut r, &["accountName"], json!(n));
            }
            if let Some(e) = a.employees {
                put(&mut r, &["accountOrganization", "numberOfEmployees"], json!(e));
            }
            if let Some(p) = a.parent {
                put(&mut r, &["accountParentKey", "sourceKey"], json!(format!("a{p}")));
            }
            profile("b2b_account", format!("a{i}"), r)
        });
        let opportunities = self.opportunities.iter().enumerate().map(|(i, o)| {
            let mut r = json!({"opportunityKey": {"sourceKey": format!("o{i}")}});
            if let Some(a) = o.account {
                put(&mut r, &["accountKey", "sourceKey"], json!(format!("a{a}")));
            }
            if let Some(c) = o.closed {
                put(&mut r, &["isClosed"], json!(c));
            }
            if let Some(x) = o.amount {
                put(&mut r, &["opportunityAmount", "amount"], json!(x));
            }
            if let Some(s) = o.stage {
                put(&mut r, &["opportunityStage"], json!(s));
            }
            profile("b2b_opportunity", format!("o{i}"), r)
        });
        let relations = self.relations.iter().enumerate().map(|(i, r)| {
            let record = json!({"personKey": {"sourceKey": format!("p{}", r.person)},
                                "opportunityKey": {"sourceKey": format!("o{}", r.opportunity)}});
            profile("b2b_opportunity_person_relation", format!("r{i}"), record)
        });
        let mut account_set = ProfileSet::new(accounts.collect());
        // Accounts known only by reference are numbered after the stored ones, in index order, whoever refers
        // to them: profile numbers stay stable from one change to the next.
        for (i, _) in self.accounts.iter().enumerate().filter(|(_, a)| !a.stored) {
            account_set.add_placeholder(Identity::new("b2b_account", format!("a{i}")));
        }
        let mut sets = BTreeMap::new();
        sets.insert(EntityKind::Person, ProfileSet::new(persons.collect()));
        sets.insert(EntityKind::Account, account_set);
        sets.insert(EntityKind::Opportunity, ProfileSet::new(opportunities.collect()));
        sets.insert(EntityKind::OpportunityPerson, ProfileSet::new(relations.collect()));
        ProfileGraph::link(sets)
    }

    /// The entities related to entity `i` of `class` through navigation `nav` (oracle side).
    fn related(&self, class: EntityKind, nav: &str, i: usize) -> BTreeSet<usize> {
        use EntityKind as E;
        match (class, nav) {
            (E::Person, "accounts") => self.persons[i].accounts.iter().copied().collect(),
            (E::Person, "opportunities") => {
                self.relations.iter().filter(|r| r.person == i).map(|r| r.opportunity).collect()
            }
            (E::Account, "people") => {
                (0..self.persons.len()).filter(|&p| self.persons[p].accounts.contains(&i)).collect()
            }
            (E::Account, "opportunities") => {
                (0..self.opportunities.len()).filter(|&o| self.opportunities[o].account == Some(i)).collect()
            }
            (E::Account, "parentAccount") => {
                self.accounts[i].parent.filter(|_| self.accounts[i].stored).into_iter().collect()
            }
            (E::Opportunity, "account") => self.opportunities[i].account.into_iter().collect(),
            (E::Opportunity, "people") => {
                self.relations.iter().filter(|r| r.opportunity == i).map(|r| r.person).collect()
            }
            other => panic!("no navigation {other:?}"),
        }
    }

    fn len(&self, class: EntityKind) -> usize {
        match class {
            EntityKind::Person => self.persons.len(),
            EntityKind::Account => self.accounts.len(),
            EntityKind::Opportunity => self.opportunities.len(),
            other => panic!("no audience of {other}"),
        }
    }

    /// The members of an audience of `class` by the oracle: stored entities for which `q` holds.
    fn members(&self, q: &Q, class: EntityKind) -> BTreeSet<u32> {
        (0..self.len(class))
            .filter(|&i| class != EntityKind::Account || self.accounts[i].stored)
            .filter(|&i| q.holds(self, class, i))
            .map(|i| i as u32)
            .collect()
    }
}

/// A comparison operator, printed and applied by the oracle.
#[derive(Debug, Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }

    fn random(rng: &mut fastrand::Rng) -> Op {
        pick(rng, &[Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge])
    }
}

/// A random audience condition: what the oracle evaluates and what PQL is printed from.
#[derive(Debug, Clone)]
enum Q {
    DepartmentsInclude(&'static str),
    DepartmentCount(Op, usize),
    Title(Op, &'static str),
    TitleStartsWith(&'static str),
    TitleEndsWithLike(&'static str),
    TitleIn(Vec<&'static str>),
    Score(Op, f64),
    ScoreIsNull,
    /// `score + 10 op n`: arithmetic, evaluated row at a time by the columnar evaluator.
    ScorePlusTen(Op, f64),
    AccountName(Op, &'static str),
    AccountNameStartsWith(&'static str),
    Employees(Op, i64),
    AccountNameIsNotNull,
    Closed(bool),
    Amount(Op, f64),
    StageIn(Vec<&'static str>, bool),
    And(Box<Q>, Box<Q>),
    Or(Box<Q>, Box<Q>),
    Not(Box<Q>),
    Related {
        exists: bool,
        nav: &'static str,
        to: EntityKind,
        cond: Box<Q>,
    },
}

fn navigations(class: EntityKind) -> &'static [(&'static str, EntityKind)] {
    use EntityKind as E;
    match class {
        E::Person => &[("accounts", E::Account), ("opportunities", E::Opportunity)],
        E::Account => &[("people", E::Person), ("opportunities", E::Opportunity), ("parentAccount", E::Account)],
        E::Opportunity => &[("account", E::Account), ("people", E::Person)],
        _ => &[],
    }
}

impl Q {
    fn random(rng: &mut fastrand::Rng, class: EntityKind, depth: usize) -> Q {
        let roll = rng.u8(..10);
        if depth < 3 && roll < 3 {
            let (a, b) = (Self::random(rng, class, depth + 1), Self::random(rng, class, depth + 1));
            return if rng.bool() { Q::And(Box::new(a), Box::new(b)) } else { Q::Or(Box::new(a), Box::new(b)) };
        }
        if depth < 3 && roll == 3 {
            return Q::Not(Box::new(Self::random(rng, class, depth + 1)));
        }
        if depth < 3 && roll < 6 {
            let (nav, to) = pick(rng, navigations(class));
            return Q::Related { exists: rng.u8(..3) != 0, nav, to, cond: Box::new(Self::random(rng, to, depth + 1)) };
        }
        match class {
            EntityKind::Person => match rng.u8(..9) {
                0 => Q::DepartmentsInclude(pick(rng, DEPARTMENTS)),
                1 => Q::DepartmentCount(Op::random(rng), rng.usize(..3)),
                2 => Q::Title(Op::random(rng), pick(rng, TITLES)),
                3 => Q::TitleStartsWith(pick(rng, &["VP", "C", "Sales", "Eng"])),
                4 => Q::TitleEndsWithLike(pick(rng, &["ger", "O", "IT", "s"])),
                5 => Q::TitleIn((0..rng.usize(1..3)).map(|_| pick(rng, TITLES)).collect()),
                6 => Q::Score(Op::random(rng), f64::from(rng.u8(..10)) * 10.0),
                7 => Q::ScoreIsNull,
                _ => Q::ScorePlusTen(Op::random(rng), f64::from(rng.u8(..10)) * 10.0),
            },
            EntityKind::Account => match rng.u8(..4) {
                0 => Q::AccountName(Op::random(rng), pick(rng, NAMES)),
                1 => Q::AccountNameStartsWith(pick(rng, &["Acme", "G", "In"])),
                2 => Q::Employees(Op::random(rng), i64::from(rng.u16(..1000))),
                _ => Q::AccountNameIsNotNull,
            },
            _ => match rng.u8(..3) {
                0 => Q::Closed(rng.bool()),
                1 => Q::Amount(Op::random(rng), f64::from(rng.u16(..100)) * 1000.0),
                _ => Q::StageIn((0..rng.usize(1..3)).map(|_| pick(rng, STAGES)).collect(), rng.bool()),
            },
        }
    }

    /// The PQL text; `var` names the entity inside a relationship quantifier.
    fn pql(&self, var: Option<&str>, counter: &mut usize) -> String {
        let p = var.map(|v| format!("{v}.")).unwrap_or_default();
        let list = |items: &[&str]| items.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        match self {
            Q::DepartmentsInclude(d) => format!("{p}extendedWorkDetails.departments.includes(\"{d}\")"),
            Q::DepartmentCount(op, n) => format!("{p}extendedWorkDetails.departments.count() {} {n}", op.text()),
            Q::Title(op, t) => format!("{p}extendedWorkDetails.jobTitle {} \"{t}\"", op.text()),
            Q::TitleStartsWith(x) => format!("{p}extendedWorkDetails.jobTitle.startsWith(\"{x}\")"),
            Q::TitleEndsWithLike(x) => format!("{p}extendedWorkDetails.jobTitle like \"%{x}\""),
            Q::TitleIn(items) => format!("{p}extendedWorkDetails.jobTitle in [{}]", list(items)),
            Q::Score(op, x) => format!("{p}b2b.personScore {} {x}", op.text()),
            Q::ScoreIsNull => format!("{p}b2b.personScore.isNull()"),
            Q::ScorePlusTen(op, x) => format!("{p}b2b.personScore + 10 {} {x}", op.text()),
            Q::AccountName(op, n) => format!("{p}accountName {} \"{n}\"", op.text()),
            Q::AccountNameStartsWith(x) => format!("{p}accountName.startsWith(\"{x}\")"),
            Q::Employees(op, n) => format!("{p}accountOrganization.numberOfEmployees {} {n}", op.text()),
            Q::AccountNameIsNotNull => format!("{p}accountName.isNotNull()"),
            Q::Closed(b) => format!("{p}isClosed = {b}"),
            Q::Amount(op, x) => format!("{p}opportunityAmount.amount {} {x}", op.text()),
            Q::StageIn(items, negated) => {
                format!("{p}opportunityStage {} [{}]", if *negated { "notIn" } else { "in" }, list(items))
            }
            Q::And(a, b) => format!("({}) and ({})", a.pql(var, counter), b.pql(var, counter)),
            Q::Or(a, b) => format!("({}) or ({})", a.pql(var, counter), b.pql(var, counter)),
            Q::Not(a) => format!("not ({})", a.pql(var, counter)),
            Q::Related { exists, nav, cond, .. } => {
                *counter += 1;
                let v = format!("V{counter}");
                let q = if *exists { "exists" } else { "forall" };
                format!("({q} {v} from {p}{nav} where ({}))", cond.pql(Some(&v), counter))
            }
        }
    }

    /// The oracle: whether the condition holds for entity `i` of `class`.
    fn holds(&self, w: &World, class: EntityKind, i: usize) -> bool {
        let person = || &w.persons[i];
        let account = || &w.accounts[i];
        let opportunity = || &w.opportunities[i];
        match self {
            Q::DepartmentsInclude(d) => person().departments.as_ref().is_some_and(|ds| ds.contains(d)),
            Q::DepartmentCount(op, n) => op.apply(person().departments.as_ref().map_or(0, Vec::len), *n),
            Q::Title(op, t) => person().title.is_some_and(|x| op.apply(x, *t)),
            Q::TitleStartsWith(x) => person().title.is_some_and(|t| t.starts_with(x)),
            Q::TitleEndsWithLike(x) => person().title.is_some_and(|t| t.ends_with(x)),
            Q::TitleIn(items) => person().title.is_some_and(|t| items.contains(&t)),
            Q::Score(op, x) => person().score.is_some_and(|s| op.apply(s, *x)),
            Q::ScoreIsNull => person().score.is_none(),
            Q::ScorePlusTen(op, x) => person().score.is_some_and(|s| op.apply(s + 10.0, *x)),
            Q::AccountName(op, n) => account().name.is_some_and(|x| op.apply(x, *n)),
            Q::AccountNameStartsWith(x) => account().name.is_some_and(|n| n.starts_with(x)),
            Q::Employees(op, n) => account().employees.is_some_and(|e| op.apply(e, *n)),
            Q::AccountNameIsNotNull => account().name.is_some(),
            Q::Closed(b) => opportunity().closed == Some(*b),
            Q::Amount(op, x) => opportunity().amount.is_some_and(|a| op.apply(a, *x)),
            Q::StageIn(items, negated) => opportunity().stage.is_some_and(|s| items.contains(&s) != *negated),
            Q::And(a, b) => a.holds(w, class, i) && b.holds(w, class, i),
            Q::Or(a, b) => a.holds(w, class, i) || b.holds(w, class, i),
            Q::Not(a) => !a.holds(w, class, i),
            Q::Related { exists, nav, to, cond } => {
                let related = w.related(class, nav, i);
                if *exists {
                    related.iter().any(|&t| cond.holds(w, *to, t))
                } else {
                    related.iter().all(|&t| cond.holds(w, *to, t))
                }
            }
        }
    }
}

/// One random change to the world; returns the profiles it changed (as the change feed would list them).
fn change(rng: &mut fastrand::Rng, w: &mut World) -> Vec<Change> {
    use EntityKind as E;
    let total = w.accounts.len();
    let stored = w.accounts.iter().filter(|a| a.stored).count();
    let c = |entity, id: usize| Change { entity, id: id as u32 };
    match rng.u8(..9) {
        0 => {
            let i = rng.usize(..w.persons.len());
            let fresh = World::random_person(rng, total);
            let p = &mut w.persons[i];
            (p.departments, p.title, p.score) = (fresh.departments, fresh.title, fresh.score);
            vec![c(E::Person, i)]
        }
        1 => {
            let i = rng.usize(..w.persons.len());
            w.persons[i].accounts = World::random_person(rng, total).accounts;
            vec![c(E::Person, i)]
        }
        2 => {
            let i = rng.usize(..stored);
            w.accounts[i] = World::random_account(rng, total);
            vec![c(E::Account, i)]
        }
        3 => {
            let i = rng.usize(..w.opportunities.len());
            let fresh = World::random_opportunity(rng, total);
            let o = &mut w.opportunities[i];
            (o.closed, o.amount, o.stage) = (fresh.closed, fresh.amount, fresh.stage);
            vec![c(E::Opportunity, i)]
        }
        4 => {
            let i = rng.usize(..w.opportunities.len());
            w.opportunities[i].account = World::random_opportunity(rng, total).account;
            vec![c(E::Opportunity, i)]
        }
        5 if !w.relations.is_empty() => {
            let i = rng.usize(..w.relations.len());
            w.relations[i] =
                Relation { person: rng.usize(..w.persons.len()), opportunity: rng.usize(..w.opportunities.len()) };
            vec![c(E::OpportunityPerson, i)]
        }
        6 => {
            w.persons.push(World::random_person(rng, total));
            vec![c(E::Person, w.persons.len() - 1)]
        }
        7 => {
            w.opportunities.push(World::random_opportunity(rng, total));
            vec![c(E::Opportunity, w.opportunities.len() - 1)]
        }
        _ => {
            w.relations.push(Relation {
                person: rng.usize(..w.persons.len()),
                opportunity: rng.usize(..w.opportunities.len()),
            });
            vec![c(E::OpportunityPerson, w.relations.len() - 1)]
        }
    }
}

fn check_all_agree(
    world: &World,
    graph: &ProfileGraph,
    q: &Q,
    plan: &rapport_segment::Plan,
    text: &str,
) -> BTreeSet<u32> {
    let expected = world.members(q, plan.entity);
    let batch: BTreeSet<u32> = evaluate(plan, graph).iter().collect();
    assert_eq!(batch, expected, "batch evaluation disagrees with the oracle for {text}");
    let single: BTreeSet<u32> = (0..world.len(plan.entity) as u32).filter(|&i| evaluate_one(plan, graph, i)).collect();
    assert_eq!(single, expected, "single-profile evaluation disagrees with the oracle for {text}");
    expected
}

#[test]
fn batch_incremental_and_single_profile_agree_with_the_oracle_change_after_change() {
    let schemas = generate_b2b();
    let mut plans = 0;
    for seed in 0..120u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut world = World::random(&mut rng);
        let class = pick(&mut rng, &[EntityKind::Person, EntityKind::Person, EntityKind::Account]);
        let q = Q::random(&mut rng, class, 0);
        let text = q.pql(None, &mut 0);
        let plan = compile(&text, class, &schemas).unwrap_or_else(|e| panic!("{text}\n{}", e.render()));
        plans += 1;
        let graph = world.graph();
        let mut before = check_all_agree(&world, &graph, &q, &plan, &text);
        let mut state = Incremental::new(plan.clone(), &graph);
        assert_eq!(state.members().iter().collect::<BTreeSet<_>>(), before, "initial state for {text}");
        for step in 0..40 {
            let changes = change(&mut rng, &mut world);
            let graph = world.graph();
            let delta = state.apply(&graph, &changes);
            let after = check_all_agree(&world, &graph, &q, &plan, &text);
            let context = format!("{text}\nseed {seed}, step {step}, changes {changes:?}");
            assert_eq!(state.members().iter().collect::<BTreeSet<_>>(), after, "incremental state: {context}");
            assert_eq!(delta.entered, after.difference(&before).copied().collect::<Vec<_>>(), "entered: {context}");
            assert_eq!(delta.exited, before.difference(&after).copied().collect::<Vec<_>>(), "exited: {context}");
            before = after;
        }
    }
    assert_eq!(plans, 120);
}

#[test]
fn an_opportunity_change_reaches_only_the_people_of_its_account() {
    use EntityKind as E;
    // Two accounts with three people each; one open opportunity on a0, none on a1.
    let mut world = World {
        persons: (0..6)
            .map(|i| Person { departments: Some(vec!["Sales"]), title: None, score: None, accounts: vec![i / 3] })
            .collect(),
        accounts: (0..2).map(|_| Account { stored: true, name: None, employees: None, parent: None }).collect(),
        opportunities: vec![Opportunity { account: Some(0), closed: Some(false), amount: None, stage: None }],
        relations: Vec::new(),
    };
    let text = "extendedWorkDetails.departments.includes(\"Sales\") and exists A from accounts where (exists O from A.opportunities where O.isClosed = false)";
    let plan = compile(text, E::Person, &generate_b2b()).unwrap();
    let mut state = Incremental::new(plan, &world.graph());
    assert_eq!(state.members().iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    world.opportunities[0].closed = Some(true);
    let delta = state.apply(&world.graph(), &[Change { entity: E::Opportunity, id: 0 }]);
    assert_eq!((delta.entered, delta.exited), (vec![], vec![0, 1, 2]));
    assert_eq!(delta.evaluated, 3, "only the people of a0 are re-evaluated");
    // The opportunity moves to a1 and reopens: a1 gains an open opportunity, its people come in; a0 had none
    // open before the move and has none after, so its people are not even re-evaluated.
    world.opportunities[0] = Opportunity { account: Some(1), closed: Some(false), amount: None, stage: None };
    let delta = state.apply(&world.graph(), &[Change { entity: E::Opportunity, id: 0 }]);
    assert_eq!((delta.entered, delta.exited), (vec![3, 4, 5], vec![]));
    assert_eq!(delta.evaluated, 3, "only the people of the account whose condition flipped");
    // Back to a0, still open: a0 regains an open opportunity and a1 loses its only one.
    world.opportunities[0].account = Some(0);
    let delta = state.apply(&world.graph(), &[Change { entity: E::Opportunity, id: 0 }]);
    assert_eq!((delta.entered, delta.exited), (vec![0, 1, 2], vec![3, 4, 5]));
    assert_eq!(delta.evaluated, 6);
    // A second open opportunity on a0: a0's condition does not flip, nobody is re-evaluated.
    world.opportunities.push(Opportunity { account: Some(0), closed: Some(false), amount: None, stage: None });
    let delta = state.apply(&world.graph(), &[Change { entity: E::Opportunity, id: 1 }]);
    assert_eq!((delta.entered, delta.exited, delta.evaluated), (vec![], vec![], 0));
}

/// The sparse path of incremental evaluation (sorted candidate lists merged, intersected and subtracted) under
/// batches: several random changes applied in one call, the same profile sometimes listed twice, new profiles
/// next to changed ones, on worlds four times larger. After every batch the members must equal the oracle's, a
/// fresh batch evaluation of the graph, and a batch evaluation over the incremental state's own columns; the
/// delta must be the difference of the oracle's member sets.
#[test]
fn batches_of_changes_applied_at_once_agree_with_the_oracle_and_a_fresh_batch_evaluation() {
    let schemas = generate_b2b();
    let (mut moved, mut plans) = (0usize, 0);
    for seed in 1000..1060u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut world = World::random_scaled(&mut rng, 4);
        let class = pick(&mut rng, &[EntityKind::Person, EntityKind::Account, EntityKind::Person]);
        let q = Q::random(&mut rng, class, 0);
        let text = q.pql(None, &mut 0);
        let plan = compile(&text, class, &schemas).unwrap_or_else(|e| panic!("{text}\n{}", e.render()));
        plans += 1;
        let mut before = world.members(&q, class);
        let mut state = Incremental::new(plan.clone(), &world.graph());
        assert_eq!(state.members().iter().collect::<BTreeSet<_>>(), before, "initial state for {text}");
        for step in 0..25 {
            let mut changes = Vec::new();
            for _ in 0..rng.usize(1..8) {
                changes.extend(change(&mut rng, &mut world));
            }
            if rng.bool() {
                // The same profile listed twice in one batch.
                changes.push(changes[0]);
            }
            let graph = world.graph();
            let delta = state.apply(&graph, &changes);
            let after = world.members(&q, class);
            let context = format!("{text}\nseed {seed}, step {step}, changes {changes:?}");
            let current: BTreeSet<u32> = state.members().iter().collect();
            assert_eq!(current, after, "incremental state against the oracle: {context}");
            let fresh: BTreeSet<u32> = evaluate(&plan, &graph).iter().collect();
            assert_eq!(fresh, after, "fresh batch evaluation against the oracle: {context}");
            let own: BTreeSet<u32> = evaluate_columns(&plan, state.columns()).unwrap().iter().collect();
            assert_eq!(own, after, "batch evaluation over the incremental columns: {context}");
            assert_eq!(delta.entered, after.difference(&before).copied().collect::<Vec<_>>(), "entered: {context}");
            assert_eq!(delta.exited, before.difference(&after).copied().collect::<Vec<_>>(), "exited: {context}");
            moved += delta.entered.len() + delta.exited.len();
            before = after;
        }
    }
    assert_eq!(plans, 60);
    assert!(moved > 100, "the batches moved memberships ({moved} entries and exits)");
}
