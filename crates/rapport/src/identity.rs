//! `rapport identity …`: explain a graph, show or change the linking rules, delete an identity.

use anyhow::{bail, Result};
use clap::Subcommand;
use rapport_engine::{GraphExplanation, LinkExplanation};
use rapport_model::EntityKind;

use crate::cli::Cli;

/// `rapport identity …`.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Shows the identity graph holding an identity: its identities, each link with the records (fragment,
    /// dataset, batch, time) and rule that made it, and the links cut by a unique namespace, removed by an
    /// eviction or over the per-record limit.
    Explain {
        /// The namespace code, e.g. Email or b2b_person.
        namespace: String,
        /// The identity value (normalized by the namespace's rule).
        value: String,
        /// The entity class.
        #[arg(long, default_value = "person")]
        entity: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists every namespace's linking rule (unique, priority) and eviction order.
    Rules {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Changes a namespace's linking rule, then rebuilds every profile under the new rules.
    Rule {
        /// The namespace code.
        namespace: String,
        /// At most one value of the namespace per graph.
        #[arg(long)]
        unique: Option<bool>,
        /// Namespace priority (lower ranks higher).
        #[arg(long)]
        priority: Option<u32>,
    },
    /// Removes an identity from every fragment of a class that carries it (a fragment whose primary identity
    /// it is is deleted whole) and re-stitches the profiles that held it: a graph that no longer holds together
    /// splits. Records keep their field values; a later batch carrying the identity links it again.
    Delete {
        /// The namespace code, e.g. Email or b2b_person.
        namespace: String,
        /// The identity value (normalized by the namespace's rule).
        value: String,
        /// The entity class.
        #[arg(long, default_value = "person")]
        entity: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an identity command.
pub fn run(cli: &Cli, command: &IdentityCommand) -> Result<()> {
    match command {
        IdentityCommand::Explain { namespace, value, entity, json } => {
            let engine = crate::open(cli)?;
            let entity: EntityKind = entity.parse()?;
            let identity = crate::identity_arg(&engine, namespace, value)?;
            let explanation = engine.explain_identity(entity, &identity)?;
            if *json {
                return crate::print_json(&explanation);
            }
            print_explanation(&explanation);
            Ok(())
        }
        IdentityCommand::Rules { json } => {
            let engine = crate::open(cli)?;
            let rules = engine.linking_rules()?;
            if *json {
                let rows: Vec<serde_json::Value> = rules
                    .iter()
                    .map(|(ns, rule)| {
                        serde_json::json!({
                            "namespace": ns.code,
                            "id_type": ns.id_type,
                            "unique": rule.unique,
                            "priority": rule.priority,
                            "eviction_class": rapport_identity::EvictionClass::of(ns.id_type),
                        })
                    })
                    .collect();
                return crate::print_json(&rows);
            }
            println!("{:<34} {:<24} {:<7} {:>8}  eviction", "namespace", "type", "unique", "priority");
            for (ns, rule) in &rules {
                let class = rapport_identity::EvictionClass::of(ns.id_type);
                println!(
                    "{:<34} {:<24} {:<7} {:>8}  {class:?}",
                    ns.code.as_str(),
                    format!("{:?}", ns.id_type),
                    if rule.unique { "yes" } else { "no" },
                    rule.priority
                );
            }
            Ok(())
        }
        IdentityCommand::Rule { namespace, unique, priority } => {
            let mut engine = crate::open(cli)?;
            let Some((_, current)) = engine.linking_rules()?.into_iter().find(|(ns, _)| ns.code.as_str() == namespace)
            else {
                bail!("unknown namespace `{namespace}` (run `rapport namespace list`)");
            };
            let rule = rapport_identity::NamespaceRule {
                unique: unique.unwrap_or(current.unique),
                priority: priority.unwrap_or(current.priority),
            };
            engine.set_linking_rule(namespace, rule)?;
            println!(
                "namespace `{namespace}`: unique {}, priority {}; profiles rebuilt",
                if rule.unique { "yes" } else { "no" },
                rule.priority
            );
            Ok(())
        }
        IdentityCommand::Delete { namespace, value, entity, json } => {
            crate::unmerge::identity_delete(cli, namespace, value, entity, *json)
        }
    }
}

fn print_link(link: &LinkExplanation) {
    let detail = match (&link.kept, &link.refused, &link.evicted) {
        (Some(kept), Some(refused), _) => format!(" (graph kept {kept}, refused {refused})"),
        (_, _, Some(evicted)) => format!(" (evicted {evicted})"),
        _ => String::new(),
    };
    println!("  {} — {}  [{}]{detail}", link.from, link.to, link.rule.name());
    for r in &link.records {
        let at = if r.updated_at.is_empty() { "no time" } else { r.updated_at.as_str() };
        println!("      fragment {} of {} (batch {}, {at})", r.fragment, r.dataset, r.batch_id);
    }
}

fn print_explanation(e: &GraphExplanation) {
    match e.profile_id {
        Some(id) => {
            println!("{} is in the graph of {} profile {id} ({} identities):", e.identity, e.entity, e.identities.len())
        }
        None => println!("{} is in no {} graph", e.identity, e.entity),
    }
    for identity in &e.identities {
        println!("  {identity}");
    }
    if !e.links.is_empty() {
        println!("links:");
        e.links.iter().for_each(print_link);
    }
    if !e.refused.is_empty() {
        println!("cut, evicted or not linked:");
        e.refused.iter().for_each(print_link);
    }
}
