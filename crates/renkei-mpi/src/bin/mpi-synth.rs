//! Writes a synthetic Japanese patient population with ground truth as CSV.
//!
//! `mpi-synth [--records N] [--seed S] [--noise X] [--out FILE]` (stdout when no --out).

use renkei_mpi::synth::{generate, write_csv, SynthConfig};
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = SynthConfig::default();
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--records" => cfg.records = val()?.parse()?,
            "--seed" => cfg.seed = val()?.parse()?,
            "--noise" => cfg.noise = val()?.parse()?,
            "--facilities" => cfg.facilities = val()?.parse()?,
            "--out" => out = Some(val()?),
            _ => return Err(format!("unknown argument {a}; see the crate README").into()),
        }
    }
    let records = generate(&cfg);
    match out {
        Some(path) => write_csv(
            std::io::BufWriter::new(std::fs::File::create(path)?),
            &records,
        )?,
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            write_csv(&mut lock, &records)?;
            lock.flush()?;
        }
    }
    Ok(())
}
