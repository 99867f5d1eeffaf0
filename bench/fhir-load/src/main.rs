//! `fhir-load`: fills a Renkei database (made by `renkei demo`) with benchmark data for
//! `bench/fhir.sh` — `--patients` registrations at one facility and `--resources` FHIR
//! resources about them — through the real write paths:
//!
//! * patients: `renkei_core::patients::validate` + `register` (the patient index, as the
//!   registration page does: match keys, blocking, audit record);
//! * resources: `renkei_core::clinical::import` — the bulk form of `prepare_write` +
//!   `commit`: every resource validated by `renkei-fhir`, patient resolved under the
//!   contribution rule, search index extracted, `meta` stamped, one Provenance and one
//!   audit record per visit (one author's batch), many visits per database transaction.
//!
//! Resource ids are deterministic (`bench-obs-<patient>-<n>`, …) so the load generator can
//! read by id without a list. What the generator needs besides (person ids, codes, years)
//! goes to the manifest (`--manifest`), written again on every run from the database, so a
//! loaded database (SQLite dir or PostgreSQL) can be reused.

use anyhow::{bail, Context};
use chrono::TimeZone;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use renkei_core::clinical::{self, Author, ImportBatch};
use renkei_core::patients::{self, RegistrationInput};
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::patient::Requester;
use renkei_domain::{now_millis, FacilityStatus, Profession};
use renkei_storage::Store;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "fhir-load",
    about = "Load benchmark data into a Renkei database"
)]
struct Args {
    /// `sqlite://PATH` or `postgres://…` (the database must have been created by `renkei demo`).
    #[arg(long)]
    database_url: Option<String>,
    /// Data directory of `renkei demo` (SQLite); alternative to --database-url.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// The facility that registers the patients and writes the resources (code or ID).
    #[arg(long, default_value = "F00006")]
    facility: String,
    #[arg(long, default_value_t = 1000)]
    patients: usize,
    /// Total resources (Provenances not counted).
    #[arg(long, default_value_t = 1_000_000)]
    resources: usize,
    /// Resources per database transaction (whole patients; at least one patient).
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Transactions prepared concurrently (validation overlaps the previous commit).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where to write the manifest for the load generator (default: DATA_DIR/bench-manifest.txt).
    #[arg(long)]
    manifest: Option<std::path::PathBuf>,
}

const SETTING: &str = "bench_fhir_load";
const JLAC10: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
const UCUM: &str = "http://unitsofmeasure.org";
const ICD10: &str = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full";
const YJ: &str = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code";
const PROFILE: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// First and last year of the generated history (visits spread evenly over it).
const FIRST_YEAR: i32 = 2016;
const LAST_YEAR: i32 = 2025;
/// Laboratory observations per visit (a panel drawn from [`TESTS`]).
const LABS_PER_VISIT: usize = 12;

