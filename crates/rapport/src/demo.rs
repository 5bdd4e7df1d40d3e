//! `rapport demo`: the Bodea journey on the embedded store, timed step by step.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use rapport_engine::stream::{schema_id, StreamMessage};
use rapport_engine::{Engine, IngestReport, MessageOutcome, Observer, UnifyReport};
use rapport_model::{EntityKind, Identity, SourceSystem};
use rapport_sample::{GenerateOptions, DYNAMICS_ORG_ID, MARKETO_MUNCHKIN_ID, SALESFORCE_ORG_ID};
use serde::Serialize;

use crate::cli::DemoArgs;

/// The Bodea audience: people in the sales department related to an account with at least one open opportunity.
pub const BODEA_AUDIENCE: &str = "bodea-sales-open-opportunities";
/// Its PQL definition.
pub const BODEA_PQL: &str = "extendedWorkDetails.departments.includes(\"Sales\") and exists A from accounts where (exists O from A.opportunities where O.isClosed = false)";

#[derive(Serialize)]
struct Step {
    step: String,
    seconds: f64,
}

#[derive(Serialize)]
struct Summary {
    data_dir: PathBuf,
    exports: PathBuf,
    persons: u64,
    seed: u64,
    sources: Vec<IngestReport>,
    profiles: UnifyReport,
    audience: AudienceSummary,
    file: PathBuf,
    live: Option<LiveSummary>,
    steps: Vec<Step>,
    /// The web console: where it is served, with a token to sign in (absent with `--no-serve`).
    #[serde(skip_serializing_if = "Option::is_none")]
    console: Option<ConsoleSummary>,
}

/// The console step: its address, a marketer token for it and the command that serves it.
#[derive(Serialize)]
struct ConsoleSummary {
    url: String,
    token: String,
    /// Whether this run serves it now (a terminal, or `--serve`).
    serving: bool,
    /// The command that serves it.
    command: String,
}

/// The name prefix of the tokens the demo creates for the console.
pub const DEMO_TOKEN: &str = "demo-console";

/// The live step: one account's open opportunities close (streamed), then reopen.
#[derive(Serialize)]
struct LiveSummary {
    /// The account, by primary identity.
    account: String,
    /// Its open opportunities, closed then reopened.
    opportunities: usize,
    /// People who left the audience when they closed.
    left: u64,
    /// People who came back when they reopened.
    returned: u64,
    /// The count expected by an independent check (the account's members with no other account that has an
    /// open opportunity, found by profile lookups).
    expected: u64,
    /// From handing the streamed records to the engine until the batch and the membership changes were
    /// committed, closing.
    close_seconds: f64,
    /// The same, reopening.
    reopen_seconds: f64,
}

#[derive(Serialize)]
struct AudienceSummary {
    name: String,
    pql: String,
    size: u64,
    profiles_evaluated: u64,
}

struct Clock {
    steps: Vec<Step>,
}

impl Clock {
    fn time<T>(&mut self, step: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let out = run()?;
        self.steps.push(Step { step: step.to_owned(), seconds: start.elapsed().as_secs_f64() });
        Ok(out)
    }
}

