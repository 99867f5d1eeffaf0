//! Prints what the demo network holds and how long it takes to generate.
//! `cargo run --release -p renkei-demo --example demo_summary [seed]`

use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let options = renkei_demo::DemoOptions {
        seed,
        password_hash: "$argon2id$placeholder".into(),
        totp_secret: "JBSWY3DPEHPK3PXP".into(),
    };
    let _warm = renkei_demo::generate(&options);
    let runs = 20;
    let started = Instant::now();
    let mut network = None;
    for _ in 0..runs {
        network = Some(renkei_demo::generate(&options));
    }
    let per_run = started.elapsed() / runs;
    let network = network.expect("generated");

    let mut facilities: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let ids: BTreeMap<&str, &str> = network
        .import
        .facilities
        .iter()
        .map(|(f, _, _)| (f.id.as_str(), f.facility_type.code()))
        .collect();
    for (f, _, _) in &network.import.facilities {
        facilities.entry(f.facility_type.code()).or_default().0 += 1;
    }
    for u in &network.import.users {
        let t = ids[u.memberships[0].0.as_str()];
        facilities.entry(t).or_default().1 += 1;
    }
    println!("{:<28} {:>10} {:>6}", "type", "facilities", "users");
    for (t, (f, u)) in &facilities {
        println!("{t:<28} {f:>10} {u:>6}");
    }
    let mut professions: BTreeMap<&str, usize> = BTreeMap::new();
    for u in &network.import.users {
        *professions.entry(u.profession.code()).or_default() += 1;
    }
    println!("\nprofessions: {professions:?}");
    println!(
        "\nfacilities {}, users {}, readiness surveys {}",
        network.import.facilities.len(),
        network.import.users.len(),
        network.import.readiness.len()
    );
    println!("\nfeatured logins:");
    for l in renkei_demo::featured_logins(&network) {
        println!(
            "  {:<16} {:<10} {:<16} {} ({})",
            l.login_id,
            l.display_name,
            l.profession.code(),
            l.facility_name,
            l.role
        );
    }
    println!("\nsample facilities:");
    for (f, s, code) in network.import.facilities.iter().step_by(37) {
        println!(
            "  {:?} {:?} {} 「{}」({}) {} {} {} {}",
            code,
            s,
            f.facility_type.code(),
            f.name,
            f.name_kana,
            f.legal_entity,
            f.address,
            f.tel,
            f.official_id
        );
    }
    println!("\nnot simply active, and hospitals:");
    for (f, s, code) in &network.import.facilities {
        if *s != renkei_domain::FacilityStatus::Active
            || f.facility_type == renkei_domain::FacilityType::Hospital
        {
            println!(
                "  {:?} {:?} {} 「{}」 {} {} admin={}",
                code,
                s,
                f.facility_type.code(),
                f.name,
                f.legal_entity,
                f.address,
                f.admin_login_id
            );
        }
    }
    println!("\nsample users:");
    for u in network.import.users.iter().step_by(300) {
        println!(
            "  {} {} ({}) {}",
            u.login_id,
            u.display_name,
            u.display_name_kana,
            u.profession.code()
        );
    }
    println!("\nsample surveys:");
    for s in network.import.readiness.iter().step_by(60) {
        println!("  {:?}", s);
    }
    println!("\ngenerate(): {per_run:?} per run (mean of {runs})");
}
