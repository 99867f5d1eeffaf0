//! `renkei simulate monitors`: a bedside-monitor gateway that sends realistic HL7 v2
//! ORU^R01 (IHE PCD-01 and the Nihon Kohden form) and ADT^A01 over MLLP — for the demo,
//! for a hospital's connection test, and as the load generator of the ingest benchmark.
//!
//! Each bed always goes through the same connection, so its messages arrive in order;
//! each message waits for its ACK before the next on that connection (as real gateways
//! do), so the figures printed are acknowledged-after-commit figures.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use renkei_hl7::mllp::{ClientOptions, MllpConnection};
use renkei_icu::simulate::{Scenario, ScenarioChoice, SimConfig, SimMessage, Simulator};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};

#[derive(Subcommand)]
pub enum SimulateCommand {
    /// Send bedside-monitor messages (PCD-01 and Nihon Kohden form) to an MLLP listener.
    Monitors(MonitorArgs),
}

#[derive(Args, Clone)]
pub struct MonitorArgs {
    /// MLLP listener to send to.
    #[arg(long, default_value = "127.0.0.1:2575")]
    to: String,
    /// Number of beds.
    #[arg(long, default_value_t = 8)]
    beds: usize,
    /// Sending facilities (MSH-4), comma-separated; beds are spread across them in blocks.
    /// Even positions send the PCD-01 form, odd ones the Nihon Kohden form.
    #[arg(
        long = "facility",
        value_delimiter = ',',
        default_value = "F00001,F00002"
    )]
    facilities: Vec<String>,
    /// Bed label prefix (PV1-3 bed), numbered per facility from 001.
    #[arg(long, default_value = "BED-")]
    bed_prefix: String,
    /// Patient ID prefix: PID-3 = prefix + facility number + bed number (`SIM010001`).
    #[arg(long, default_value = "SIM")]
    patient_prefix: String,
    /// `mix` (stable, sepsis, stable, respiratory in turn), `stable`, `sepsis` or
    /// `respiratory`.
    #[arg(long, default_value = "mix")]
    scenario: String,
    /// Seed: the same seed gives the same patients and the same course.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds between two messages of one bed (real monitors: 60).
    #[arg(long, default_value_t = 60.0)]
    interval: f64,
    /// Stop after this many rounds (one message per bed each); default: until Ctrl-C.
    #[arg(long)]
    ticks: Option<u64>,
    /// Do not wait between rounds: the simulated clock steps by `--interval` per round,
    /// ending now. Needs `--ticks`. For load tests.
    #[arg(long)]
    fast: bool,
    /// Concurrent MLLP connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Do not send ADT^A01 before each bed's first observations.
    #[arg(long)]
    no_admit: bool,
    /// Do not send artefacts and impossible values.
    #[arg(long)]
    no_artefacts: bool,
    /// Do not let beds fall silent now and then.
    #[arg(long)]
    no_dropouts: bool,
    /// MSH-11 processing ID (`P`, or `T` for a test environment).
    #[arg(long, default_value = "P")]
    processing_id: String,
    /// Print the final summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Speak TLS, trusting the CA certificates in this PEM file.
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// Client certificate (PEM) for a listener that requires one; with --tls-key.
    #[arg(long, requires = "tls_key", requires = "tls_ca")]
    tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Name the server certificate must carry (default: the host of --to).
    #[arg(long, requires = "tls_ca")]
    tls_server_name: Option<String>,
}

impl MonitorArgs {
    fn client_tls(&self) -> anyhow::Result<Option<crate::mllp_tls::ClientTls>> {
        let Some(ca) = &self.tls_ca else {
            return Ok(None);
        };
        let host = match &self.tls_server_name {
            Some(name) => name.clone(),
            None => self
                .to
                .rsplit_once(':')
                .map(|(host, _)| host.trim_matches(['[', ']']).to_string())
                .unwrap_or_else(|| self.to.clone()),
        };
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            _ => None,
        };
        crate::mllp_tls::ClientTls::new(ca, identity, &host).map(Some)
    }
}

pub async fn run(command: SimulateCommand) -> anyhow::Result<ExitCode> {
    match command {
        SimulateCommand::Monitors(args) => monitors(args).await,
    }
}