/// (JLAC10 code, display, unit, UCUM, mean, sd, decimals)
type TestDef = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    f64,
    f64,
    usize,
);
const TESTS: &[TestDef] = &[
    ("3D046000001906202", "HbA1c（NGSP）", "%", "%", 6.2, 0.8, 1),
    (
        "3C015000002327101",
        "クレアチニン",
        "mg/dL",
        "mg/dL",
        0.9,
        0.3,
        2,
    ),
    (
        "8A065000002391901",
        "eGFR",
        "mL/min/1.73m2",
        "mL/min/{1.73_m2}",
        65.0,
        15.0,
        1,
    ),
    (
        "3C025000002327101",
        "尿素窒素",
        "mg/dL",
        "mg/dL",
        16.0,
        4.0,
        1,
    ),
    (
        "3H015000002326101",
        "カリウム",
        "mmol/L",
        "mmol/L",
        4.2,
        0.4,
        1,
    ),
    (
        "3H010000002326101",
        "ナトリウム",
        "mmol/L",
        "mmol/L",
        140.0,
        2.5,
        0,
    ),
    (
        "2A030000001930101",
        "ヘモグロビン",
        "g/dL",
        "g/dL",
        13.0,
        1.5,
        1,
    ),
    (
        "3A015000002327101",
        "アルブミン",
        "g/dL",
        "g/dL",
        4.0,
        0.4,
        1,
    ),
    (
        "4Z271000002205201",
        "脳性Na利尿ペプチド（BNP）",
        "pg/mL",
        "pg/mL",
        60.0,
        40.0,
        1,
    ),
    (
        "3F077000002327101",
        "LDL-コレステロール",
        "mg/dL",
        "mg/dL",
        120.0,
        30.0,
        0,
    ),
    (
        "3B035000002327201",
        "AST（GOT）",
        "U/L",
        "U/L",
        24.0,
        8.0,
        0,
    ),
    (
        "3B045000002327201",
        "ALT（GPT）",
        "U/L",
        "U/L",
        22.0,
        10.0,
        0,
    ),
    (
        "5C070000002306201",
        "C反応性蛋白（CRP）",
        "mg/dL",
        "mg/dL",
        0.3,
        0.3,
        2,
    ),
    (
        "3F015000002327101",
        "総コレステロール",
        "mg/dL",
        "mg/dL",
        200.0,
        35.0,
        0,
    ),
    (
        "3F070000002327101",
        "HDL-コレステロール",
        "mg/dL",
        "mg/dL",
        55.0,
        12.0,
        0,
    ),
    (
        "3D010000001926101",
        "グルコース",
        "mg/dL",
        "mg/dL",
        105.0,
        20.0,
        0,
    ),
];
/// (ICD-10, name)
const DIAGNOSES: &[(&str, &str)] = &[
    ("I10", "本態性（原発性＜一次性＞）高血圧（症）"),
    ("E119", "2型糖尿病，合併症を伴わないもの"),
    ("E785", "高脂血症，詳細不明"),
    ("N184", "慢性腎臓病，ステージ4"),
    ("I500", "うっ血性心不全"),
    ("J189", "肺炎，詳細不明"),
    ("M8109", "閉経後骨粗しょう症，部位不明"),
    ("K219", "食道炎を伴わない胃食道逆流症"),
];
/// (YJ code, name, dose text)
const DRUGS: &[(&str, &str, &str)] = &[
    (
        "2149039F1020",
        "アムロジピン錠５ｍｇ",
        "1回1錠 1日1回 朝食後",
    ),
    (
        "3969007F1024",
        "メトホルミン塩酸塩錠２５０ｍｇ",
        "1回1錠 1日2回 朝夕食後",
    ),
    (
        "2189015F2026",
        "ロスバスタチン錠２．５ｍｇ",
        "1回1錠 1日1回 夕食後",
    ),
    (
        "2329023F1020",
        "ランソプラゾールＯＤ錠１５ｍｇ",
        "1回1錠 1日1回 朝食後",
    ),
    (
        "2139005F1023",
        "フロセミド錠２０ｍｇ",
        "1回1錠 1日1回 朝食後",
    ),
    (
        "1149019F1560",
        "ロキソプロフェンナトリウム錠６０ｍｇ",
        "1回1錠 疼痛時",
    ),
];

fn date_time(ms: i64) -> String {
    chrono::FixedOffset::east_opt(9 * 3600)
        .expect("JST")
        .timestamp_millis_opt(ms)
        .single()
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%S+09:00")
        .to_string()
}

fn date(ms: i64) -> String {
    date_time(ms)[..10].to_string()
}

fn year_start(y: i32) -> i64 {
    chrono::FixedOffset::east_opt(9 * 3600)
        .expect("JST")
        .with_ymd_and_hms(y, 1, 1, 0, 0, 0)
        .single()
        .expect("date")
        .timestamp_millis()
}

fn round(v: f64, decimals: usize) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (v * f).round() / f
}

fn profile(name: &str) -> Value {
    json!({ "profile": [format!("{PROFILE}{name}")] })
}

/// How many resources of each kind one patient gets: the sizing both the loader and the
/// manifest (for the load generator) use.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Resources for this patient.
    total: usize,
}

