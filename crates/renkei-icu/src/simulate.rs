//! A deterministic simulator of monitored ICU beds, producing HL7 v2 messages exactly
//! as a hospital would send them: ADT^A01 to admit each bed's patient, then ORU^R01
//! with minute vitals in the IHE PCD-01 form (even-numbered hospitals) or the Nihon
//! Kohden gateway form (odd-numbered ones).
//!
//! Each bed follows a scenario — stable, sepsis (over about an hour: heart rate,
//! respiratory rate and temperature rise, blood pressure falls) or respiratory failure
//! (SpO2 falls, respiratory rate and FiO2 rise) — with physiological noise, artefacts a
//! real ICU produces (a lone SpO2 of 40 from a loose probe, a heart-rate spike from
//! motion, an occasional impossible value from a faulty sensor) and dropouts (a bed
//! stops sending for a few minutes).
//!
//! Everything depends only on the configuration (seed included) and the `now` values
//! given to [`Simulator::tick`], so a run can be repeated exactly. The random number
//! generator is a local SplitMix64 for the same reason: no dependency whose stream could
//! change between versions. Identities are synthetic (common family and given names
//! combined at random, `SIM` patient IDs); no real person is represented.

use crate::oru::MessageForm;
use crate::time::format_ts_jst;

/// How a bed's patient evolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Noise around a normal baseline.
    Stable,
    /// Rising HR, RR and temperature, falling blood pressure over about an hour.
    Sepsis,
    /// Falling SpO2, rising RR and FiO2 over about an hour.
    Respiratory,
}

impl Scenario {
    /// `stable`, `sepsis`, `respiratory`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Stable => "stable",
            Scenario::Sepsis => "sepsis",
            Scenario::Respiratory => "respiratory",
        }
    }
}

/// Which scenarios the beds get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioChoice {
    /// Beds rotate through stable, sepsis, stable, respiratory, shifted by one per
    /// hospital so that both message forms see every scenario.
    Mix,
    /// Every bed follows the same scenario.
    All(Scenario),
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of beds.
    pub beds: usize,
    /// Seed: the same seed, configuration and `now` sequence give the same messages.
    pub seed: u64,
    /// Scenarios.
    pub scenario: ScenarioChoice,
    /// MSH-4 values, one per hospital; beds are spread across them in blocks. Even
    /// positions (0, 2…) send PCD-01, odd ones the Nihon Kohden form.
    pub facilities: Vec<String>,
    /// Bed label prefix; beds are numbered per hospital from 001 (`BED-001`).
    pub bed_prefix: String,
    /// Patient ID prefix (PID-3 = prefix + hospital number + bed number: `SIM010001`).
    pub patient_prefix: String,
    /// Scenario clock origin and control-ID stem (UTC milliseconds). Messages of runs
    /// with different starts have different control IDs, so they are not duplicates.
    pub start: i64,
    /// MSH-11 (`P`; `T` for a test environment that accepts training messages).
    pub processing_id: String,
    /// Send ADT^A01 for each bed before its first observations.
    pub admit: bool,
    /// Produce artefacts and impossible values.
    pub artefacts: bool,
    /// Let beds stop sending now and then.
    pub dropouts: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            beds: 8,
            seed: 1,
            scenario: ScenarioChoice::Mix,
            facilities: vec!["F00001".into(), "F00002".into()],
            bed_prefix: "BED-".into(),
            patient_prefix: "SIM".into(),
            start: 0,
            processing_id: "P".into(),
            admit: true,
            artefacts: true,
            dropouts: true,
        }
    }
}