/// Runs the journey and prints the summary.
pub fn run(data_dir: &Path, args: &DemoArgs, observer: &dyn Observer) -> Result<()> {
    let mut clock = Clock { steps: Vec::new() };
    let exports = data_dir.join("bodea-exports");
    clock.time("generate sample data", || {
        rapport_sample::generate_bodea(&exports, &GenerateOptions { persons: args.persons, seed: args.seed })
            .with_context(|| format!("generating sample data in {}", exports.display()))
    })?;
    let mut engine = clock.time("open store", || {
        Engine::open(data_dir).with_context(|| format!("opening data directory {}", data_dir.display()))
    })?;
    clock.time("generate B2B schemas", || Ok(engine.generate_b2b_schemas()?))?;
    let mut sources = Vec::new();
    for (system, instance) in [
        (SourceSystem::Salesforce, SALESFORCE_ORG_ID),
        (SourceSystem::Dynamics, DYNAMICS_ORG_ID),
        (SourceSystem::Marketo, MARKETO_MUNCHKIN_ID),
    ] {
        let folder = exports.join(system.name());
        let report = clock.time(&format!("ingest {system}"), || {
            Ok(engine.ingest(system, std::slice::from_ref(&folder), instance, observer)?)
        })?;
        sources.push(report);
    }
    // Each batch stitched and merged its profiles as it committed; this only counts them.
    let profiles = clock.time("count profiles", || Ok(engine.profile_summary()?))?;
    // Creating the audience evaluates it once; from then on its memberships follow every commit.
    let evaluation = clock.time("evaluate audience", || {
        match engine.store().audience(BODEA_AUDIENCE) {
            Ok(existing) if existing.pql == BODEA_PQL => {}
            Ok(existing) => anyhow::bail!(
                "audience `{BODEA_AUDIENCE}` exists with another definition ({}); use a fresh --data-dir",
                existing.pql
            ),
            Err(_) => {
                engine.create_audience(BODEA_AUDIENCE, BODEA_PQL)?;
            }
        }
        let size = engine.store().members(BODEA_AUDIENCE)?.len() as u64;
        let profiles =
            engine.store().profile_counts()?.into_iter().find(|c| c.0 == EntityKind::Person).map_or(0, |c| c.1);
        Ok((size, profiles))
    })?;
    let live = clock.time("live: close and reopen one account's open opportunities", || live_step(&mut engine))?;
    let activation = clock.time("export members to CSV", || {
        Ok(engine.activate_to_files(BODEA_AUDIENCE, &data_dir.join("exports"), &Default::default())?)
    })?;
    let file = activation.files.first().map(|f| f.path.clone()).unwrap_or_default();
    let console = if args.no_serve {
        None
    } else {
        let token = console_token(&mut engine)?;
        Some(ConsoleSummary {
            url: format!("http://{}/", args.bind),
            token,
            serving: args.serve || std::io::stdout().is_terminal(),
            command: format!("rapport --data-dir {} serve --bind {}", data_dir.display(), args.bind),
        })
    };
    let summary = Summary {
        data_dir: data_dir.to_owned(),
        exports,
        persons: args.persons,
        seed: args.seed,
        sources,
        profiles,
        audience: AudienceSummary {
            name: BODEA_AUDIENCE.to_owned(),
            pql: BODEA_PQL.to_owned(),
            size: evaluation.0,
            profiles_evaluated: evaluation.1,
        },
        file,
        live,
        steps: clock.steps,
        console,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    if let Some(console) = summary.console.filter(|c| c.serving) {
        // The store is handed to the server: this process's engine closes first.
        drop(engine);
        let args = crate::serve::ServeArgs::defaults(args.bind);
        println!();
        println!("serving the console on {} (Ctrl-C stops)", console.url);
        crate::serve::serve(data_dir, &args)?;
    }
    Ok(())
}

/// A new marketer token for the console; the ones earlier demo runs created are revoked (a token is shown only
/// once, and names stay taken after revocation, so each run's token has its own name).
fn console_token(engine: &mut Engine) -> Result<String> {
    let earlier: Vec<String> = engine
        .tokens()?
        .into_iter()
        .filter(|t| t.name.starts_with(DEMO_TOKEN) && t.revoked_at.is_none())
        .map(|t| t.name)
        .collect();
    for name in earlier {
        engine.revoke_token(&name)?;
    }
    let name = format!("{DEMO_TOKEN}-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S-%3f"));
    Ok(engine.create_token(&name, rapport_engine::Role::Marketer)?.token)
}

