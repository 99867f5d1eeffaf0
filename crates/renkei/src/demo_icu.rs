//! The demo's Tele-ICU: the main hospital is the support centre and has an ICU; a second
//! hospital has an HCU watched by it. Synthetic patients lie in every bed and a monitor
//! simulator (`renkei_icu::simulate`) pushes their vitals over the real MLLP listener, so a
//! newcomer sees a live centre at once.

use anyhow::Context;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::{ids, FacilityStatus, FacilityType};
use renkei_icu::simulate::{SimConfig, Simulator};
use renkei_storage::icu::{IcuBed, IcuStay, IcuUnit};
use renkei_storage::{Facility, FacilityQuery, NewPatientRecord, Store};

const BEDS: usize = 12;
const SEED: u64 = 2026;

async fn hospitals(store: &dyn Store) -> anyhow::Result<(Facility, Facility)> {
    let doctor = store
        .get_user_by_login("hospital.doctor")
        .await?
        .context("the demo's hospital.doctor is missing")?;
    let main = store
        .memberships_of(&doctor.id)
        .await?
        .into_iter()
        .next()
        .context("hospital.doctor has no facility")?
        .facility;
    let others = store
        .search_facilities(&FacilityQuery {
            status: Some(FacilityStatus::Active),
            facility_type: Some(FacilityType::Hospital),
            limit: 50,
            ..Default::default()
        })
        .await?;
    let second = others
        .items
        .into_iter()
        .find(|f| f.id != main.id && f.code.is_some())
        .context("the demo has no second hospital")?;
    Ok((main, second))
}

fn sim_config(main: &Facility, second: &Facility) -> SimConfig {
    SimConfig {
        beds: BEDS,
        seed: SEED,
        facilities: vec![
            main.code.clone().unwrap_or_else(|| main.id.clone()),
            second.code.clone().unwrap_or_else(|| second.id.clone()),
        ],
        start: renkei_domain::now_millis(),
        admit: false,
        ..SimConfig::default()
    }
}

/// Creates units, beds, patients and stays once; returns the simulator configuration
/// either way.
pub async fn seed(store: &dyn Store) -> anyhow::Result<SimConfig> {
    let (main, second) = hospitals(store).await?;
    let config = sim_config(&main, &second);
    if !store.icu().icu_units().await?.is_empty() {
        return Ok(config);
    }
    let now = renkei_domain::now_millis();
    let audit = |action: &str| {
        AuditEntry::new(action, Outcome::Success).detail(serde_json::json!({ "demo": true }))
    };
    let units = [
        (&main, "ICU", "集中治療室（ICU）", "icu", "#1f6fb4"),
        (&second, "HCU", "高度治療室（HCU）", "hcu", "#b45f1f"),
    ];
    let mut unit_ids = Vec::new();
    for (facility, code, name, kind, colour) in units {
        let unit = IcuUnit {
            id: ids::new_id(),
            facility_id: facility.id.clone(),
            centre_facility_id: main.id.clone(),
            code: code.into(),
            name: name.into(),
            kind: kind.into(),
            colour: colour.into(),
            // The simulator sends every few seconds; real monitors every minute.
            sampling_seconds: 15,
            active: true,
            updated_at: now,
        };
        unit_ids.push((facility.id.clone(), unit.id.clone()));
        store
            .icu()
            .icu_put_unit(unit, audit("icu.unit.create"))
            .await?;
    }
    let simulator = Simulator::new(config.clone());
    for (n, bed) in simulator.beds().into_iter().enumerate() {
        let facility = if bed.hospital == 0 { &main } else { &second };
        let unit_id = &unit_ids[bed.hospital.min(1)].1;
        let icu_bed = IcuBed {
            id: ids::new_id(),
            unit_id: unit_id.clone(),
            facility_id: facility.id.clone(),
            label: bed
                .bed
                .replace("BED-", if bed.hospital == 0 { "ICU-" } else { "HCU-" }),
            monitor_key: bed.bed.clone(),
            position: n as i64,
            active: true,
            updated_at: now,
        };
        store
            .icu()
            .icu_put_bed(icu_bed.clone(), audit("icu.bed.create"))
            .await?;
        let birth = &bed.birth_date;
        let record = NewPatientRecord {
            id: ids::new_id(),
            facility_id: facility.id.clone(),
            id_system: renkei_core::patients::local_id_system(facility),
            local_id: bed.patient_id.clone(),
            family_kanji: bed.family.clone(),
            given_kanji: bed.given.clone(),
            family_kana: bed.family_kana.clone(),
            given_kana: bed.given_kana.clone(),
            previous_names: Vec::new(),
            birth_date: format!("{}-{}-{}", &birth[0..4], &birth[4..6], &birth[6..8]),
            sex: if bed.sex == 'F' {
                renkei_domain::patient::Sex::Female
            } else {
                renkei_domain::patient::Sex::Male
            },
            postal_code: String::new(),
            address: String::new(),
            phones: Vec::new(),
            insurance_numbers: Vec::new(),
            care_level: renkei_domain::patient::CareLevel::None,
            block_keys: Vec::new(),
            is_test: false,
            created_by: "demo".into(),
            created_at: now,
        };
        let mut record = record;
        record.block_keys = renkei_core::patients::block_keys_of(&record);
        let registered = renkei_core::patients::register(store, record, audit("patient.register"))
            .await
            .map_err(|e| anyhow::anyhow!("registering demo ICU patient: {e}"))?;
        let stay = IcuStay {
            id: ids::new_id(),
            bed_id: icu_bed.id.clone(),
            facility_id: facility.id.clone(),
            person_id: registered.record.person_id.clone(),
            record_id: registered.record.id.clone(),
            local_id: registered.record.local_id.clone(),
            admitted_at: now,
            admitted_by: "demo".into(),
            details: serde_json::json!({
                "admission_type": "medical",
                "diagnosis": format!("{:?}", bed.scenario),
                "attending": "集中 太郎",
                "chronic": [],
                "news2_scale2": false,
            })
            .to_string(),
            is_test: false,
            discharged_at: None,
            discharged_by: None,
            discharge_summary: None,
        };
        store.icu().icu_admit(stay, audit("icu.admit")).await?;
    }
    Ok(config)
}

/// Sends the simulator's messages to the MLLP listener at `addr` every second, for as
/// long as the process runs. Connection trouble is logged and retried.
pub fn spawn_simulator(config: SimConfig, addr: std::net::SocketAddr) {
    tokio::spawn(async move {
        let mut simulator = Simulator::new(config);
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let options = renkei_hl7::mllp::ClientOptions::default();
        loop {
            tick.tick().await;
            for (_, text) in simulator.tick(renkei_domain::now_millis()) {
                if let Err(e) =
                    renkei_hl7::mllp::send_and_receive_with(addr, text.as_bytes(), &options).await
                {
                    tracing::warn!(error = %e, "demo monitor simulator could not send");
                    break;
                }
            }
        }
    });
}