/// Who lies in a simulated bed and how its monitor talks.
#[derive(Debug, Clone, PartialEq)]
pub struct BedIdentity {
    /// Position of the hospital in [`SimConfig::facilities`].
    pub hospital: usize,
    /// MSH-4 of the hospital.
    pub facility: String,
    /// PV1-3 point of care.
    pub unit: String,
    /// PV1-3 bed (`BED-001`).
    pub bed: String,
    /// PID-3 (`SIM010001`).
    pub patient_id: String,
    /// Family name in kanji.
    pub family: String,
    /// Given name in kanji.
    pub given: String,
    /// Family name in katakana.
    pub family_kana: String,
    /// Given name in katakana.
    pub given_kana: String,
    /// `M` or `F`.
    pub sex: char,
    /// `YYYYMMDD`.
    pub birth_date: String,
    /// Message layout.
    pub form: MessageForm,
    /// PCD-01 codes written as Philips MDIL `partition-term` (system `MDIL`).
    pub mdil_codes: bool,
    /// Scenario.
    pub scenario: Scenario,
    /// Invasive arterial pressure (else NIBP every 15 minutes).
    pub arterial_line: bool,
    /// FiO2 sent (ventilator connected; PCD-01 beds only).
    pub ventilated: bool,
    /// Rectal temperature probe (PCD-01 beds only).
    pub rectal_probe: bool,
    /// Device EUI-64 (OBX-18).
    pub device: String,
}

/// Why a message was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimMessageKind {
    /// ADT^A01.
    Admit,
    /// ORU^R01.
    Observations,
}

/// One simulated message with what it should parse to.
#[derive(Debug, Clone)]
pub struct SimMessage {
    /// Bed index.
    pub bed: usize,
    /// ADT or ORU.
    pub kind: SimMessageKind,
    /// MSH-10.
    pub control_id: String,
    /// The message (segments separated by CR).
    pub text: String,
    /// Time of the observations (UTC milliseconds).
    pub at: i64,
    /// Plausible values sent, as (item, value in the canonical unit), message order.
    pub values: Vec<(&'static str, f64)>,
    /// Items sent with a physically impossible value (to be dropped by the receiver).
    pub impossible: Vec<&'static str>,
}

const FAMILY: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
];
const GIVEN: &[(&str, &str, char)] = &[
    ("太郎", "タロウ", 'M'),
    ("一郎", "イチロウ", 'M'),
    ("健", "ケン", 'M'),
    ("誠", "マコト", 'M'),
    ("翔太", "ショウタ", 'M'),
    ("花子", "ハナコ", 'F'),
    ("恵子", "ケイコ", 'F'),
    ("美咲", "ミサキ", 'F'),
    ("陽子", "ヨウコ", 'F'),
    ("由美", "ユミ", 'F'),
];

const MINUTE: i64 = 60_000;
const HOUR: f64 = 3_600_000.0;
/// How long a scenario takes to reach its worst.
const RAMP: f64 = HOUR;
const NIBP_EVERY: i64 = 15 * MINUTE;

/// SplitMix64: small, fast, and stable forever.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed);
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Baselines and the current noise of one bed.
#[derive(Debug, Clone)]
struct Physiology {
    hr: f64,
    sbp: f64,
    dbp: f64,
    rr: f64,
    temp: f64,
    spo2: f64,
    cvp: f64,
    fio2: f64,
    /// AR(1) noise per parameter, in the order of `SIGMA`.
    noise: [f64; 7],
}

/// Noise per minute-sample: hr, sbp, dbp, rr, temp, spo2, cvp.
const SIGMA: [f64; 7] = [2.0, 3.0, 2.0, 1.2, 0.05, 0.6, 1.0];

#[derive(Debug, Clone)]
struct BedState {
    identity: BedIdentity,
    rng: Rng,
    base: Physiology,
    onset: i64,
    admitted: bool,
    last_tick: Option<i64>,
    last_nibp: Option<i64>,
    dropout_until: i64,
}

/// The simulator. See the module documentation.
#[derive(Debug, Clone)]
pub struct Simulator {
    config: SimConfig,
    beds: Vec<BedState>,
    sequence: u64,
}

