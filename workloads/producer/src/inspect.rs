//! `quakestream inspect FILE`: what the pipeline would make of a file, without Kafka.

use quakestream_core::parse::{self, FileFormat, Item};
use quakestream_core::wire::WireRecord;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct InspectReport {
    pub format: Option<FileFormat>,
    pub items: u64,
    pub valid: u64,
    pub rejected: BTreeMap<&'static str, u64>,
    pub unknown_actions: u64,
    pub unique_unids: u64,
    pub declared_count: Option<u64>,
}

impl InspectReport {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Writes one wire record per valid event to `out` (JSON lines) and one line per rejected or
/// skipped input to `err`, then a summary to `err`. Only an unreadable file is an `Err`.
pub fn inspect(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<InspectReport> {
    let mut report = InspectReport::default();
    let mut unids = HashSet::new();
    let now = chrono::Utc::now();
    let shown = path.display().to_string();
    let mut write_err: std::io::Result<()> = Ok(());
    let (format, summary) = parse::read_file(
        || std::fs::File::open(path),
        |item| {
            report.items += 1;
            let res = match item.result {
                Ok(Item::Event { action, quake }) => {
                    report.valid += 1;
                    unids.insert(quake.unid.clone());
                    let mut line = WireRecord::new(action, quake, now).to_json();
                    line.push(b'\n');
                    out.write_all(&line)
                }
                Ok(Item::UnknownAction { action, unid }) => {
                    report.unknown_actions += 1;
                    writeln!(
                        err,
                        "{shown}: {}: skipped: unknown action {action:?} (unid {})",
                        item.position,
                        unid.as_deref().unwrap_or("?")
                    )
                }
                Err(reason) => {
                    *report.rejected.entry(reason.code()).or_default() += 1;
                    writeln!(
                        err,
                        "{shown}: {}: rejected ({}): {reason}",
                        item.position,
                        reason.code()
                    )
                }
            };
            if write_err.is_ok() {
                write_err = res;
            }
        },
    )?;
    write_err?;
    report.format = Some(format);
    report.unique_unids = unids.len() as u64;
    report.declared_count = summary.declared_count;
    let rejected: Vec<String> = report.rejected.iter().map(|(k, v)| format!("{k}={v}")).collect();
    writeln!(
        err,
        "{shown}: {}: {} inputs, {} valid events ({} distinct unids), {} rejected{}, {} unknown actions",
        match format {
            FileFormat::JsonLines => "JSON lines",
            FileFormat::Document => "JSON document",
        },
        report.items,
        report.valid,
        report.unique_unids,
        report.rejected_total(),
        if rejected.is_empty() {
            String::new()
        } else {
            format!(" [{}]", rejected.join(", "))
        },
        report.unknown_actions,
    )?;
    if let Some(declared) = summary.declared_count
        && declared != summary.items
    {
        writeln!(
            err,
            "{shown}: warning: metadata declares {declared} features but {} were read",
            summary.items
        )?;
    }
    Ok(report)
}