fn scenario(text: &str) -> anyhow::Result<ScenarioChoice> {
    Ok(match text {
        "mix" => ScenarioChoice::Mix,
        "stable" => ScenarioChoice::All(Scenario::Stable),
        "sepsis" => ScenarioChoice::All(Scenario::Sepsis),
        "respiratory" => ScenarioChoice::All(Scenario::Respiratory),
        other => bail!("unknown scenario {other:?}: use mix, stable, sepsis or respiratory"),
    })
}

/// What the receiver answered, counted.
#[derive(Default)]
struct Tally {
    sent: u64,
    accepted: u64,
    errors: u64,
    rejected: u64,
    transport: u64,
    observations: u64,
    latencies_us: Vec<u64>,
    last_problem: Option<String>,
}

/// MSA-1 and MSA-3 (or ERR text) of an ACK.
fn ack_code(ack: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(ack);
    let mut code = String::new();
    let mut reason = String::new();
    for segment in text.split(['\r', '\n']) {
        let fields: Vec<&str> = segment.split('|').collect();
        match fields.first() {
            Some(&"MSA") => {
                code = fields.get(1).unwrap_or(&"").to_string();
                reason = fields.get(3).unwrap_or(&"").to_string();
            }
            Some(&"ERR") if reason.is_empty() => {
                reason = fields.get(8).unwrap_or(&"").to_string();
            }
            _ => {}
        }
    }
    (code, reason)
}