impl Simulator {
    /// Beds and their identities are fixed here, from the seed.
    pub fn new(config: SimConfig) -> Simulator {
        let facilities = if config.facilities.is_empty() {
            vec!["F00001".to_string()]
        } else {
            config.facilities.clone()
        };
        let n = config.beds;
        let hospitals = facilities.len();
        let mut per_hospital = vec![0usize; hospitals];
        let beds = (0..n)
            .map(|i| {
                // Blocks: the first n/h beds at the first hospital, and so on.
                let hospital = (i * hospitals / n.max(1)).min(hospitals - 1);
                per_hospital[hospital] += 1;
                let local = per_hospital[hospital];
                let mut rng =
                    Rng::new(config.seed ^ (i as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
                let scenario = match config.scenario {
                    ScenarioChoice::All(s) => s,
                    ScenarioChoice::Mix => [
                        Scenario::Stable,
                        Scenario::Sepsis,
                        Scenario::Stable,
                        Scenario::Respiratory,
                    ][(i + hospital) % 4],
                };
                let form = if hospital % 2 == 0 {
                    MessageForm::Pcd01
                } else {
                    MessageForm::NihonKohden
                };
                let (family, family_kana) = FAMILY[rng.below(FAMILY.len())];
                let (given, given_kana, sex) = GIVEN[rng.below(GIVEN.len())];
                let year = 1935 + rng.below(55);
                let month = 1 + rng.below(12);
                let day = 1 + rng.below(28);
                let pcd = form == MessageForm::Pcd01;
                let identity = BedIdentity {
                    hospital,
                    facility: facilities[hospital].clone(),
                    unit: "ICU".into(),
                    bed: format!("{}{local:03}", config.bed_prefix),
                    patient_id: format!("{}{:02}{local:04}", config.patient_prefix, hospital + 1),
                    family: family.into(),
                    given: given.into(),
                    family_kana: family_kana.into(),
                    given_kana: given_kana.into(),
                    sex,
                    birth_date: format!("{year}{month:02}{day:02}"),
                    form,
                    mdil_codes: pcd && hospital % 4 == 2,
                    scenario,
                    arterial_line: scenario == Scenario::Sepsis || rng.chance(0.5),
                    ventilated: pcd && (scenario == Scenario::Respiratory || rng.chance(0.3)),
                    rectal_probe: pcd && rng.chance(0.3),
                    device: format!("0019AFFFFE{:06X}", rng.next_u64() & 0xFF_FFFF),
                };
                let base = Physiology {
                    hr: rng.range(68.0, 92.0),
                    sbp: rng.range(112.0, 138.0),
                    dbp: rng.range(60.0, 78.0),
                    rr: rng.range(12.0, 18.0),
                    temp: rng.range(36.5, 37.2),
                    spo2: rng.range(95.5, 99.0),
                    cvp: rng.range(4.0, 10.0),
                    fio2: if scenario == Scenario::Respiratory {
                        0.35
                    } else {
                        (rng.range(0.25, 0.4) * 20.0).round() / 20.0
                    },
                    noise: [0.0; 7],
                };
                let onset = config.start + (rng.range(2.0, 15.0) * MINUTE as f64) as i64;
                BedState {
                    identity,
                    rng,
                    base,
                    onset,
                    admitted: false,
                    last_tick: None,
                    last_nibp: None,
                    dropout_until: i64::MIN,
                }
            })
            .collect();
        Simulator {
            config,
            beds,
            sequence: 0,
        }
    }

    /// The beds, in index order.
    pub fn beds(&self) -> Vec<&BedIdentity> {
        self.beds.iter().map(|b| &b.identity).collect()
    }

    /// The messages due at `now` (UTC milliseconds), as (bed index, HL7 text).
    pub fn tick(&mut self, now: i64) -> Vec<(usize, String)> {
        self.tick_detailed(now)
            .into_iter()
            .map(|m| (m.bed, m.text))
            .collect()
    }

    /// [`Simulator::tick`] with the values each message carries, for tests and reports.
    pub fn tick_detailed(&mut self, now: i64) -> Vec<SimMessage> {
        let mut out = Vec::new();
        for index in 0..self.beds.len() {
            if self.config.admit && !self.beds[index].admitted {
                let control_id = self.next_control_id();
                let bed = &mut self.beds[index];
                bed.admitted = true;
                out.push(SimMessage {
                    bed: index,
                    kind: SimMessageKind::Admit,
                    text: admit_message(&bed.identity, &control_id, &self.config, now),
                    control_id,
                    at: now,
                    values: Vec::new(),
                    impossible: Vec::new(),
                });
            }
            let dt = {
                let bed = &mut self.beds[index];
                let dt = bed.last_tick.map_or(0, |t| (now - t).max(0)) as f64;
                bed.last_tick = Some(now);
                dt
            };
            if self.config.dropouts {
                let bed = &mut self.beds[index];
                if now < bed.dropout_until {
                    continue;
                }
                // About one dropout per bed every two hours, lasting 1–5 minutes.
                if bed.rng.chance(0.5 * dt / HOUR) {
                    bed.dropout_until = now + (bed.rng.range(1.0, 5.0) * MINUTE as f64) as i64;
                    continue;
                }
            }
            let control_id = self.next_control_id();
            let artefacts = self.config.artefacts;
            let bed = &mut self.beds[index];
            let sample = sample(bed, now, dt, artefacts);
            let (text, values, impossible) =
                observation_message(bed, &sample, &control_id, &self.config, now);
            out.push(SimMessage {
                bed: index,
                kind: SimMessageKind::Observations,
                control_id,
                text,
                at: now,
                values,
                impossible,
            });
        }
        out
    }

    fn next_control_id(&mut self) -> String {
        self.sequence += 1;
        // ≤ 20 characters (MSH-10 in v2.4/2.5) for any realistic run.
        format!(
            "S{:08X}-{}",
            (self.config.start / 1000) as u32,
            self.sequence
        )
    }
}

/// One minute's values for a bed, before rounding and formatting.
#[derive(Debug, Clone)]
struct Sample {
    hr: f64,
    pr: f64,
    sbp: f64,
    dbp: f64,
    rr: f64,
    temp: f64,
    spo2: f64,
    cvp: f64,
    fio2: f64,
    nibp_due: bool,
    /// SpO2 sent as an impossible value (sensor fault).
    spo2_fault: bool,
}

fn sample(bed: &mut BedState, now: i64, dt: f64, artefacts: bool) -> Sample {
    let p = ((now - bed.onset) as f64 / RAMP).clamp(0.0, 1.0);
    let b = bed.base.clone();
    for (i, sigma) in SIGMA.iter().enumerate() {
        bed.base.noise[i] = 0.8 * bed.base.noise[i] + sigma * bed.rng.normal();
    }
    let e = bed.base.noise;
    let (mut hr, mut sbp, mut dbp, mut rr, mut temp, mut spo2, mut fio2) =
        (b.hr, b.sbp, b.dbp, b.rr, b.temp, b.spo2, b.fio2);
    match bed.identity.scenario {
        Scenario::Stable => {}
        Scenario::Sepsis => {
            hr += 45.0 * p;
            rr += 12.0 * p;
            temp += 2.2 * p;
            sbp -= 40.0 * p;
            dbp -= 22.0 * p;
        }
        Scenario::Respiratory => {
            spo2 -= 11.0 * p;
            rr += 16.0 * p;
            hr += 20.0 * p;
            // The bedside team turns the oxygen up in steps of 5 %.
            fio2 = ((0.35 + 0.5 * p) * 20.0).round() / 20.0;
        }
    }
    hr += e[0];
    sbp += e[1];
    dbp += e[2];
    rr += e[3];
    temp += e[4];
    spo2 = (spo2 + e[5]).min(100.0);
    let pr = hr + bed.rng.normal();
    let mut spo2_fault = false;
    if artefacts {
        // Per bed and hour: one loose probe, one motion spike, half a sensor fault.
        if bed.rng.chance(dt / HOUR) {
            spo2 = 40.0;
        }
        if bed.rng.chance(dt / HOUR) {
            hr += 80.0;
        }
        if bed.rng.chance(0.5 * dt / HOUR) {
            spo2_fault = true;
        }
    }
    let nibp_due =
        !bed.identity.arterial_line && bed.last_nibp.is_none_or(|t| now - t >= NIBP_EVERY);
    if nibp_due {
        bed.last_nibp = Some(now);
    }
    Sample {
        hr: hr.clamp(20.0, 250.0),
        pr: pr.clamp(20.0, 250.0),
        sbp: sbp.clamp(50.0, 250.0),
        dbp: dbp.clamp(25.0, 150.0).min(sbp - 15.0),
        rr: rr.clamp(4.0, 60.0),
        temp: temp.clamp(33.0, 42.0),
        spo2: spo2.clamp(40.0, 100.0),
        cvp: (b.cvp + e[6] + 3.0 * p * f64::from(bed.identity.scenario == Scenario::Sepsis))
            .clamp(0.0, 25.0),
        fio2,
        nibp_due,
        spo2_fault,
    }
}

/// One observation to write: item, MDC code, NK code, value text, truth.
struct Obs {
    item: &'static str,
    mdc: u32,
    nk: &'static str,
    nk_label: &'static str,
    mdc_name: &'static str,
    value: String,
    truth: Option<f64>,
}

fn obs(
    item: &'static str,
    mdc: u32,
    mdc_name: &'static str,
    nk: &'static str,
    nk_label: &'static str,
    value: f64,
    decimals: usize,
) -> Obs {
    let text = format!("{value:.decimals$}");
    let truth = text.parse().ok();
    Obs {
        item,
        mdc,
        nk,
        nk_label,
        mdc_name,
        value: text,
        truth,
    }
}

type Built = (String, Vec<(&'static str, f64)>, Vec<&'static str>);

fn observation_message(
    bed: &BedState,
    s: &Sample,
    control_id: &str,
    config: &SimConfig,
    now: i64,
) -> Built {
    let id = &bed.identity;
    let mut vitals = vec![
        obs(
            "hr",
            147_842,
            "MDC_ECG_HEART_RATE",
            "001000",
            "ECG HR",
            s.hr,
            0,
        ),
        obs("rr", 151_562, "MDC_RESP_RATE", "002000", "RESP RR", s.rr, 0),
        obs(
            "spo2",
            150_456,
            "MDC_PULS_OXIM_SAT_O2",
            "007000",
            "VITAL SpO2",
            s.spo2,
            0,
        ),
        obs(
            "pr",
            149_530,
            "MDC_PULS_OXIM_PULS_RATE",
            "007001",
            "SpO2 PR",
            s.pr,
            0,
        ),
        obs("temp", 150_344, "MDC_TEMP", "008000", "TEMP T1", s.temp, 1),
    ];
    if s.spo2_fault {
        vitals[2].value = "127".into();
        vitals[2].truth = None;
    }
    if id.rectal_probe {
        vitals.push(obs(
            "temp_rectal",
            188_420,
            "MDC_TEMP_RECT",
            "",
            "",
            s.temp + 0.3,
            1,
        ));
    }
    let map = (s.sbp + 2.0 * s.dbp) / 3.0;
    let mut pressures = Vec::new();
    if id.arterial_line {
        pressures.push(obs(
            "sbp",
            150_033,
            "MDC_PRESS_BLD_ART_SYS",
            "003000",
            "ABP SYS",
            s.sbp,
            0,
        ));
        pressures.push(obs(
            "dbp",
            150_034,
            "MDC_PRESS_BLD_ART_DIA",
            "003001",
            "ABP DIAS",
            s.dbp,
            0,
        ));
        pressures.push(obs(
            "map",
            150_035,
            "MDC_PRESS_BLD_ART_MEAN",
            "003002",
            "ABP MEAN",
            map,
            0,
        ));
        pressures.push(obs(
            "cvp",
            150_087,
            "MDC_PRESS_BLD_VEN_CENT_MEAN",
            "005002",
            "CVP MEAN",
            s.cvp,
            0,
        ));
    }
    let mut nibp = Vec::new();
    if s.nibp_due {
        nibp.push(obs(
            "sbp",
            150_021,
            "MDC_PRESS_BLD_NONINV_SYS",
            "009000",
            "NIBP SYS",
            s.sbp,
            0,
        ));
        nibp.push(obs(
            "dbp",
            150_022,
            "MDC_PRESS_BLD_NONINV_DIA",
            "009001",
            "NIBP DIAS",
            s.dbp,
            0,
        ));
        nibp.push(obs(
            "map",
            150_023,
            "MDC_PRESS_BLD_NONINV_MEAN",
            "009002",
            "NIBP MEAN",
            map,
            0,
        ));
    }
    let mut fio2 = Vec::new();
    if id.ventilated {
        // Sent in percent; the receiver stores a fraction.
        let mut o = obs(
            "fio2",
            152_196,
            "MDC_CONC_AWAY_O2_INSP",
            "",
            "",
            s.fio2 * 100.0,
            0,
        );
        o.truth = o.truth.map(|pct| pct / 100.0);
        fio2.push(o);
    }
    let mut values = Vec::new();
    let mut impossible = Vec::new();
    let mut groups: Vec<(&str, &str, Vec<Obs>)> = vec![
        ("VITAL", "VITAL SIGNS", vitals),
        ("ABP", "ARTERIAL PRESSURE", pressures),
        ("NIBP", "NIBP", nibp),
        ("VENT", "VENTILATION", fio2),
    ];
    if id.form == MessageForm::NihonKohden {
        // Only what the gateway's code table has.
        for (_, _, group) in &mut groups {
            group.retain(|o| !o.nk.is_empty());
        }
    }
    groups.retain(|(_, _, group)| !group.is_empty());
    for (_, _, group) in &groups {
        for o in group {
            match o.truth {
                Some(v) => values.push((o.item, v)),
                None => impossible.push(o.item),
            }
        }
    }
    let text = match id.form {
        MessageForm::Pcd01 => pcd01_text(id, &groups, control_id, config, now),
        MessageForm::NihonKohden => nk_text(id, &groups, control_id, config, now),
    };
    (text, values, impossible)
}

/// PV1-3 as each form writes it; the ADT uses the same, so beds match.
fn pv1_location(id: &BedIdentity) -> String {
    match id.form {
        MessageForm::Pcd01 => format!("{}^^{}", id.unit, id.bed),
        MessageForm::NihonKohden => format!("^^{}^{}", id.bed, id.facility),
    }
}

fn pid_segment(id: &BedIdentity) -> String {
    format!(
        "PID|||{}^^^{}^PI||{}^{}^^^^^L^I~{}^{}^^^^^L^P||{}|{}",
        id.patient_id,
        id.facility,
        id.family,
        id.given,
        id.family_kana,
        id.given_kana,
        id.birth_date,
        id.sex
    )
}

fn pcd01_text(
    id: &BedIdentity,
    groups: &[(&str, &str, Vec<Obs>)],
    control_id: &str,
    config: &SimConfig,
    now: i64,
) -> String {
    let ts = format_ts_jst(now);
    let eui = &id.device;
    let mut lines = vec![
        format!(
            "MSH|^~\\&|RENKEI-SIM^{eui}^EUI-64|{}|RENKEI|RENKEI|{ts}||ORU^R01^ORU_R01|{control_id}|{}|2.6|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
            id.facility, config.processing_id
        ),
        pid_segment(id),
        format!("PV1||I|{}", pv1_location(id)),
        format!(
            "OBR|1|{control_id}^RENKEI-SIM^{eui}^EUI-64|{control_id}^RENKEI-SIM^{eui}^EUI-64|182777000^monitoring of patient^SCT|||{ts}"
        ),
        // The MDS row: a device descriptor without a value.
        format!("OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||{eui}^^{eui}^EUI-64"),
    ];
    let mut n = 1;
    for (channel, (_, _, group)) in groups.iter().enumerate() {
        for (metric, o) in group.iter().enumerate() {
            n += 1;
            let (code, system) = if id.mdil_codes {
                (
                    format!("{:04X}-{:04X}", o.mdc >> 16, o.mdc & 0xFFFF),
                    "MDIL",
                )
            } else {
                (o.mdc.to_string(), "MDC")
            };
            lines.push(format!(
                "OBX|{n}|NM|{code}^{}^{system}|1.{}.1.{}|{}|{}|||||R|||{ts}|||||{eui}^^{eui}^EUI-64",
                o.mdc_name,
                channel + 1,
                metric + 1,
                o.value,
                mdc_unit(o.item)
            ));
        }
    }
    lines.join("\r")
}

fn mdc_unit(item: &str) -> &'static str {
    match item {
        "hr" | "pr" => "264864^MDC_DIM_BEAT_PER_MIN^MDC",
        "rr" => "264928^MDC_DIM_RESP_PER_MIN^MDC",
        "spo2" | "fio2" => "262688^MDC_DIM_PERCENT^MDC",
        "temp" | "temp_rectal" => "268192^MDC_DIM_DEGC^MDC",
        _ => "266016^MDC_DIM_MMHG^MDC",
    }
}

fn nk_unit(item: &str) -> &'static str {
    match item {
        "hr" | "pr" => "bpm",
        "rr" => "/min",
        "spo2" => "%",
        "temp" => "℃",
        _ => "mmHg",
    }
}

fn nk_text(
    id: &BedIdentity,
    groups: &[(&str, &str, Vec<Obs>)],
    control_id: &str,
    config: &SimConfig,
    now: i64,
) -> String {
    // Local time without an offset, as these gateways send it (JST assumed).
    let ts: String = format_ts_jst(now).chars().take(14).collect();
    let mut lines = vec![
        format!(
            "MSH|^~\\&|CNS-6201|{}|RENKEI|RENKEI|{ts}||ORU^R01|{control_id}|{}|2.4|||NE|AL||UNICODE UTF-8",
            id.facility, config.processing_id
        ),
        pid_segment(id),
        format!("PV1||I|{}", pv1_location(id)),
    ];
    let mut obr = 0;
    let mut n = 0;
    for (code, label, group) in groups {
        obr += 1;
        lines.push(format!("OBR|{obr}|||{code}^{label}|||{ts}"));
        for o in group {
            n += 1;
            lines.push(format!(
                "OBX|{n}|NM|{}^{}||{}|{}|||||F",
                o.nk,
                o.nk_label,
                o.value,
                nk_unit(o.item)
            ));
        }
    }
    lines.join("\r")
}

fn admit_message(id: &BedIdentity, control_id: &str, config: &SimConfig, now: i64) -> String {
    let ts = format_ts_jst(now);
    // Bed assignment comes from the hospital information system, whatever the monitors.
    [
        format!(
            "MSH|^~\\&|HIS-SIM|{}|RENKEI|RENKEI|{ts}||ADT^A01^ADT_A01|{control_id}|{}|2.5|||NE|AL||UNICODE UTF-8",
            id.facility, config.processing_id
        ),
        format!("EVN|A01|{ts}"),
        pid_segment(id),
        format!("PV1||I|{}", pv1_location(id)),
    ]
    .join("\r")
}