/// The resources of patient `p` (index) about `person`, grouped per visit (one author's
/// batch each, as an EHR would send them), and the number of Observations written.
fn patient_resources(
    seed: u64,
    p: usize,
    person: &str,
    plan: Plan,
) -> (Vec<Vec<(String, Value)>>, usize) {
    let mut rng = StdRng::seed_from_u64(seed ^ (p as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let subject = json!({ "reference": format!("Patient/{person}") });
    let start = year_start(FIRST_YEAR);
    let end = year_start(LAST_YEAR + 1);
    // Visit: Encounter + labs + one prescription, a diagnosis every 8th visit.
    let per_visit = 1 + LABS_PER_VISIT + 1;
    let visits = (plan.total.saturating_sub(1)).div_ceil(per_visit).max(1);
    let step = (end - start) / visits as i64;
    let mut left = plan.total;
    let mut groups = Vec::with_capacity(visits + 1);
    let (mut n_obs, mut n_enc, mut n_med, mut n_cond) = (0usize, 0usize, 0usize, 0usize);

    // An allergy, recorded at the first visit (its own batch).
    if left > 0 {
        let allergy = json!({
            "resourceType": "AllergyIntolerance",
            "meta": profile("JP_AllergyIntolerance"),
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] },
            "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed" }] },
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high",
            "code": { "text": "ペニシリン系抗菌薬" },
            "patient": subject,
            "recordedDate": date_time(start + 3_600_000),
            "reaction": [{ "manifestation": [{ "text": "蕁麻疹" }], "severity": "moderate" }],
        });
        groups.push(vec![(format!("bench-alg-{p}-0"), allergy)]);
        left -= 1;
    }
    let mut visit = 0;
    while left > 0 {
        let at = start + visit as i64 * step + rng.gen_range(0..step.max(2) / 2);
        let mut group = Vec::with_capacity(per_visit + 1);
        let enc_id = format!("bench-enc-{p}-{n_enc}");
        n_enc += 1;
        group.push((
            enc_id.clone(),
            json!({
                "resourceType": "Encounter",
                "meta": profile("JP_Encounter"),
                "status": "finished",
                "class": { "system": ACT_CODE, "code": "AMB", "display": "ambulatory" },
                "type": [{ "text": "外来診療" }],
                "serviceType": { "text": "内科" },
                "subject": subject,
                "period": { "start": date_time(at), "end": date_time(at + 1_800_000) },
            }),
        ));
        left -= 1;
        let encounter = json!({ "reference": format!("Encounter/{enc_id}") });
        let first = rng.gen_range(0..TESTS.len());
        for i in 0..LABS_PER_VISIT {
            if left == 0 {
                break;
            }
            let (code, display, unit, ucum, mean, sd, decimals) = TESTS[(first + i) % TESTS.len()];
            let noise: f64 = (0..4).map(|_| rng.gen_range(-1.0..1.0)).sum::<f64>() * 0.866;
            let value = round((mean + noise * sd).max(0.0), decimals);
            let flag = if value > mean + 1.5 * sd {
                ("H", "High")
            } else if value < mean - 1.5 * sd {
                ("L", "Low")
            } else {
                ("N", "Normal")
            };
            group.push((
                format!("bench-obs-{p}-{n_obs}"),
                json!({
                    "resourceType": "Observation",
                    "meta": profile("JP_Observation_LabResult"),
                    "status": "final",
                    "category": [{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": "laboratory", "display": "Laboratory" }] }],
                    "code": { "coding": [{ "system": JLAC10, "code": code, "display": display }], "text": display },
                    "subject": subject,
                    "encounter": encounter,
                    "effectiveDateTime": date_time(at + 600_000),
                    "valueQuantity": { "value": value, "unit": unit, "system": UCUM, "code": ucum },
                    "referenceRange": [{
                        "low": { "value": round((mean - 1.5 * sd).max(0.0), decimals), "unit": unit, "system": UCUM, "code": ucum },
                        "high": { "value": round(mean + 1.5 * sd, decimals), "unit": unit, "system": UCUM, "code": ucum }
                    }],
                    "interpretation": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": flag.0, "display": flag.1 }] }],
                }),
            ));
            n_obs += 1;
            left -= 1;
        }
        if left > 0 {
            let (yj, name, dosage) = DRUGS[rng.gen_range(0..DRUGS.len())];
            group.push((
                format!("bench-med-{p}-{n_med}"),
                json!({
                    "resourceType": "MedicationRequest",
                    "meta": profile("JP_MedicationRequest"),
                    "identifier": [{ "system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/Medication-RPGroupNumber", "value": "1" }],
                    "status": "completed",
                    "intent": "order",
                    "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "outpatient" }] }],
                    "medicationCodeableConcept": { "coding": [{ "system": YJ, "code": yj, "display": name }], "text": name },
                    "subject": subject,
                    "encounter": encounter,
                    "authoredOn": date_time(at + 1_200_000),
                    "dosageInstruction": [{ "text": dosage, "doseAndRate": [{ "doseQuantity": { "value": 1, "unit": "錠" } }] }],
                    "dispenseRequest": {
                        "quantity": { "value": 28, "unit": "錠" },
                        "expectedSupplyDuration": { "value": 28, "unit": "日", "system": UCUM, "code": "d" }
                    },
                }),
            ));
            n_med += 1;
            left -= 1;
        }
        if left > 0 && visit % 8 == 0 {
            let (icd, name) = DIAGNOSES[rng.gen_range(0..DIAGNOSES.len())];
            group.push((
                format!("bench-cond-{p}-{n_cond}"),
                json!({
                    "resourceType": "Condition",
                    "meta": profile("JP_Condition"),
                    "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
                    "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
                    "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis" }] }],
                    "code": { "coding": [{ "system": ICD10, "code": icd, "display": name }], "text": name },
                    "subject": subject,
                    "encounter": encounter,
                    "onsetDateTime": date(at),
                    "recordedDate": date_time(at + 1_500_000),
                }),
            ));
            n_cond += 1;
            left -= 1;
        }
        groups.push(group);
        visit += 1;
    }
    (groups, n_obs)
}