fn print_summary(s: &Summary) {
    println!("Rapport demo: the Bodea journey ({} people, seed {})", s.persons, s.seed);
    println!("data directory: {}", s.data_dir.display());
    println!("sample exports: {}", s.exports.display());
    println!();
    println!("{:<12} {:>10} {:>10} {:>10}", "source", "read", "ingested", "rejected");
    for source in &s.sources {
        println!(
            "{:<12} {:>10} {:>10} {:>10}",
            source.system.name(),
            source.rows_read(),
            source.rows_ingested(),
            source.rows_rejected()
        );
    }
    let examples: Vec<_> =
        s.sources.iter().flat_map(|r| r.files.iter()).flat_map(|f| f.rejected.iter()).take(3).collect();
    if !examples.is_empty() {
        println!("rejected rows, e.g.:");
        for row in examples {
            println!("  {row}");
        }
    }
    println!();
    println!("{:<22} {:>10} {:>10} {:>11} {:>10}", "entity", "fragments", "profiles", "identities", "stitched");
    for e in &s.profiles.entities {
        println!(
            "{:<22} {:>10} {:>10} {:>11} {:>10}",
            e.entity.name(),
            e.fragments,
            e.profiles,
            e.identities,
            e.stitched
        );
    }
    if let Some(person) = s.profiles.entity(rapport_model::EntityKind::Person) {
        println!(
            "person identity graphs: {} identities in {} graphs; {} graphs joined records from several sources",
            person.identities, person.profiles, person.stitched
        );
    }
    println!();
    println!("audience `{}`", s.audience.name);
    println!("  pql: {}", s.audience.pql);
    println!("  exact size: {} of {} people", s.audience.size, s.audience.profiles_evaluated);
    println!("  exported to: {}", s.file.display());
    if let Some(live) = &s.live {
        println!(
            "  live: {} open opportunities of {} closed (streamed): {} people left the audience in {:.1} ms \
             (expected {}); reopened: {} came back in {:.1} ms",
            live.opportunities,
            live.account,
            live.left,
            live.close_seconds * 1e3,
            live.expected,
            live.returned,
            live.reopen_seconds * 1e3
        );
    }
    println!();
    println!("{:<40} {:>10}", "step", "time");
    for step in &s.steps {
        println!("{:<40} {:>8.3} s", step.step, step.seconds);
    }
    if let Some(console) = &s.console {
        println!();
        println!("console: {}  token: {}", console.url, console.token);
        if !console.serving {
            println!("not serving (standard output is not a terminal); to serve it: {}", console.command);
        }
    }
}

fn identity_of(member: &str) -> Option<Identity> {
    member.split_once(':').map(|(ns, value)| Identity::new(ns, value))
}

/// The accounts related to a person (on its record or through account-contact relations), by primary identity.
fn accounts_of(engine: &Engine, person: &Identity) -> Result<Vec<Identity>> {
    let Some(view) = engine.lookup(EntityKind::Person, person, None)? else { return Ok(Vec::new()) };
    let mut accounts: Vec<Identity> =
        view.related.into_iter().filter(|r| r.entity == EntityKind::Account).map(|r| r.primary).collect();
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}

/// The open opportunities of an account (by primary identity) with their key objects.
fn open_opportunities(engine: &Engine, account: &Identity) -> Result<Vec<serde_json::Value>> {
    let Some(view) = engine.lookup(EntityKind::Account, account, None)? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for related in view.related.iter().filter(|r| r.relation == "opportunity" && r.is_closed == Some(false)) {
        if let Some(opportunity) = engine.lookup(EntityKind::Opportunity, &related.primary, None)? {
            if let Some(key) = opportunity.record.get("opportunityKey") {
                out.push(key.clone());
            }
        }
    }
    Ok(out)
}

/// Streams `isClosed` for the opportunities `keys` and returns how long until the batch and the membership
/// changes were committed, and the history entries written (exits, entries).
fn stream_is_closed(
    engine: &mut Engine,
    (inlet, dataset, schema): (&str, &str, &str),
    keys: &[serde_json::Value],
    closed: bool,
) -> Result<(f64, u64, u64)> {
    let mark = engine.membership_changes_since(BODEA_AUDIENCE, 0, usize::MAX)?.last().map_or(0, |e| e.id);
    let now = chrono::Utc::now().timestamp_millis();
    let messages: Vec<StreamMessage> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let record = serde_json::json!({"opportunityKey": key, "isClosed": closed});
            StreamMessage {
                inlet: inlet.to_owned(),
                id: format!("demo-{now}-{i}"),
                dataset: dataset.to_owned(),
                schema_ref: schema.to_owned(),
                record: record.as_object().expect("an object").clone(),
                received_at_ms: now,
                created_at_ms: Some(now),
                record_faults: Vec::new(),
            }
        })
        .collect();
    let start = Instant::now();
    let outcomes = engine.ingest_messages(messages)?;
    let seconds = start.elapsed().as_secs_f64();
    if let Some(bad) = outcomes.iter().find(|o| !matches!(o, MessageOutcome::Accepted { .. })) {
        anyhow::bail!("a streamed opportunity update was refused: {bad:?}");
    }
    let changes = engine.membership_changes_since(BODEA_AUDIENCE, mark, usize::MAX)?;
    let exited = changes.iter().filter(|c| c.event == "exited").count() as u64;
    Ok((seconds, exited, changes.len() as u64 - exited))
}

