//! The operator and the workloads agree (the contract in `workloads/contract`): walking clap's
//! `get_env()` of every subcommand, every variable a workload reads is in the contract, every
//! variable the operator writes is read by that workload's command line, every variable the
//! contract calls required is written, and the workload's parser accepts every value the
//! operator renders.

use std::collections::{BTreeMap, BTreeSet};

use clap::{ArgAction, Command, CommandFactory, Parser};
use quakestream::Cli;
use quakestream_contract as contract;
use quakestream_operator::component::Component;
use quakestream_operator::crd::QuakeStream;
use quakestream_operator::resolve::resolve;
use serde_json::json;

fn subcommand(name: &str) -> Command {
    Cli::command()
        .find_subcommand(name)
        .unwrap_or_else(|| panic!("no subcommand {name}"))
        .clone()
}

/// The variables a command's flags read (not its subcommands').
fn env_of(cmd: &Command) -> BTreeSet<String> {
    cmd.get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

/// Every command, its subcommands too.
fn all_commands(cmd: &Command, out: &mut Vec<Command>) {
    out.push(cmd.clone());
    for s in cmd.get_subcommands() {
        all_commands(s, out);
    }
}

/// QuakeStreams that make the operator write every variable it can: the minimal one, and one
/// with every optional setting on.
fn pipelines() -> Vec<QuakeStream> {
    let minimal = json!({
        "apiVersion": "quakestream.io/v1alpha1", "kind": "QuakeStream",
        "metadata": {"name": "quakestream", "namespace": "quakes", "uid": "u-1", "generation": 1},
        "spec": {"kafka": {"clusterName": "events"}, "storage": {"region": "eu-west-1"}}
    });
    let full = json!({
        "apiVersion": "quakestream.io/v1alpha1", "kind": "QuakeStream",
        "metadata": {"name": "demo", "namespace": "quakes", "uid": "u-2", "generation": 1},
        "spec": {
            "source": {"backfillLimit": 20000, "backfillMaxAge": "90m"},
            "kafka": {"clusterName": "events", "bootstrapServers": "kafka:9093", "topic": {"name": "q"}},
            "storage": {"region": "us-east-1", "table": "t-1", "endpoint": "http://dynoxide:8000", "retention": "365d"},
            "producer": {"logLevel": "debug"},
            "consumer": {"groupId": "g", "logLevel": "info,quakestream=debug"},
            "frontend": {"window": "1d12h", "rateLimit": 0, "ingress": {"className": "alb", "host": "quakes.example.org"}},
            "analytics": {"replicas": 3, "grace": "6h", "retention": "90d", "commitInterval": "250ms", "appId": "a-1", "statsTopic": "s-1", "logLevel": "debug"}
        }
    });
    [minimal, full]
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

/// The environment the operator renders for each component.
fn rendered(qs: &QuakeStream) -> BTreeMap<Component, BTreeMap<String, String>> {
    let r = resolve(qs).unwrap_or_else(|e| panic!("fixture is valid: {e}"));
    r.workloads.iter().map(|w| (w.component, w.env.clone())).collect()
}

#[test]
fn every_variable_a_workload_reads_is_in_the_contract() {
    let mut commands = Vec::new();
    all_commands(&Cli::command(), &mut commands);
    let known: BTreeSet<&str> = contract::env::ALL.iter().copied().collect();
    for cmd in &commands {
        for var in env_of(cmd) {
            assert!(
                known.contains(var.as_str()),
                "`quakestream {}` reads {var}, which workloads/contract/src/env.rs does not name (add it there and to env::ALL)",
                cmd.get_name()
            );
        }
    }
}

#[test]
fn the_contract_lists_exactly_what_each_workload_reads() {
    for c in Component::ALL {
        let read = env_of(&subcommand(c.as_str()));
        let listed: BTreeSet<String> = c.env_names().iter().map(|s| s.to_string()).collect();
        assert_eq!(
            read,
            listed,
            "`quakestream {}` vs contract::{}::ENV",
            c.as_str(),
            c.as_str()
        );
    }
}

#[test]
fn the_operator_writes_only_what_the_workload_reads_and_all_it_requires() {
    for qs in pipelines() {
        for (c, env) in rendered(&qs) {
            let read = env_of(&subcommand(c.as_str()));
            for k in env.keys() {
                assert!(
                    read.contains(k),
                    "the operator writes {k} for {c:?}, which `quakestream {}` never reads",
                    c.as_str()
                );
            }
            for k in c.required_env() {
                assert!(
                    env.contains_key(*k),
                    "{k} is required for {c:?} but the operator did not write it"
                );
            }
        }
    }
}

/// Feeding the operator's ConfigMap to the workload's parser (as flags, so the test needs no
/// process environment) succeeds: every rendered value is in the syntax and range the workload
/// accepts.
#[test]
fn the_workloads_accept_every_value_the_operator_renders() {
    for qs in pipelines() {
        for (c, env) in rendered(&qs) {
            let cmd = subcommand(c.as_str());
            let mut args = vec!["quakestream".to_owned(), c.as_str().to_owned()];
            for (var, value) in &env {
                let arg = cmd
                    .get_arguments()
                    .find(|a| a.get_env().is_some_and(|e| e == var.as_str()))
                    .unwrap_or_else(|| panic!("no flag reads {var}"));
                let long = arg.get_long().expect("every contract flag is a long option");
                match arg.get_action() {
                    ArgAction::SetTrue => {
                        if value == "true" {
                            args.push(format!("--{long}"));
                        }
                    }
                    _ => args.push(format!("--{long}={value}")),
                }
            }
            if let Err(e) = Cli::try_parse_from(&args) {
                panic!("`{}` refused the operator's configuration: {e}", args.join(" "));
            }
        }
    }
}

/// The workloads' defaults are the contract's (the attributes name its constants).
#[test]
fn defaults_are_the_contracts() {
    let default_of = |sub: &str, var: &str| -> String {
        let cmd = subcommand(sub);
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == var))
            .unwrap();
        arg.get_default_values()[0].to_string_lossy().into_owned()
    };
    let p = contract::producer::SUBCOMMAND;
    assert_eq!(
        default_of(p, contract::env::EMSC_URL),
        contract::producer::DEFAULT_EMSC_URL
    );
    assert_eq!(default_of(p, contract::env::TOPIC), contract::names::DEFAULT_TOPIC);
    assert_eq!(
        default_of(p, contract::env::DLQ_TOPIC),
        contract::names::DEFAULT_DLQ_TOPIC
    );
    assert_eq!(
        default_of(p, contract::env::BACKFILL_LIMIT),
        contract::producer::DEFAULT_BACKFILL_LIMIT.to_string()
    );
    assert_eq!(default_of(p, contract::env::LISTEN), contract::producer::DEFAULT_LISTEN);
    let c = contract::consumer::SUBCOMMAND;
    assert_eq!(
        default_of(c, contract::env::GROUP_ID),
        contract::names::DEFAULT_GROUP_ID
    );
    assert_eq!(default_of(c, contract::env::TABLE), contract::names::DEFAULT_TABLE);
    assert_eq!(default_of(c, contract::env::LISTEN), contract::consumer::DEFAULT_LISTEN);
    let f = contract::frontend::SUBCOMMAND;
    assert_eq!(default_of(f, contract::env::WINDOW), contract::frontend::DEFAULT_WINDOW);
    assert_eq!(default_of(f, contract::env::LISTEN), contract::frontend::DEFAULT_LISTEN);
    assert_eq!(
        default_of(f, contract::env::RATE_LIMIT),
        contract::frontend::DEFAULT_RATE_LIMIT.to_string()
    );
    let a = contract::analytics::SUBCOMMAND;
    for (var, default) in [
        (
            contract::env::STATS_TOPIC,
            contract::analytics::DEFAULT_STATS_TOPIC.to_owned(),
        ),
        (
            contract::env::ANALYTICS_APP_ID,
            contract::analytics::DEFAULT_APP_ID.to_owned(),
        ),
        (contract::env::GRACE, contract::analytics::DEFAULT_GRACE.to_owned()),
        (
            contract::env::RETENTION,
            contract::analytics::DEFAULT_RETENTION.to_owned(),
        ),
        (
            contract::env::COMMIT_INTERVAL,
            contract::analytics::DEFAULT_COMMIT_INTERVAL.to_owned(),
        ),
        (
            contract::env::MAX_RECORDS_PER_TRANSACTION,
            contract::analytics::DEFAULT_MAX_RECORDS_PER_TRANSACTION.to_string(),
        ),
        (contract::env::LISTEN, contract::analytics::DEFAULT_LISTEN.to_owned()),
    ] {
        assert_eq!(default_of(a, var), default, "{var}");
    }
}