/// Observations patient `p` gets: the same walk as [`patient_resources`], counted.
fn observations_of(plan: Plan) -> usize {
    let mut left = plan.total.saturating_sub(1);
    let (mut n_obs, mut visit) = (0usize, 0usize);
    while left > 0 {
        left -= 1; // Encounter
        let labs = LABS_PER_VISIT.min(left);
        n_obs += labs;
        left -= labs;
        left = left.saturating_sub(1); // MedicationRequest
        if left > 0 && visit % 8 == 0 {
            left -= 1; // Condition
        }
        visit += 1;
    }
    n_obs
}

fn synthetic_registration(rng: &mut StdRng, i: usize) -> RegistrationInput {
    // The patient-index generator's name tables (kanji with katakana readings).
    use renkei_mpi::synth::names::{FEMALE_NAMES, MALE_NAMES, SURNAMES};
    let (fk, fkana) = SURNAMES[rng.gen_range(0..SURNAMES.len())];
    let (given, sex) = if rng.gen_bool(0.5) {
        (MALE_NAMES, "male")
    } else {
        (FEMALE_NAMES, "female")
    };
    let (gk, gkana) = given[rng.gen_range(0..given.len())];
    let birth = chrono::NaiveDate::from_ymd_opt(1930, 1, 1).expect("date")
        + chrono::Duration::days(rng.gen_range(0..26_000));
    RegistrationInput {
        local_id: format!("BENCH{i:06}"),
        family_kanji: fk.into(),
        given_kanji: gk.into(),
        family_kana: fkana.into(),
        given_kana: gkana.into(),
        birth_date: birth.format("%Y-%m-%d").to_string(),
        sex: sex.into(),
        postal_code: "053-0000".into(),
        address: format!("北海道苫小牧市ベンチ町{}丁目{}番", i % 9 + 1, i % 40 + 1),
        phone: format!("0144-{:02}-{:04}", 10 + i % 90, i % 10_000),
        ..Default::default()
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = match (&args.database_url, &args.data_dir) {
        (Some(u), _) => u.clone(),
        (None, Some(d)) => format!("sqlite://{}", d.join("renkei.db").display()),
        (None, None) => bail!("give --database-url or --data-dir"),
    };
    let manifest_path = match (&args.manifest, &args.data_dir) {
        (Some(m), _) => m.clone(),
        (None, Some(d)) => d.join("bench-manifest.txt"),
        (None, None) => bail!("give --manifest with --database-url"),
    };
    anyhow::ensure!(args.patients > 0, "--patients must be positive");
    let store: Arc<dyn Store> = renkei_storage_sql::connect(&url, 8)
        .await
        .with_context(|| format!("opening {url}"))?;
    anyhow::ensure!(
        store.get_setting("demo_network").await?.as_deref() == Some("true"),
        "{url} is not a demo database: start `renkei demo` on it once first"
    );
    let facility = renkei_core::facilities::find(store.as_ref(), &args.facility)
        .await?
        .with_context(|| format!("no facility {}", args.facility))?;
    anyhow::ensure!(
        facility.status == FacilityStatus::Active,
        "facility {} is not active",
        args.facility
    );
    let wanted = json!({
        "facility": facility.id, "patients": args.patients, "resources": args.resources, "seed": args.seed
    })
    .to_string();
    let done = store.get_setting(SETTING).await?;
    let per_patient = |p: usize| Plan {
        total: args.resources / args.patients + usize::from(p < args.resources % args.patients),
    };
    let id_system = patients::local_id_system(&facility);
    let author = Author {
        requester: Requester {
            user_id: format!("bench-loader:{}", facility.id),
            facility_id: Some(facility.id.clone()),
            facility_type: Some(facility.facility_type),
            profession: Profession::Other,
            is_secretariat: false,
        },
        login_id: "bench-fhir-load".into(),
        facility_id: facility.id.clone(),
        source_system: "bench:fhir-load".into(),
        ip: None,
        user_agent: None,
    };

    // Patients: registered once through the patient index (reused when present).
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut persons = Vec::with_capacity(args.patients);
    let mut registered = 0usize;
    for i in 0..args.patients {
        let input = synthetic_registration(&mut rng, i);
        if let Some(r) = store
            .find_patient_record(&facility.id, &id_system, &input.local_id)
            .await?
        {
            persons.push(
                store
                    .resolve_person(&r.person_id)
                    .await?
                    .unwrap_or(r.person_id),
            );
            continue;
        }
        if done.is_some() {
            bail!(
                "the database holds a different benchmark load ({}); use a fresh one",
                done.unwrap_or_default()
            );
        }
        let now = now_millis();
        let record = patients::validate(&facility, &input, "bench-fhir-load", false, now)
            .map_err(|e| anyhow::anyhow!("registration {i}: {e:?}"))?;
        let audit = AuditEntry::new("patient.register", Outcome::Success)
            .actor(None, Some("bench-fhir-load"), Some(&facility.id))
            .target("patient_record", &record.id);
        let reg = patients::register(store.as_ref(), record, audit)
            .await
            .map_err(|e| anyhow::anyhow!("registering patient {i}: {e}"))?;
        persons.push(reg.record.person_id);
        registered += 1;
    }
    let distinct: std::collections::BTreeSet<&String> = persons.iter().collect();
    eprintln!(
        "fhir-load: {} patients at {} ({} registered now, {} distinct persons) in {:.1} s",
        args.patients,
        facility.code.as_deref().unwrap_or(&facility.id),
        registered,
        distinct.len(),
        started.elapsed().as_secs_f64()
    );

    match done.as_deref() {
        Some(d) if d == wanted => {
            eprintln!("fhir-load: resources already loaded ({d}); writing the manifest only");
        }
        Some(d) => bail!("the database holds a different benchmark load ({d}); use a fresh one"),
        None => {
            if store
                .fhir_read("Observation", "bench-obs-0-0")
                .await?
                .is_some()
            {
                bail!("an earlier load was interrupted (resources present, not marked complete); use a fresh database");
            }
            load_resources(&store, &author, &persons, &args, per_patient).await?;
            store.set_setting(SETTING, &wanted).await?;
        }
    }

    // The manifest for the load generator.
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&manifest_path)
            .with_context(|| format!("creating {}", manifest_path.display()))?,
    );
    writeln!(out, "facility {}", facility.id)?;
    writeln!(out, "years {FIRST_YEAR} {LAST_YEAR}")?;
    for t in TESTS {
        writeln!(out, "code {JLAC10}|{}", t.0)?;
    }
    for (p, person) in persons.iter().enumerate() {
        writeln!(
            out,
            "patient {p} {person} {}",
            observations_of(per_patient(p))
        )?;
    }
    out.flush()?;
    eprintln!("fhir-load: manifest {}", manifest_path.display());
    Ok(())
}