/// Closes the open opportunities of one member's account by streaming them, checks how many people left against
/// an independent count, then reopens them (so the audience ends as it started).
fn live_step(engine: &mut Engine) -> Result<Option<LiveSummary>> {
    let members: Vec<String> = engine.store().members(BODEA_AUDIENCE)?.into_iter().map(|(m, _)| m).collect();
    let member_set: std::collections::BTreeSet<&str> = members.iter().map(String::as_str).collect();
    let mut target = None;
    for member in &members {
        let Some(person) = identity_of(member) else { continue };
        for account in accounts_of(engine, &person)? {
            let keys = open_opportunities(engine, &account)?;
            if !keys.is_empty() {
                target = Some((account, keys));
                break;
            }
        }
        if target.is_some() {
            break;
        }
    }
    let Some((account, keys)) = target else { return Ok(None) };
    // Independently of the audience engine: the account's people in the audience whose other accounts have no
    // open opportunity leave.
    let view = engine.lookup(EntityKind::Account, &account, None)?.context("the account has a profile")?;
    let mut people: Vec<Identity> =
        view.related.into_iter().filter(|r| r.entity == EntityKind::Person).map(|r| r.primary).collect();
    people.sort();
    people.dedup();
    let mut expected = 0;
    for person in &people {
        if !member_set.contains(person.to_string().as_str()) {
            continue;
        }
        let mut elsewhere = false;
        for other in accounts_of(engine, person)?.into_iter().filter(|a| *a != account) {
            if !open_opportunities(engine, &other)?.is_empty() {
                elsewhere = true;
                break;
            }
        }
        expected += u64::from(!elsewhere);
    }

    let inlet = match engine.store().inlets()?.into_iter().find(|i| i.name == "demo-live") {
        Some(inlet) => inlet.id,
        None => engine.create_inlet("demo-live")?.id,
    };
    let schema = engine.schemas().for_entity(EntityKind::Opportunity).context("the B2B schemas exist")?.name.clone();
    let dataset = "demo.opportunity.updates";
    if !engine.store().datasets()?.iter().any(|d| d.name == dataset) {
        engine.create_dataset(dataset, &schema)?;
    }
    let target = (inlet.as_str(), dataset, schema_id(&schema));
    let target = (target.0, target.1, target.2.as_str());
    let (close_seconds, left, entered) = stream_is_closed(engine, target, &keys, true)?;
    anyhow::ensure!(
        left == expected && entered == 0,
        "closing the open opportunities of {account}: {left} people left the audience and {entered} entered, \
         {expected} expected to leave"
    );
    let (reopen_seconds, exited, returned) = stream_is_closed(engine, target, &keys, false)?;
    anyhow::ensure!(
        returned == left && exited == 0,
        "reopening the opportunities of {account}: {returned} people came back and {exited} left, {left} expected back"
    );
    // Leave the store as the exports made it (a second demo run changes nothing): the streamed updates are
    // deleted, newest batch first, and the opportunities fall back to their CRM fragments (open, as before).
    let mut streamed: Vec<i64> = engine
        .store()
        .batches()?
        .into_iter()
        .filter(|b| b.dataset == dataset && b.state == "success")
        .map(|b| b.id)
        .collect();
    streamed.sort_unstable_by(|a, b| b.cmp(a));
    for id in streamed {
        engine.delete_batch(id)?;
    }
    Ok(Some(LiveSummary {
        account: account.to_string(),
        opportunities: keys.len(),
        left,
        returned,
        expected,
        close_seconds,
        reopen_seconds,
    }))
}
