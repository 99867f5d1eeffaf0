//! Evaluates the matcher on a CSV with ground truth (or a freshly generated population) and
//! prints one line of JSON: precision, recall, F1 of pairwise links and wall time per phase.
//!
//! `mpi-eval --csv FILE` or `mpi-eval --generate N [--seed S]`;
//! `--auto W` / `--review W` override the weight thresholds, `--max-bucket N` the bucket cap.

use renkei_mpi::blocking::{candidate_pairs, BlockingConfig};
use renkei_mpi::score::{Decision, ScoreConfig, Scorer};
use renkei_mpi::synth::{evaluate, generate, read_csv, SynthConfig, SynthRecord};
use renkei_mpi::MatchKeys;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut csv: Option<String> = None;
    let mut synth = SynthConfig::default();
    let mut generate_n: Option<usize> = None;
    let mut score = ScoreConfig::default();
    let mut blocking = BlockingConfig::default();
    let mut explain = 0usize;
    let mut analyze = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--csv" => csv = Some(val()?),
            "--generate" => generate_n = Some(val()?.parse()?),
            "--seed" => synth.seed = val()?.parse()?,
            "--auto" => score.auto_link_weight = val()?.parse()?,
            "--review" => score.review_weight = val()?.parse()?,
            "--max-bucket" => blocking.max_bucket = val()?.parse()?,
            "--explain" => explain = val()?.parse()?,
            "--analyze" => analyze = true,
            _ => return Err(format!("unknown argument {a}; see the crate README").into()),
        }
    }
    let t = Instant::now();
    let records = match (csv, generate_n) {
        (Some(path), _) => read_csv(std::io::BufReader::new(std::fs::File::open(path)?))?,
        (None, Some(n)) => {
            synth.records = n;
            generate(&synth)
        }
        (None, None) => return Err("pass --csv FILE or --generate N".into()),
    };
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let scorer = Scorer::new(score);
    if analyze {
        analyze_errors(&records, &blocking, &scorer);
    }
    if explain > 0 {
        explain_errors(&records, &blocking, &scorer, explain);
    }
    let report = evaluate(&records, &blocking, &scorer);
    let json = report.to_json();
    // Splice the load time into the phase object.
    println!(
        "{}",
        json.replacen("\"ms\":{", &format!("\"ms\":{{\"load\":{load_ms:.0},"), 1)
    );
    Ok(())
}

/// Prints to stderr up to `n` false auto-links and `n` true pairs that were not auto-linked,
/// with per-field levels and weights (for tuning m/u and thresholds).
fn explain_errors(records: &[SynthRecord], blocking: &BlockingConfig, scorer: &Scorer, n: usize) {
    let keys: Vec<MatchKeys> = records.iter().map(|r| MatchKeys::from(&r.record)).collect();
    let mut scorer = scorer.clone();
    scorer.fit_term_frequencies(&keys);
    let (pairs, _) = candidate_pairs(&keys, blocking);
    let (mut fp, mut fneg) = (0, 0);
    for (a, b) in pairs {
        let (ra, rb) = (&records[a as usize], &records[b as usize]);
        let same = ra.person_id == rb.person_id;
        let r = scorer.score(&keys[a as usize], &keys[b as usize]);
        let auto = r.decision == Decision::AutoLink;
        let show = if auto && !same {
            fp += 1;
            fp <= n
        } else if !auto && same {
            fneg += 1;
            fneg <= n
        } else {
            false
        };
        if show {
            let fields: Vec<String> = r
                .fields
                .iter()
                .map(|f| format!("{}={}:{:.1}", f.field.as_str(), f.level.as_str(), f.weight))
                .collect();
            eprintln!(
                "{} w={:.1} {:?}\n  {:?}\n  {:?}\n  {}",
                if same { "MISSED" } else { "FALSE" },
                r.weight,
                r.decision,
                ra,
                rb,
                fields.join(" ")
            );
        }
    }
    eprintln!("false auto-links {fp}, true pairs not auto-linked {fneg}");
}

/// Prints to stderr the clustered false-positive and false-negative pairs grouped by the
/// comparison levels of the pair (direct score, or "not a candidate" for blocking misses).
fn analyze_errors(records: &[SynthRecord], blocking: &BlockingConfig, scorer: &Scorer) {
    use renkei_mpi::cluster::cluster_labels;
    use std::collections::{HashMap, HashSet};
    let keys: Vec<MatchKeys> = records.iter().map(|r| MatchKeys::from(&r.record)).collect();
    let mut scorer = scorer.clone();
    scorer.fit_term_frequencies(&keys);
    let (pairs, _) = candidate_pairs(&keys, blocking);
    let cand: HashSet<(u32, u32)> = pairs.iter().copied().collect();
    let mut links = Vec::new();
    for &(a, b) in &pairs {
        if scorer.score(&keys[a as usize], &keys[b as usize]).decision == Decision::AutoLink {
            links.push((a, b));
        }
    }
    let labels = cluster_labels(keys.len(), links.iter().copied());
    let linkset: HashSet<(u32, u32)> = links.iter().copied().collect();
    let sig = |a: u32, b: u32| -> String {
        let r = scorer.score(&keys[a as usize], &keys[b as usize]);
        let lv: Vec<&str> = r.fields.iter().map(|f| f.level.as_str()).collect();
        format!(
            "{} {} w={:.0} {}",
            if cand.contains(&(a, b)) {
                "cand"
            } else {
                "NOT-CAND"
            },
            if linkset.contains(&(a, b)) {
                "direct"
            } else {
                "indirect"
            },
            (r.weight / 4.0).floor() * 4.0,
            lv.join(",")
        )
    };
    let mut by_person: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut by_cluster: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        by_person.entry(r.person_id).or_default().push(i as u32);
        by_cluster.entry(labels[i]).or_default().push(i as u32);
    }
    let mut fn_sig: HashMap<String, usize> = HashMap::new();
    let mut n_fn = 0;
    for v in by_person.values() {
        for x in 0..v.len() {
            for y in x + 1..v.len() {
                let (a, b) = (v[x].min(v[y]), v[x].max(v[y]));
                if labels[a as usize] != labels[b as usize] {
                    n_fn += 1;
                    *fn_sig.entry(sig(a, b)).or_default() += 1;
                }
            }
        }
    }
    let mut fp_sig: HashMap<String, usize> = HashMap::new();
    let mut n_fp = 0;
    for v in by_cluster.values() {
        for x in 0..v.len() {
            for y in x + 1..v.len() {
                let (a, b) = (v[x].min(v[y]), v[x].max(v[y]));
                if records[a as usize].person_id != records[b as usize].person_id {
                    n_fp += 1;
                    *fp_sig.entry(sig(a, b)).or_default() += 1;
                }
            }
        }
    }
    for (name, n, m) in [
        ("FALSE NEGATIVE", n_fn, fn_sig),
        ("FALSE POSITIVE", n_fp, fp_sig),
    ] {
        eprintln!("== {name} pairs: {n}  (fields: family,given,date,sex,phone,address,insurance)");
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        for (s, c) in v.iter().take(40) {
            eprintln!("{c:7} {s}");
        }
    }
}