/// The analytics subcommand is one of the operator's components, and the variable the operator
/// takes from the pod name is one the analytics reads.
#[test]
fn the_analytics_is_a_component_and_reads_its_pod_name() {
    assert!(
        Component::ALL
            .iter()
            .any(|c| c.as_str() == contract::analytics::SUBCOMMAND)
    );
    let read = env_of(&subcommand(contract::analytics::SUBCOMMAND));
    for var in contract::analytics::FROM_POD_NAME {
        assert!(read.contains(*var), "{var}");
    }
}

/// The workloads refuse what the contract's ranges refuse (the same constants bound both).
#[test]
fn ranges_are_enforced_by_the_workloads() {
    let over = (contract::producer::BACKFILL_LIMIT.max + 1).to_string();
    let args = ["quakestream", "producer", "--backfill-limit", over.as_str()];
    assert!(Cli::try_parse_from(args).is_err());
    assert!(
        Cli::try_parse_from(["quakestream", "frontend", "--window", "90d"]).is_err(),
        "the window is at most 31d"
    );
    assert!(Cli::try_parse_from(["quakestream", "frontend", "--window", "1h30m"]).is_ok());
    assert!(
        Cli::try_parse_from(["quakestream", "consumer", "--retention", "3600"]).is_err(),
        "a bare number is no duration"
    );
    assert!(
        Cli::try_parse_from(["quakestream", "analytics", "--grace", "30d"]).is_err(),
        "the grace period is at most 14d"
    );
    assert!(Cli::try_parse_from(["quakestream", "analytics", "--commit-interval", "1 s"]).is_err());
    assert!(Cli::try_parse_from(["quakestream", "analytics", "--grace", "6h", "--retention", "90d"]).is_ok());
}
