//! `renkei audit verify|export`.

use crate::config::{self, DbArgs};
use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use renkei_domain::audit::ChainVerifier;
use std::io::Write;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the whole chain; report the first altered, deleted or inserted record and exit 1.
    Verify,
    /// Export records in chain order.
    Export {
        /// First day (YYYY-MM-DD, Japan time), inclusive.
        #[arg(long)]
        from: Option<String>,
        /// Last day (YYYY-MM-DD, Japan time), inclusive.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

const PAGE: i64 = 5_000;

fn jst_day_start(s: &str) -> anyhow::Result<i64> {
    use chrono::{FixedOffset, NaiveDate, TimeZone};
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("{s} is not YYYY-MM-DD"))?;
    let tz = FixedOffset::east_opt(9 * 3600).expect("JST");
    Ok(tz
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("fixed offset")
        .timestamp_millis())
}

pub async fn run(db: DbArgs, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let settings = config::load(db.config.as_ref(), &db)?;
    let store = config::open_store(&settings).await?;
    match command {
        AuditCommand::Verify => {
            let mut verifier = ChainVerifier::new();
            let mut after = 0;
            loop {
                let page = store.audit_after(after, PAGE).await?;
                if page.is_empty() {
                    break;
                }
                for record in &page {
                    if let Err(problem) = verifier.push(record) {
                        println!(
                            "audit chain BROKEN after {} intact records: {problem}",
                            verifier.checked()
                        );
                        return Ok(ExitCode::FAILURE);
                    }
                    after = record.seq;
                }
            }
            let head = store.audit_head().await?;
            if let Err(problem) = verifier.finish(head.as_ref().map(|(s, h)| (*s, h.as_str()))) {
                println!(
                    "audit chain BROKEN after {} intact records: {problem}",
                    verifier.checked()
                );
                return Ok(ExitCode::FAILURE);
            }
            println!(
                "audit chain intact: {} records, head {}",
                verifier.checked(),
                head.map(|(_, h)| h).unwrap_or_else(|| "(empty)".into())
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            from,
            to,
            format,
            output,
        } => {
            let from = from.as_deref().map(jst_day_start).transpose()?;
            let to = to
                .as_deref()
                .map(|d| jst_day_start(d).map(|t| t + 86_400_000))
                .transpose()?;
            let out: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut sink = match format {
                ExportFormat::Jsonl => Sink::Jsonl(out),
                ExportFormat::Csv => {
                    let mut w = csv::Writer::from_writer(out);
                    w.write_record([
                        "seq",
                        "at",
                        "action",
                        "outcome",
                        "actor_user_id",
                        "actor_login",
                        "actor_facility_id",
                        "target_type",
                        "target_id",
                        "patient_id",
                        "ip",
                        "user_agent",
                        "detail",
                        "prev_hash",
                        "hash",
                    ])?;
                    Sink::Csv(Box::new(w))
                }
            };
            let mut after = 0;
            let mut count = 0u64;
            loop {
                let page = store.audit_after(after, PAGE).await?;
                if page.is_empty() {
                    break;
                }
                for r in &page {
                    after = r.seq;
                    if from.is_some_and(|f| r.at < f) || to.is_some_and(|t| r.at >= t) {
                        continue;
                    }
                    count += 1;
                    sink.write(r)?;
                }
            }
            sink.finish()?;
            eprintln!("exported {count} audit records");
            Ok(ExitCode::SUCCESS)
        }
    }
}

enum Sink {
    Jsonl(Box<dyn Write>),
    Csv(Box<csv::Writer<Box<dyn Write>>>),
}

impl Sink {
    fn write(&mut self, r: &renkei_domain::audit::AuditRecord) -> anyhow::Result<()> {
        match self {
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, r)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(w) => {
                let e = &r.entry;
                let o = |v: &Option<String>| v.clone().unwrap_or_default();
                w.write_record([
                    r.seq.to_string(),
                    r.at.to_string(),
                    e.action.clone(),
                    e.outcome.clone(),
                    o(&e.actor_user_id),
                    o(&e.actor_login),
                    o(&e.actor_facility_id),
                    o(&e.target_type),
                    o(&e.target_id),
                    o(&e.patient_id),
                    o(&e.ip),
                    o(&e.user_agent),
                    e.detail.clone(),
                    r.prev_hash.clone(),
                    r.hash.clone(),
                ])?;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Jsonl(mut out) => out.flush()?,
            Sink::Csv(mut w) => w.flush()?,
        }
        Ok(())
    }
}