async fn worker(
    addr: String,
    tls: Option<crate::mllp_tls::ClientTls>,
    mut queue: mpsc::Receiver<SimMessage>,
    tally: Arc<Mutex<Tally>>,
) -> anyhow::Result<()> {
    let options = ClientOptions::default();
    let mut connection: Option<MllpConnection<Box<dyn crate::mllp_tls::Stream>>> = None;
    while let Some(message) = queue.recv().await {
        if connection.is_none() {
            match crate::mllp_tls::connect(&addr, tls.as_ref(), &options).await {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    let mut t = tally.lock().await;
                    t.sent += 1;
                    t.transport += 1;
                    t.last_problem = Some(format!("cannot connect to {addr}: {e:#}"));
                    drop(t);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        let started = Instant::now();
        let answer = conn.exchange(message.text.as_bytes()).await;
        let elapsed = started.elapsed().as_micros() as u64;
        let mut t = tally.lock().await;
        t.sent += 1;
        match answer {
            Ok(ack) => {
                t.latencies_us.push(elapsed);
                let (code, reason) = ack_code(&ack);
                match code.as_str() {
                    "AA" | "CA" => {
                        t.accepted += 1;
                        t.observations += message.values.len() as u64;
                    }
                    "AE" | "CE" => {
                        t.errors += 1;
                        t.last_problem = Some(format!("AE {}: {reason}", message.control_id));
                    }
                    _ => {
                        t.rejected += 1;
                        t.last_problem = Some(format!("{code} {}: {reason}", message.control_id));
                    }
                }
            }
            Err(e) => {
                t.transport += 1;
                t.last_problem = Some(format!("{}: {e}", message.control_id));
                connection = None;
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn monitors(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    if args.beds == 0 {
        bail!("--beds must be at least 1");
    }
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if !args.interval.is_finite() || args.interval <= 0.0 {
        bail!("--interval must be positive");
    }
    if args.fast && args.ticks.is_none() {
        bail!("--fast needs --ticks (how many rounds to send)");
    }
    let interval_ms = (args.interval * 1000.0).round() as i64;
    let now = renkei_domain::now_millis();
    let start = match (args.fast, args.ticks) {
        (true, Some(ticks)) => now - ticks as i64 * interval_ms,
        _ => now,
    };
    let config = SimConfig {
        beds: args.beds,
        seed: args.seed,
        scenario: scenario(&args.scenario)?,
        facilities: args.facilities.clone(),
        bed_prefix: args.bed_prefix.clone(),
        patient_prefix: args.patient_prefix.clone(),
        start,
        processing_id: args.processing_id.clone(),
        admit: !args.no_admit,
        artefacts: !args.no_artefacts,
        dropouts: !args.no_dropouts,
    };
    let mut simulator = Simulator::new(config);
    // Fail early, with the address, when nothing listens (or TLS does not work out).
    let tls = args.client_tls()?;
    crate::mllp_tls::connect(&args.to, tls.as_ref(), &ClientOptions::default())
        .await
        .with_context(|| format!("cannot reach the MLLP listener at {}", args.to))?;
    eprintln!(
        "simulating {} beds at {} facilities → {} ({} connections, {} s interval{})",
        args.beds,
        args.facilities.len(),
        args.to,
        args.connections,
        args.interval,
        if args.fast { ", fast" } else { "" }
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (tx, rx) = mpsc::channel::<SimMessage>(1024);
        senders.push(tx);
        workers.push(tokio::spawn(worker(
            args.to.clone(),
            tls.clone(),
            rx,
            tally.clone(),
        )));
    }

    let began = Instant::now();
    let reporter = {
        let tally = tally.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            every.tick().await;
            loop {
                every.tick().await;
                let t = tally.lock().await;
                let secs = began.elapsed().as_secs_f64();
                eprintln!(
                    "{:>6.0} s  sent {}  AA {}  AE {}  AR {}  failed {}  {:.0} msg/s  {:.0} obs/s",
                    secs,
                    t.sent,
                    t.accepted,
                    t.errors,
                    t.rejected,
                    t.transport,
                    t.sent as f64 / secs,
                    t.observations as f64 / secs
                );
            }
        })
    };

    let mut round = 0u64;
    let mut pace = tokio::time::interval(Duration::from_millis(interval_ms as u64));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        if args.ticks.is_some_and(|n| round >= n) {
            break;
        }
        let at = if args.fast {
            start + (round as i64 + 1) * interval_ms
        } else {
            tokio::select! {
                _ = pace.tick() => {}
                _ = &mut stop => break,
            }
            renkei_domain::now_millis()
        };
        for message in simulator.tick_detailed(at) {
            let lane = message.bed % senders.len();
            if senders[lane].send(message).await.is_err() {
                bail!("a sending connection stopped");
            }
        }
        round += 1;
    }
    drop(senders);
    for w in workers {
        w.await.context("sender task")??;
    }
    reporter.abort();
    let secs = began.elapsed().as_secs_f64();
    let mut t = tally.lock().await;
    t.latencies_us.sort_unstable();
    let summary = serde_json::json!({
        "beds": args.beds,
        "rounds": round,
        "seconds": (secs * 100.0).round() / 100.0,
        "messages": t.sent,
        "accepted": t.accepted,
        "errors": t.errors,
        "rejected": t.rejected,
        "failed": t.transport,
        "observations": t.observations,
        "messages_per_second": (t.sent as f64 / secs).round(),
        "observations_per_second": (t.observations as f64 / secs).round(),
        "ack_ms_p50": percentile(&t.latencies_us, 50.0),
        "ack_ms_p99": percentile(&t.latencies_us, 99.0),
        "last_problem": t.last_problem,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "{} messages in {:.1} s: AA {}, AE {}, AR {}, failed {}; {} observations accepted \
             ({:.0}/s); ACK latency p50 {:.2} ms, p99 {:.2} ms",
            t.sent,
            secs,
            t.accepted,
            t.errors,
            t.rejected,
            t.transport,
            t.observations,
            t.observations as f64 / secs,
            percentile(&t.latencies_us, 50.0),
            percentile(&t.latencies_us, 99.0)
        );
        if let Some(problem) = &t.last_problem {
            println!("last problem: {problem}");
        }
    }
    Ok(if t.accepted > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ack_codes_and_reasons() {
        let ack =
            b"MSH|^~\\&|R|R|S|S|20260101||ACK^R01|1|P|2.6\rMSA|AE|C1|quarantined\rERR||||E|||x";
        assert_eq!(ack_code(ack), ("AE".into(), "quarantined".into()));
        let ack =
            b"MSH|^~\\&|R|R|S|S|20260101||ACK^R01|1|P|2.6\rMSA|AR|C1\rERR|||207^x|E||||not stored";
        assert_eq!(ack_code(ack), ("AR".into(), "not stored".into()));
        assert_eq!(percentile(&[1000, 2000, 3000], 50.0), 2.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }

    #[test]
    fn scenarios_are_named() {
        assert!(scenario("sepsis").is_ok());
        assert!(scenario("flu").is_err());
    }
}
