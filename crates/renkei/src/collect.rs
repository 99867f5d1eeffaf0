//! `renkei collect ssmix2`: reads an SS-MIX2 standardized storage tree into the clinical
//! store for one facility.
//!
//! Idempotent (unchanged resources are not rewritten), incremental (each processed file's
//! size and modification time are remembered in the database, so a rerun — or a run after
//! a kill — picks up only what is new or changed), and tolerant: a broken file is reported
//! with its reason and the run goes on.

use crate::config::{self, DbArgs};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use renkei_core::clinical::Author;
use renkei_core::ingest::Ingestor;
use renkei_domain::patient::Requester;
use renkei_domain::{now_millis, FacilityStatus, Profession};
use renkei_hl7::ssmix2::{self, ConditionFlag};
use renkei_storage::{IngestFile, Store};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Subcommand)]
pub enum CollectCommand {
    /// Read an SS-MIX2 standardized storage tree.
    Ssmix2(Ssmix2Args),
}

#[derive(Args)]
pub struct Ssmix2Args {
    #[command(flatten)]
    pub db: DbArgs,
    /// Root of the standardized storage (the directory holding the 3-digit patient folders).
    #[arg(long)]
    pub root: PathBuf,
    /// The facility whose storage this is (facility ID such as F00001).
    #[arg(long)]
    pub facility: String,
    /// Files per database transaction.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Also write the per-file error report here, as JSON lines (`path`, `error`); standard
    /// error always gets one `error: PATH: REASON` line per file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Forget what earlier runs processed and read every file again (still idempotent).
    #[arg(long)]
    pub rescan: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub async fn run(command: CollectCommand) -> anyhow::Result<ExitCode> {
    match command {
        CollectCommand::Ssmix2(args) => ssmix2_run(args).await,
    }
}

fn fingerprint(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    Ok(format!("{}:{mtime}", meta.len()))
}

#[derive(Default)]
struct Tally {
    files: usize,
    skipped: usize,
    superseded: usize,
    stored: usize,
    errors: usize,
    written: usize,
    /// Resource versions actually committed (writes folded within a batch count once).
    committed: usize,
    unchanged: usize,
    deleted: usize,
    registered: usize,
    warnings: usize,
    /// Files of data types without a FHIR mapping, per type.
    not_mapped_types: std::collections::BTreeMap<String, usize>,
}

struct Pending {
    state: IngestFile,
}

async fn ssmix2_run(args: Ssmix2Args) -> anyhow::Result<ExitCode> {
    let settings = config::load(args.db.config.as_ref(), &args.db)?;
    let store = config::open_store(&settings).await?;
    let store: &dyn Store = store.as_ref();
    let facility = renkei_core::facilities::find(store, &args.facility)
        .await?
        .with_context(|| format!("no facility {}", args.facility))?;
    if facility.status != FacilityStatus::Active {
        bail!(
            "facility {} is not an active member of the network",
            facility.id
        );
    }
    let root = args
        .root
        .canonicalize()
        .with_context(|| format!("storage root {}", args.root.display()))?;
    let source = format!("ssmix2:{}:{}", facility.id, root.display());
    let author = Author {
        requester: Requester {
            user_id: format!("collector:{}", facility.id),
            facility_id: Some(facility.id.clone()),
            facility_type: Some(facility.facility_type),
            profession: Profession::Other,
            is_secretariat: false,
        },
        login_id: "ssmix2-collector".into(),
        facility_id: facility.id.clone(),
        source_system: format!("ssmix2:{}", root.display()),
        ip: None,
        user_agent: None,
    };
    let done: HashMap<String, String> = if args.rescan {
        HashMap::new()
    } else {
        store
            .ingest_progress(&source)
            .await?
            .into_iter()
            .filter(|f| f.status != "error")
            .map(|f| (f.path, f.fingerprint))
            .collect()
    };
    let started = Instant::now();
    let mut report: Option<std::fs::File> = match &args.report {
        Some(p) => {
            Some(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => None,
    };
    let mut tally = Tally::default();
    let mut report_error = |tally: &mut Tally, path: &str, error: &str| -> anyhow::Result<()> {
        tally.errors += 1;
        let line = serde_json::json!({ "path": path, "error": error }).to_string();
        eprintln!("error: {path}: {error}");
        if let Some(f) = report.as_mut() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    };

    // Walk first: the progress bar needs a total, and walk errors are reported up front.
    let mut entries = Vec::new();
    for item in ssmix2::walk(&root) {
        match item {
            Ok(e) => entries.push(e),
            Err(e) => report_error(&mut tally, &root.display().to_string(), &e.to_string())?,
        }
    }
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(entries.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} files ({per_sec}, ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    };
    let mut ingestor = Ingestor::new(store, facility.clone(), author, "ingest.ssmix2");
    let mut batch: Vec<Pending> = Vec::new();
    let mut batch_files = 0usize;
    // Oldest message first, so where two files speak of the same order the later one wins
    // (SS-MIX2 send timestamps are 17 digits, so text order is time order).
    entries.sort_by(|a, b| {
        let time = |e: &ssmix2::StorageEntry| e.name.as_ref().map(|n| n.timestamp.clone()).ok();
        time(a)
            .cmp(&time(b))
            .then_with(|| a.relative.cmp(&b.relative))
    });
    for entry in entries {
        bar.inc(1);
        tally.files += 1;
        let relative = entry.relative.display().to_string();
        let name = match &entry.name {
            Ok(n) => n,
            Err(e) => {
                report_error(
                    &mut tally,
                    &relative,
                    &format!("not an SS-MIX2 file name: {e}"),
                )?;
                continue;
            }
        };
        let fp = match fingerprint(&entry.path) {
            Ok(fp) => fp,
            Err(e) => {
                report_error(&mut tally, &relative, &format!("cannot read: {e}"))?;
                continue;
            }
        };
        if done.get(&relative) == Some(&fp) {
            tally.skipped += 1;
            continue;
        }
        let state = |status: &str, detail: String| IngestFile {
            source: source.clone(),
            path: relative.clone(),
            fingerprint: fp.clone(),
            status: status.into(),
            detail,
            processed_at: now_millis(),
        };
        if !renkei_hl7_fhir::SUPPORTED_DATA_TYPES.contains(&name.data_type.as_str()) {
            // Valid SS-MIX2 content that has no JP Core mapping yet (OMD, OMG…): noted, not
            // an error, and not read again until the file changes.
            *tally
                .not_mapped_types
                .entry(name.data_type.clone())
                .or_default() += 1;
            batch.push(Pending {
                state: state("not-mapped", name.data_type.clone()),
            });
            continue;
        }
        if name.flag == ConditionFlag::Superseded {
            // Its newer flag-1 file carries the same order number, hence the same ids.
            tally.superseded += 1;
            batch.push(Pending {
                state: state("superseded", String::new()),
            });
            continue;
        }
        let document = match ssmix2::read_file(&entry.path) {
            Ok(d) => d,
            Err(e) => {
                report_error(&mut tally, &relative, &e.to_string())?;
                store
                    .record_ingest_files(vec![state("error", e.to_string())])
                    .await?;
                continue;
            }
        };
        tally.warnings += document.warnings.len();
        let file_name = entry
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let delete = name.flag == ConditionFlag::Deleted;
        match ingestor
            .add(
                &document.message,
                Some(&name.data_type),
                &file_name,
                delete,
                now_millis(),
            )
            .await
        {
            Ok(outcome) => {
                tally.written += outcome.written;
                tally.unchanged += outcome.unchanged;
                tally.deleted += outcome.deleted;
                tally.registered += usize::from(outcome.registered);
                tally.warnings += outcome.warnings.len();
                tally.stored += 1;
                batch.push(Pending {
                    state: state(
                        "stored",
                        format!(
                            "written {} unchanged {} deleted {}",
                            outcome.written, outcome.unchanged, outcome.deleted
                        ),
                    ),
                });
                batch_files += 1;
            }
            Err(e) if e.is_transient() => return Err(e).context(relative),
            Err(e) => {
                report_error(&mut tally, &relative, &e.to_string())?;
                store
                    .record_ingest_files(vec![state("error", e.to_string())])
                    .await?;
            }
        }
        if batch_files >= args.batch.max(1) {
            tally.committed += flush(store, &mut ingestor, &mut batch).await?;
            batch_files = 0;
            bar.set_message(format!("{} errors", tally.errors));
        }
    }
    tally.committed += flush(store, &mut ingestor, &mut batch).await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let processed = tally.files - tally.skipped;
    let not_mapped = if tally.not_mapped_types.is_empty() {
        String::new()
    } else {
        let kinds: Vec<String> = tally
            .not_mapped_types
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        format!(": {}", kinds.join(", "))
    };
    println!(
        "ssmix2 {root}: {files} files ({skipped} already collected, {superseded} superseded, {stored} stored, \
         {not_mapped_count} of types not mapped to FHIR{not_mapped}, {errors} with errors); \
         resources: {committed} versions stored ({written} written and {deleted} deleted by messages, {unchanged} unchanged); {registered} patients registered; {warnings} warnings; \
         {secs:.2} s, {rate:.0} files/s",
        root = root.display(),
        files = tally.files,
        skipped = tally.skipped,
        superseded = tally.superseded,
        not_mapped_count = tally.not_mapped_types.values().sum::<usize>(),
        stored = tally.stored,
        errors = tally.errors,
        written = tally.written,
        committed = tally.committed,
        unchanged = tally.unchanged,
        deleted = tally.deleted,
        registered = tally.registered,
        warnings = tally.warnings,
        rate = if secs > 0.0 { processed as f64 / secs } else { 0.0 },
    );
    Ok(if tally.errors > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Stores the pending resources, then marks their files processed: a kill between the two
/// only makes the next run read those files again, which changes nothing.
async fn flush(
    store: &dyn Store,
    ingestor: &mut Ingestor<'_>,
    batch: &mut Vec<Pending>,
) -> anyhow::Result<usize> {
    let stored = ingestor
        .flush(now_millis())
        .await
        .context("storing a batch of SS-MIX2 files")?;
    let states: Vec<IngestFile> = batch.drain(..).map(|p| p.state).collect();
    store.record_ingest_files(states).await?;
    Ok(stored)
}