async fn load_resources(
    store: &Arc<dyn Store>,
    author: &Author,
    persons: &[String],
    args: &Args,
    per_patient: impl Fn(usize) -> Plan,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let per = (args.resources / args.patients).max(1);
    let patients_per_txn = (args.batch / per).max(1);
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    for p in 0..persons.len() {
        match chunks.last_mut() {
            Some(c) if c.len() < patients_per_txn => c.push(p),
            _ => chunks.push(vec![p]),
        }
    }
    let jobs = args.jobs.max(1);
    let mut running = tokio::task::JoinSet::new();
    let mut written = 0usize;
    let mut visits = 0usize;
    let mut last_report = Instant::now();
    let mut pending = chunks.into_iter();
    loop {
        while running.len() < jobs {
            let Some(chunk) = pending.next() else { break };
            let store = store.clone();
            let batches: Vec<(String, usize)> =
                chunk.iter().map(|&p| (persons[p].clone(), p)).collect();
            let plans: Vec<Plan> = chunk.iter().map(|&p| per_patient(p)).collect();
            let author = author.clone();
            let seed = args.seed;
            running.spawn(async move {
                let mut import = Vec::new();
                for ((person, p), plan) in batches.into_iter().zip(plans) {
                    let (groups, _) = patient_resources(seed, p, &person, plan);
                    for resources in groups {
                        import.push(ImportBatch {
                            author: author.clone(),
                            patient: format!("Patient/{person}"),
                            resources,
                        });
                    }
                }
                let n_batches = import.len();
                let n = clinical::import(store.as_ref(), import, "fhir.create", now_millis())
                    .await
                    .map_err(|e| anyhow::anyhow!("import: {e}"))?;
                anyhow::Ok((n, n_batches))
            });
        }
        let Some(res) = running.join_next().await else {
            break;
        };
        let (n, b) = res??;
        written += n;
        visits += b;
        if last_report.elapsed().as_secs() >= 10 {
            last_report = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "fhir-load: {written} resources in {secs:.0} s ({:.0}/s)",
                written as f64 / secs
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "fhir-load: wrote {written} resources (+{visits} Provenances, {visits} audit records) in {secs:.1} s = {:.0} resources/s",
        written as f64 / secs
    );
    // The JSON line the driver records.
    println!(
        "{}",
        json!({
            "bench": "fhir_load", "backend": store.backend_name(), "resources": written,
            "provenances": visits, "patients": persons.len(), "seconds": (secs * 10.0).round() / 10.0,
            "resources_per_s": (written as f64 / secs).round(),
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifest's Observation count is what the loader writes, and the ids are dense.
    #[test]
    fn counts_match_generation() {
        for total in [0, 1, 2, 13, 14, 15, 100, 999, 1000, 1001] {
            let (groups, n_obs) = patient_resources(7, 3, "p", Plan { total });
            let all: Vec<&(String, Value)> = groups.iter().flatten().collect();
            assert_eq!(all.len(), total, "total {total}");
            assert_eq!(observations_of(Plan { total }), n_obs, "total {total}");
            for k in 0..n_obs {
                let id = format!("bench-obs-3-{k}");
                assert!(all.iter().any(|(i, _)| *i == id), "{id}");
            }
        }
    }

    /// Every generated resource passes the validation the write path applies.
    #[test]
    fn resources_are_valid() {
        let (groups, _) = patient_resources(7, 0, "person-1", Plan { total: 60 });
        for (id, mut r) in groups.into_iter().flatten() {
            r["id"] = json!(id);
            if let Err(issues) = renkei_fhir::resource::prepare(&r) {
                panic!("{id}: {issues:?}");
            }
        }
    }
}
