//! Synthetic clinical data for the demo patients, as FHIR R4 JP Core resources: what the
//! facilities of each person's care team would have recorded over the half year before the
//! demo's present (2026-11-27) — the core hospital's outpatient follow-ups and admissions,
//! the clinic's monthly visits, prescriptions with the pharmacy's dispensing beneath,
//! laboratory results that drift from draw to draw, the home-visit nursing station's vital
//! signs, and care notes.
//!
//! Pure: no I/O, no clock. The same network and seed always give the same resources (ids
//! included); a separate random stream is used, so the network itself does not change.
//!
//! Each [`ClinicalBatch`] is one author's resources about one person. Only a facility that
//! may contribute writes: one that registered the person, or an active team member under a
//! comprehensive consent never withdrawn (the pharmacies). References point into the same
//! person's batches, earlier ones first (a dispensing follows its prescription).
//!
//! Codes follow what the HL7→FHIR mapper and the record view read: ICD-10 (MHLW 2013) for
//! diagnoses, YJ codes for drugs (text only where no code is given), JLAC10 for laboratory
//! tests, LOINC for vital signs and document kinds, UCUM units. Drugs for psychiatric
//! conditions carry the v3-ActCode `PSY` security label, so a consent excluding psychiatric
//! information hides them together with the diagnosis.

use crate::DemoNetwork;
use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use renkei_domain::patient::{ConsentScope, Sex, TeamStatus};
use renkei_domain::{FacilityType, Millis, Profession};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// One author's new resources about one person.
#[derive(Debug, Clone, PartialEq)]
pub struct ClinicalBatch {
    pub person_id: String,
    pub facility_id: String,
    pub facility_type: FacilityType,
    pub user_id: String,
    pub login_id: String,
    pub profession: Profession,
    /// (id, resource) in writing order; `id` is not set inside the resource.
    pub resources: Vec<(String, Value)>,
}

const DAY: Millis = 86_400_000;
const HOUR: Millis = 3_600_000;
const MINUTE: Millis = 60_000;
/// 2026-11-27T00:00Z: the demo's present; nothing is recorded after it.
pub const HORIZON: Millis = 1_795_737_600_000;
/// The half year of history before it.
const HISTORY_DAYS: i64 = 200;
/// Japan Standard Time.
const JST: Millis = 9 * HOUR;

const PROFILE: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/";
const ICD10: &str = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full";
const YJ: &str = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code";
const JLAC10: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
const ALLERGY_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const ALLERGY_VERIFICATION: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
const REQUEST_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/medicationrequest-category";

// ---------------------------------------------------------------------------------------
// Clinical vocabulary
// ---------------------------------------------------------------------------------------

/// Long-standing conditions a person may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Chronic {
    Hypertension,
    Diabetes,
    Dyslipidemia,
    HeartFailure,
    AtrialFibrillation,
    Ckd,
    Dementia,
    StrokeSequelae,
    Osteoporosis,
    Copd,
    Gerd,
    Constipation,
    Insomnia,
    Depression,
    Bph,
}

struct Diagnosis {
    icd: &'static str,
    /// The ICD-10 (2013) name.
    icd_name: &'static str,
    /// The name on the problem list.
    name: &'static str,
}

const fn dx(icd: &'static str, icd_name: &'static str, name: &'static str) -> Diagnosis {
    Diagnosis {
        icd,
        icd_name,
        name,
    }
}

impl Chronic {
    fn diagnosis(self) -> Diagnosis {
        use Chronic::*;
        match self {
            Hypertension => dx("I10", "本態性（原発性＜一次性＞）高血圧（症）", "高血圧症"),
            Diabetes => dx(
                "E11.9",
                "2型＜インスリン非依存性＞糖尿病＜NIDDM＞，合併症を伴わないもの",
                "2型糖尿病",
            ),
            Dyslipidemia => dx("E78.5", "高脂血症，詳細不明", "脂質異常症"),
            HeartFailure => dx("I50.9", "心不全，詳細不明", "慢性心不全"),
            AtrialFibrillation => dx("I48.9", "心房細動及び粗動，詳細不明", "心房細動"),
            Ckd => dx("N18.3", "慢性腎臓病，ステージ3", "慢性腎臓病（ステージG3）"),
            Dementia => dx("F03", "詳細不明の認知症", "認知症"),
            StrokeSequelae => dx("I69.3", "脳梗塞の続発・後遺症", "脳梗塞後遺症"),
            Osteoporosis => dx("M81.9", "骨粗しょう＜鬆＞症，詳細不明", "骨粗鬆症"),
            Copd => dx("J44.9", "慢性閉塞性肺疾患，詳細不明", "慢性閉塞性肺疾患"),
            Gerd => dx("K21.0", "食道炎を伴う胃食道逆流症", "逆流性食道炎"),
            Constipation => dx("K59.0", "便秘", "便秘症"),
            Insomnia => dx("G47.0", "睡眠の導入及び維持の障害［不眠症］", "不眠症"),
            Depression => dx("F32.9", "うつ病エピソード，詳細不明", "うつ病"),
            Bph => dx("N40", "前立腺肥大（症）", "前立腺肥大症"),
        }
    }

    /// Conditions the home doctor (clinic) follows when there is one; the rest stay with the
    /// hospital's specialists.
    fn clinic_managed(self) -> bool {
        use Chronic::*;
        matches!(
            self,
            Hypertension
                | Diabetes
                | Dyslipidemia
                | Ckd
                | Osteoporosis
                | Gerd
                | Constipation
                | Insomnia
                | Bph
        )
    }

    /// Years since diagnosis, roughly.
    fn years(self) -> (i64, i64) {
        use Chronic::*;
        match self {
            Hypertension | Diabetes | Dyslipidemia => (3, 20),
            Dementia | HeartFailure | AtrialFibrillation | Ckd => (1, 6),
            _ => (1, 10),
        }
    }
}

/// A prescribed drug as the prescription and the dispensing name it.
#[derive(Clone, Copy)]
struct Drug {
    name: &'static str,
    /// YJ code (個別医薬品コード), if given.
    yj: Option<&'static str>,
    /// Dose per intake and unit of counting.
    dose: f64,
    unit: &'static str,
    /// Intakes per day.
    times: f64,
    timing: &'static str,
    /// Sensitive (psychiatric) medication.
    psy: bool,
}

const fn drug(
    name: &'static str,
    yj: Option<&'static str>,
    dose: f64,
    unit: &'static str,
    times: f64,
    timing: &'static str,
) -> Drug {
    Drug {
        name,
        yj,
        dose,
        unit,
        times,
        timing,
        psy: false,
    }
}

const AMLODIPINE: Drug = drug(
    "ノルバスク錠5mg",
    Some("2171022F2025"),
    1.0,
    "錠",
    1.0,
    "朝食後",
);
const LOSARTAN: Drug = drug(
    "ニューロタン錠25mg",
    Some("2149039F1031"),
    1.0,
    "錠",
    1.0,
    "朝食後",
);
const METFORMIN: Drug = drug(
    "メトグルコ錠250mg",
    Some("3962002F2027"),
    1.0,
    "錠",
    2.0,
    "朝夕食後",
);
const ATORVASTATIN: Drug = drug(
    "リピトール錠10mg",
    Some("2189015F2020"),
    1.0,
    "錠",
    1.0,
    "夕食後",
);
const ROSUVASTATIN: Drug = drug(
    "クレストール錠2.5mg",
    Some("2189017F1022"),
    1.0,
    "錠",
    1.0,
    "夕食後",
);
const SACUBITRIL: Drug = drug(
    "エンレスト錠50mg",
    Some("2190041F1027"),
    1.0,
    "錠",
    2.0,
    "朝夕食後",
);
const FUROSEMIDE: Drug = drug("フロセミド錠20mg", None, 1.0, "錠", 1.0, "朝食後");
const APIXABAN: Drug = drug(
    "エリキュース錠2.5mg",
    Some("3339004F1029"),
    1.0,
    "錠",
    2.0,
    "朝夕食後",
);
const ASPIRIN: Drug = drug(
    "バイアスピリン錠100mg",
    Some("3399007H1021"),
    1.0,
    "錠",
    1.0,
    "朝食後",
);
const CLOPIDOGREL: Drug = drug("クロピドグレル錠75mg", None, 1.0, "錠", 1.0, "朝食後");
const OMEPRAZOLE: Drug = drug(
    "オメプラール錠10",
    Some("2329022H2023"),
    1.0,
    "錠",
    1.0,
    "朝食後",
);
const MAGNESIUM_OXIDE: Drug = drug(
    "マグミット錠330mg",
    Some("2344009F2031"),
    1.0,
    "錠",
    3.0,
    "毎食後",
);
const RAMELTEON: Drug = drug(
    "ラメルテオン錠8mg",
    Some("1190016F1075"),
    1.0,
    "錠",
    1.0,
    "就寝前",
);
// Dementia drugs are shared like the diagnosis (see renkei_fhir::category).
const DONEPEZIL: Drug = drug(
    "アリセプト細粒0.5%",
    Some("1190012C1020"),
    1.0,
    "g",
    1.0,
    "朝食後",
);
const SERTRALINE: Drug = Drug {
    psy: true,
    ..drug("セルトラリン錠25mg", None, 1.0, "錠", 1.0, "夕食後")
};
const ELDECALCITOL: Drug = drug(
    "エルデカルシトールカプセル0.75μg",
    None,
    1.0,
    "カプセル",
    1.0,
    "朝食後",
);
const INHALER: Drug = drug(
    "テリルジー100エリプタ30吸入用",
    None,
    1.0,
    "吸入",
    1.0,
    "朝",
);
const TAMSULOSIN: Drug = drug(
    "タムスロシン塩酸塩OD錠0.2mg",
    None,
    1.0,
    "錠",
    1.0,
    "朝食後",
);
const CEFTRIAXONE: Drug = drug(
    "セフトリアキソンナトリウム静注用1g",
    None,
    1.0,
    "瓶",
    2.0,
    "点滴静注（12時間毎）",
);
const LEVOFLOXACIN: Drug = drug(
    "レボフロキサシン点滴静注バッグ500mg/100mL",
    None,
    1.0,
    "袋",
    1.0,
    "点滴静注",
);

impl Drug {
    fn dosage_text(&self) -> String {
        let dose = if self.dose.fract() == 0.0 {
            format!("{}", self.dose as i64)
        } else {
            format!("{}", self.dose)
        };
        let times = self.times as i64;
        if self.timing.starts_with("点滴") {
            format!("1回{dose}{} {}", self.unit, self.timing)
        } else {
            format!("1回{dose}{} 1日{times}回 {}", self.unit, self.timing)
        }
    }
    /// Units for `days` days (an inhaler lasts 30 days whatever the count).
    fn quantity(&self, days: i64) -> f64 {
        if self.unit == "吸入" {
            (days as f64 / 30.0).ceil()
        } else {
            self.dose * self.times * days as f64
        }
    }
    fn quantity_unit(&self) -> &'static str {
        if self.unit == "吸入" {
            "キット"
        } else {
            self.unit
        }
    }
}

/// The drugs for a set of conditions (and allergies to respect).
fn drugs_for(c: Chronic, all: &[Chronic], allergies: &[&Allergen], statin: bool) -> Vec<Drug> {
    use Chronic::*;
    let nsaid_allergy = allergies.iter().any(|a| a.nsaid);
    match c {
        Hypertension if all.contains(&Diabetes) || all.contains(&Ckd) => {
            vec![AMLODIPINE, LOSARTAN]
        }
        Hypertension => vec![AMLODIPINE],
        Diabetes => vec![METFORMIN],
        Dyslipidemia => vec![if statin { ATORVASTATIN } else { ROSUVASTATIN }],
        HeartFailure => vec![SACUBITRIL, FUROSEMIDE],
        AtrialFibrillation => vec![APIXABAN],
        StrokeSequelae if all.contains(&AtrialFibrillation) => vec![],
        StrokeSequelae if nsaid_allergy => vec![CLOPIDOGREL],
        StrokeSequelae => vec![ASPIRIN, OMEPRAZOLE],
        Gerd if all.contains(&StrokeSequelae) && !all.contains(&AtrialFibrillation) => vec![],
        Gerd => vec![OMEPRAZOLE],
        Constipation => vec![MAGNESIUM_OXIDE],
        Insomnia => vec![RAMELTEON],
        Dementia => vec![DONEPEZIL],
        Depression => vec![SERTRALINE],
        Osteoporosis => vec![ELDECALCITOL],
        Copd => vec![INHALER],
        Bph => vec![TAMSULOSIN],
        Ckd => vec![],
    }
}

/// What may be recorded as an allergy or intolerance.
struct Allergen {
    substance: &'static str,
    /// `medication`, `food` or `environment`.
    category: &'static str,
    intolerance: bool,
    reaction: &'static str,
    severity: &'static str,
    criticality: &'static str,
    nsaid: bool,
    penicillin: bool,
    cephem: bool,
}

const fn allergen(
    substance: &'static str,
    category: &'static str,
    reaction: &'static str,
    severity: &'static str,
    criticality: &'static str,
) -> Allergen {
    Allergen {
        substance,
        category,
        intolerance: false,
        reaction,
        severity,
        criticality,
        nsaid: false,
        penicillin: false,
        cephem: false,
    }
}

const ALLERGENS: &[Allergen] = &[
    Allergen {
        penicillin: true,
        ..allergen(
            "ペニシリン系抗菌薬",
            "medication",
            "全身の発疹",
            "moderate",
            "low",
        )
    },
    Allergen {
        cephem: true,
        ..allergen(
            "セフェム系抗菌薬",
            "medication",
            "蕁麻疹",
            "moderate",
            "low",
        )
    },
    allergen(
        "ヨード造影剤",
        "medication",
        "呼吸困難、血圧低下",
        "severe",
        "high",
    ),
    Allergen {
        nsaid: true,
        ..allergen(
            "ロキソプロフェンナトリウム（NSAIDs）",
            "medication",
            "喘息発作",
            "severe",
            "high",
        )
    },
    allergen("そば", "food", "アナフィラキシー", "severe", "high"),
    allergen("えび・かに", "food", "蕁麻疹", "moderate", "low"),
    allergen("鶏卵", "food", "口腔内のかゆみ", "mild", "low"),
    Allergen {
        intolerance: true,
        ..allergen(
            "ACE阻害薬（エナラプリル）",
            "medication",
            "乾性咳嗽",
            "mild",
            "low",
        )
    },
];

/// Adhesive tape: what the nursing station notices at home.
const TAPE: Allergen = allergen(
    "医療用テープ（アクリル系粘着剤）",
    "environment",
    "接触皮膚炎",
    "mild",
    "low",
);

/// A laboratory test with its JLAC10 code, unit and reference range (JCCLS common
/// reference intervals; sex-specific where they differ).
struct Test {
    key: &'static str,
    jlac10: &'static str,
    display: &'static str,
    text: &'static str,
    unit: &'static str,
    ucum: &'static str,
    decimals: usize,
}

const fn test(
    key: &'static str,
    jlac10: &'static str,
    display: &'static str,
    text: &'static str,
    unit: &'static str,
    ucum: &'static str,
    decimals: usize,
) -> Test {
    Test {
        key,
        jlac10,
        display,
        text,
        unit,
        ucum,
        decimals,
    }
}

const TESTS: &[Test] = &[
    test(
        "hba1c",
        "3D046000001906202",
        "HbA1c（NGSP）",
        "HbA1c",
        "%",
        "%",
        1,
    ),
    test(
        "cre",
        "3C015000002327101",
        "クレアチニン",
        "クレアチニン",
        "mg/dL",
        "mg/dL",
        2,
    ),
    test(
        "egfr",
        "8A065000002391901",
        "eGFR",
        "eGFR",
        "mL/min/1.73m2",
        "mL/min/{1.73_m2}",
        1,
    ),
    test(
        "bun",
        "3C025000002327101",
        "尿素窒素",
        "BUN",
        "mg/dL",
        "mg/dL",
        1,
    ),
    test(
        "k",
        "3H015000002326101",
        "カリウム",
        "K",
        "mmol/L",
        "mmol/L",
        1,
    ),
    test(
        "na",
        "3H010000002326101",
        "ナトリウム",
        "Na",
        "mmol/L",
        "mmol/L",
        0,
    ),
    test(
        "hb",
        "2A030000001930101",
        "ヘモグロビン",
        "Hb",
        "g/dL",
        "g/dL",
        1,
    ),
    test(
        "alb",
        "3A015000002327101",
        "アルブミン",
        "Alb",
        "g/dL",
        "g/dL",
        1,
    ),
    test(
        "bnp",
        "4Z271000002205201",
        "脳性Na利尿ペプチド（BNP）",
        "BNP",
        "pg/mL",
        "pg/mL",
        1,
    ),
    test(
        "ldl",
        "3F077000002327101",
        "LDL-コレステロール",
        "LDL-C",
        "mg/dL",
        "mg/dL",
        0,
    ),
    test(
        "ast",
        "3B035000002327201",
        "AST（GOT）",
        "AST",
        "U/L",
        "U/L",
        0,
    ),
    test(
        "alt",
        "3B045000002327201",
        "ALT（GPT）",
        "ALT",
        "U/L",
        "U/L",
        0,
    ),
    test(
        "crp",
        "5C070000002306201",
        "C反応性蛋白（CRP）",
        "CRP",
        "mg/dL",
        "mg/dL",
        2,
    ),
];

/// (low, high) of a test's reference range for a sex.
fn range_of(key: &str, sex: Sex) -> (Option<f64>, Option<f64>) {
    let female = sex == Sex::Female;
    match key {
        "hba1c" => (Some(4.9), Some(6.0)),
        "cre" if female => (Some(0.46), Some(0.79)),
        "cre" => (Some(0.65), Some(1.07)),
        "egfr" => (Some(60.0), None),
        "bun" => (Some(8.0), Some(20.0)),
        "k" => (Some(3.6), Some(4.8)),
        "na" => (Some(138.0), Some(145.0)),
        "hb" if female => (Some(11.6), Some(14.8)),
        "hb" => (Some(13.7), Some(16.8)),
        "alb" => (Some(4.1), Some(5.1)),
        "bnp" => (None, Some(18.4)),
        "ldl" => (Some(65.0), Some(163.0)),
        "ast" => (Some(13.0), Some(30.0)),
        "alt" if female => (Some(7.0), Some(23.0)),
        "alt" => (Some(10.0), Some(42.0)),
        "crp" => (None, Some(0.14)),
        _ => (None, None),
    }
}

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

fn jst(ms: Millis) -> chrono::DateTime<chrono::FixedOffset> {
    let tz = chrono::FixedOffset::east_opt(9 * 3600).expect("JST");
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&tz)
}

/// A FHIR dateTime in JST.
fn date_time(ms: Millis) -> String {
    jst(ms).format("%Y-%m-%dT%H:%M:%S+09:00").to_string()
}

/// A FHIR date (the JST calendar day).
fn date(ms: Millis) -> String {
    jst(ms).format("%Y-%m-%d").to_string()
}

/// A FHIR instant (UTC, milliseconds).
fn instant(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Midnight JST of the day `ms` falls on.
fn day_start(ms: Millis) -> Millis {
    (ms + JST).div_euclid(DAY) * DAY - JST
}

/// Human date for notes: 11月3日.
fn md(ms: Millis) -> String {
    jst(ms).format("%-m月%-d日").to_string()
}

// ---------------------------------------------------------------------------------------
// Who writes
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Author {
    facility_id: String,
    facility_type: FacilityType,
    user_id: String,
    login_id: String,
    profession: Profession,
    display_name: String,
}

/// The team of one person, by role.
#[derive(Default)]
struct Team {
    hospital: Option<Author>,
    clinic: Option<Author>,
    care: Option<Author>,
    nursing: Option<Author>,
    pharmacy: Option<Author>,
}

struct Person<'a> {
    id: &'a str,
    sex: Sex,
    age: i64,
    frail: bool,
    team: Team,
}

/// Everything the generator needs from the network, looked up once.
struct Lookup<'a> {
    facility_type: HashMap<&'a str, FacilityType>,
    /// user id → (login, profession, name)
    users: HashMap<&'a str, (&'a str, Profession, &'a str)>,
    /// facility id → the pharmacist who records its dispensing
    pharmacist: HashMap<&'a str, &'a str>,
}

impl<'a> Lookup<'a> {
    fn new(network: &'a DemoNetwork) -> Self {
        let import = &network.import;
        let facility_type = import
            .facilities
            .iter()
            .map(|(f, _, _)| (f.id.as_str(), f.facility_type))
            .collect();
        let mut users = HashMap::new();
        let mut pharmacist: HashMap<&str, &str> = HashMap::new();
        for u in &import.users {
            users.insert(
                u.id.as_str(),
                (u.login_id.as_str(), u.profession, u.display_name.as_str()),
            );
            if u.profession == Profession::Pharmacist {
                // The featured account where there is one, else the first pharmacist.
                let featured = crate::FEATURED_LOGIN_IDS.contains(&u.login_id.as_str());
                for (f, _) in &u.memberships {
                    if featured {
                        pharmacist.insert(f.as_str(), u.id.as_str());
                    } else {
                        pharmacist.entry(f.as_str()).or_insert(u.id.as_str());
                    }
                }
            }
        }
        Lookup {
            facility_type,
            users,
            pharmacist,
        }
    }

    fn author(&self, facility_id: &str, user_id: &str) -> Option<Author> {
        let (login, profession, name) = self.users.get(user_id)?;
        Some(Author {
            facility_id: facility_id.to_string(),
            facility_type: *self.facility_type.get(facility_id)?,
            user_id: user_id.to_string(),
            login_id: login.to_string(),
            profession: *profession,
            display_name: name.to_string(),
        })
    }
}

/// Whole years from `birth` (YYYY-MM-DD) to the horizon.
fn age_at_horizon(birth: &str) -> i64 {
    let today = date(HORIZON);
    let y = |s: &str| {
        s.get(..4)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(1940)
    };
    let mut age = y(&today) - y(birth);
    if today.get(5..) < birth.get(5..) {
        age -= 1;
    }
    age
}

fn people(network: &DemoNetwork) -> Vec<Person<'_>> {
    let import = &network.import;
    let patients = &import.patients;
    let lookup = Lookup::new(network);
    // Pharmacies write only under a comprehensive consent never withdrawn (so they may both
    // contribute and see what they dispense against, whatever the clock says).
    let mut consent_ok: HashMap<&str, bool> = HashMap::new();
    for (c, withdrawn) in &patients.consents {
        let ok = c.scope == ConsentScope::Comprehensive && withdrawn.is_none();
        *consent_ok.entry(c.person_id.as_str()).or_insert(ok) &= ok;
    }
    let mut out: Vec<Person> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (record, person) in &patients.records {
        let i = *index.entry(person.as_str()).or_insert_with(|| {
            out.push(Person {
                id: person.as_str(),
                sex: record.sex,
                age: age_at_horizon(&record.birth_date),
                frail: matches!(
                    record.care_level,
                    renkei_domain::patient::CareLevel::Care3
                        | renkei_domain::patient::CareLevel::Care4
                        | renkei_domain::patient::CareLevel::Care5
                ),
                team: Team::default(),
            });
            out.len() - 1
        });
        let Some(author) = lookup.author(&record.facility_id, &record.created_by) else {
            continue;
        };
        let team = &mut out[i].team;
        let slot = match author.facility_type {
            FacilityType::Hospital => &mut team.hospital,
            FacilityType::Clinic | FacilityType::HomeVisitClinic => &mut team.clinic,
            FacilityType::CareManagementOffice | FacilityType::CommunityCareCenter => {
                &mut team.care
            }
            FacilityType::HomeNursingStation => &mut team.nursing,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(author);
        }
    }
    for m in &patients.team {
        let Some(&i) = index.get(m.person_id.as_str()) else {
            continue;
        };
        if m.status != TeamStatus::Active
            || lookup.facility_type.get(m.facility_id.as_str()) != Some(&FacilityType::Pharmacy)
            || !consent_ok
                .get(m.person_id.as_str())
                .copied()
                .unwrap_or(false)
        {
            continue;
        }
        let Some(user) = lookup.pharmacist.get(m.facility_id.as_str()) else {
            continue;
        };
        if out[i].team.pharmacy.is_none() {
            out[i].team.pharmacy = lookup.author(&m.facility_id, user);
        }
    }
    // The identity-review duplicates (registered at the clinic only) get nothing.
    out.retain(|p| p.team.hospital.is_some());
    out
}

// ---------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------

fn profile(name: &str) -> Value {
    json!({ "profile": [format!("{PROFILE}{name}")] })
}

fn psy_meta(name: &str) -> Value {
    json!({
        "profile": [format!("{PROFILE}{name}")],
        "security": [{ "system": ACT_CODE, "code": "PSY", "display": "psychiatry disorder information sensitivity" }]
    })
}

fn subject(person: &str) -> Value {
    json!({ "reference": format!("Patient/{person}") })
}

fn reference(kind: &str, id: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

fn round(v: f64, decimals: usize) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (v * f).round() / f
}

fn quantity(v: f64, unit: &str, ucum: &str) -> Value {
    json!({ "value": v, "unit": unit, "system": UCUM, "code": ucum })
}

fn days(n: i64) -> Value {
    json!({ "value": n, "unit": "日", "system": UCUM, "code": "d" })
}

fn concept(d: &Drug) -> Value {
    match d.yj {
        Some(code) => json!({
            "coding": [{ "system": YJ, "code": code, "display": d.name }],
            "text": d.name
        }),
        None => json!({ "text": d.name }),
    }
}

/// A roughly normal deviate (sum of uniforms), mean 0, sd ≈ `sd`.
fn noise(rng: &mut StdRng, sd: f64) -> f64 {
    let s: f64 = (0..4).map(|_| rng.gen_range(-1.0..1.0)).sum();
    s * sd * 0.866
}

struct Writer<'a> {
    rng: &'a mut StdRng,
    person: &'a str,
    out: Vec<(String, Value)>,
}

impl Writer<'_> {
    fn id(&mut self) -> String {
        format!(
            "{:016x}{:016x}",
            self.rng.gen::<u64>(),
            self.rng.gen::<u64>()
        )
    }

    fn push(&mut self, resource: Value) -> String {
        let id = self.id();
        self.out.push((id.clone(), resource));
        id
    }

    fn encounter(
        &mut self,
        class: (&str, &str),
        start: Millis,
        end: Millis,
        kind: &str,
        service: &str,
        reason: Option<&str>,
    ) -> String {
        let mut e = json!({
            "resourceType": "Encounter",
            "meta": profile("JP_Encounter"),
            "status": "finished",
            "class": { "system": ACT_CODE, "code": class.0, "display": class.1 },
            "type": [{ "text": kind }],
            "serviceType": { "text": service },
            "subject": subject(self.person),
            "period": { "start": date_time(start), "end": date_time(end) },
        });
        if let Some(r) = reason {
            e["reasonCode"] = json!([{ "text": r }]);
        }
        self.push(e)
    }

    #[allow(clippy::too_many_arguments)]
    fn condition(
        &mut self,
        d: &Diagnosis,
        onset: &str,
        recorded: Millis,
        abated: Option<Millis>,
        encounter: Option<&str>,
        category: &str,
        psy: bool,
    ) -> String {
        let clinical = if abated.is_some() {
            "resolved"
        } else {
            "active"
        };
        let mut c = json!({
            "resourceType": "Condition",
            "meta": if psy { psy_meta("JP_Condition") } else { profile("JP_Condition") },
            "clinicalStatus": { "coding": [{ "system": CONDITION_CLINICAL, "code": clinical }] },
            "verificationStatus": { "coding": [{ "system": CONDITION_VERIFICATION, "code": "confirmed" }] },
            "category": [{ "coding": [{ "system": CONDITION_CATEGORY, "code": category }] }],
            "code": {
                "coding": [{ "system": ICD10, "code": d.icd, "display": d.icd_name }],
                "text": d.name
            },
            "subject": subject(self.person),
            "onsetDateTime": onset,
            "recordedDate": date_time(recorded),
        });
        if let Some(t) = abated {
            c["abatementDateTime"] = json!(date(t));
        }
        if let Some(e) = encounter {
            c["encounter"] = reference("Encounter", e);
        }
        self.push(c)
    }

    fn allergy(&mut self, a: &Allergen, recorded: Millis, note: Option<&str>) -> String {
        let mut r = json!({
            "resourceType": "AllergyIntolerance",
            "meta": profile("JP_AllergyIntolerance"),
            "clinicalStatus": { "coding": [{ "system": ALLERGY_CLINICAL, "code": "active" }] },
            "verificationStatus": { "coding": [{ "system": ALLERGY_VERIFICATION, "code": "confirmed" }] },
            "type": if a.intolerance { "intolerance" } else { "allergy" },
            "category": [a.category],
            "criticality": a.criticality,
            "code": { "text": a.substance },
            "patient": subject(self.person),
            "recordedDate": date_time(recorded),
            "reaction": [{
                "manifestation": [{ "text": a.reaction }],
                "severity": a.severity
            }],
        });
        if let Some(n) = note {
            r["note"] = json!([{ "text": n }]);
        }
        self.push(r)
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        d: &Drug,
        authored: Millis,
        supply: i64,
        status: &str,
        inpatient: bool,
        encounter: Option<&str>,
        rp: usize,
    ) -> String {
        let mut r = json!({
            "resourceType": "MedicationRequest",
            "meta": if d.psy { psy_meta("JP_MedicationRequest") } else { profile("JP_MedicationRequest") },
            "identifier": [{ "system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/Medication-RPGroupNumber", "value": rp.to_string() }],
            "status": status,
            "intent": "order",
            "category": [{ "coding": [{
                "system": REQUEST_CATEGORY,
                "code": if inpatient { "inpatient" } else { "outpatient" }
            }] }],
            "medicationCodeableConcept": concept(d),
            "subject": subject(self.person),
            "authoredOn": date_time(authored),
            "dosageInstruction": [{
                "text": d.dosage_text(),
                "timing": { "code": { "text": d.timing } },
                "doseAndRate": [{ "doseQuantity": { "value": d.dose, "unit": d.unit } }]
            }],
            "dispenseRequest": {
                "quantity": { "value": d.quantity(supply), "unit": d.quantity_unit() },
                "expectedSupplyDuration": days(supply)
            },
        });
        if let Some(e) = encounter {
            r["encounter"] = reference("Encounter", e);
        }
        self.push(r)
    }

    fn dispense(
        &mut self,
        d: &Drug,
        request: &str,
        handed: Millis,
        supply: i64,
        note: Option<&str>,
    ) -> String {
        let mut r = json!({
            "resourceType": "MedicationDispense",
            "meta": if d.psy { psy_meta("JP_MedicationDispense") } else { profile("JP_MedicationDispense") },
            "status": "completed",
            "medicationCodeableConcept": concept(d),
            "subject": subject(self.person),
            "authorizingPrescription": [reference("MedicationRequest", request)],
            "quantity": { "value": d.quantity(supply), "unit": d.quantity_unit() },
            "daysSupply": days(supply),
            "whenPrepared": date_time(handed - 20 * MINUTE),
            "whenHandedOver": date_time(handed),
            "dosageInstruction": [{ "text": d.dosage_text() }],
        });
        if let Some(n) = note {
            r["note"] = json!([{ "text": n }]);
        }
        self.push(r)
    }

    fn lab(
        &mut self,
        t: &Test,
        value: f64,
        sex: Sex,
        at: Millis,
        encounter: Option<&str>,
    ) -> String {
        let value = round(value, t.decimals);
        let (low, high) = range_of(t.key, sex);
        let mut range = serde_json::Map::new();
        if let Some(l) = low {
            range.insert("low".into(), quantity(l, t.unit, t.ucum));
        }
        if let Some(h) = high {
            range.insert("high".into(), quantity(h, t.unit, t.ucum));
        }
        let mut o = json!({
            "resourceType": "Observation",
            "meta": profile("JP_Observation_LabResult"),
            "status": "final",
            "category": [{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": "laboratory", "display": "Laboratory" }] }],
            "code": {
                "coding": [{ "system": JLAC10, "code": t.jlac10, "display": t.display }],
                "text": t.text
            },
            "subject": subject(self.person),
            "effectiveDateTime": date_time(at),
            "valueQuantity": quantity(value, t.unit, t.ucum),
            "referenceRange": [Value::Object(range)],
        });
        let flag = match (low, high) {
            (_, Some(h)) if value > h => Some(("H", "High")),
            (Some(l), _) if value < l => Some(("L", "Low")),
            _ => None,
        };
        o["interpretation"] = match flag {
            Some((code, display)) => {
                json!([{ "coding": [{ "system": INTERPRETATION, "code": code, "display": display }] }])
            }
            None => {
                json!([{ "coding": [{ "system": INTERPRETATION, "code": "N", "display": "Normal" }] }])
            }
        };
        if let Some(e) = encounter {
            o["encounter"] = reference("Encounter", e);
        }
        self.push(o)
    }

    /// One set of vital signs, shaped as the record view's form stores them: blood pressure
    /// as a panel, every other value on its own.
    fn vitals(&mut self, at: Millis, v: &Vitals) {
        let base = |coding: Value, text: &str| {
            json!({
                "resourceType": "Observation",
                "meta": profile("JP_Observation_VitalSigns"),
                "status": "final",
                "category": [{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": "vital-signs", "display": "Vital Signs" }] }],
                "code": { "coding": coding, "text": text },
                "subject": subject(self.person),
                "effectiveDateTime": date_time(at),
            })
        };
        let mut bp = base(
            json!([{ "system": LOINC, "code": "85354-9", "display": "Blood pressure panel with all children optional" }]),
            "血圧",
        );
        bp["component"] = json!([
            { "code": { "coding": [{ "system": LOINC, "code": "8480-6", "display": "Systolic blood pressure" }], "text": "収縮期血圧" },
              "valueQuantity": quantity(v.systolic.round(), "mmHg", "mm[Hg]") },
            { "code": { "coding": [{ "system": LOINC, "code": "8462-4", "display": "Diastolic blood pressure" }], "text": "拡張期血圧" },
              "valueQuantity": quantity(v.diastolic.round(), "mmHg", "mm[Hg]") },
        ]);
        self.push(bp);
        let mut singles: Vec<(Value, &str, Value)> = vec![
            (
                json!([{ "system": LOINC, "code": "8867-4", "display": "Heart rate" }]),
                "脈拍",
                quantity(v.pulse.round(), "/min", "/min"),
            ),
            (
                json!([
                    { "system": LOINC, "code": "59408-5", "display": "Oxygen saturation in Arterial blood by Pulse oximetry" },
                    { "system": LOINC, "code": "2708-6", "display": "Oxygen saturation in Arterial blood" }
                ]),
                "SpO2",
                quantity(v.spo2.round().min(100.0), "%", "%"),
            ),
            (
                json!([{ "system": LOINC, "code": "8310-5", "display": "Body temperature" }]),
                "体温",
                quantity(round(v.temperature, 1), "°C", "Cel"),
            ),
        ];
        if let Some(w) = v.weight {
            singles.push((
                json!([{ "system": LOINC, "code": "29463-7", "display": "Body weight" }]),
                "体重",
                quantity(round(w, 1), "kg", "kg"),
            ));
        }
        for (coding, text, q) in singles {
            let mut o = base(coding, text);
            o["valueQuantity"] = q;
            self.push(o);
        }
    }

    /// The care items of a home visit (category `survey`), and a BPSD note if any.
    fn care_items(&mut self, at: Millis, day: &CareDay, note: Option<&str>) {
        let base = |system: &str, code: &str, text: &str| {
            json!({
                "resourceType": "Observation",
                "status": "final",
                "category": [{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey" }] }],
                "code": { "coding": [{ "system": system, "code": code, "display": text }], "text": text },
                "subject": subject(self.person),
                "effectiveDateTime": date_time(at),
            })
        };
        let items = [
            (
                CARE_RECORD,
                "meal-staple",
                "主食摂取量",
                day.staple,
                "%",
                "%",
            ),
            (CARE_RECORD, "meal-side", "副食摂取量", day.side, "%", "%"),
            (LOINC, "9108-2", "水分摂取量（1日）", day.fluid, "mL", "mL"),
            (
                CARE_RECORD,
                "urination-count",
                "排尿回数（1日）",
                day.urination,
                "回",
                "/d",
            ),
            (
                CARE_RECORD,
                "bowel-count",
                "排便回数（1日）",
                day.bowel,
                "回",
                "/d",
            ),
            (
                CARE_RECORD,
                "sleep-hours",
                "睡眠時間",
                day.sleep,
                "時間",
                "h",
            ),
        ];
        for (system, code, text, value, unit, ucum) in items {
            let mut o = base(system, code, text);
            o["valueQuantity"] = quantity(value, unit, ucum);
            self.push(o);
        }
        if let Some(n) = note {
            let mut o = base(CARE_RECORD, "bpsd-note", "BPSD・様子");
            o["valueString"] = json!(n);
            self.push(o);
        }
    }

    /// The patient's alert limits (an active Goal, category `vital-limits`).
    fn limits(&mut self, at: Millis, targets: &[LimitTarget<'_>], note: &str) {
        let targets: Vec<Value> = targets
            .iter()
            .map(|(loinc, label, unit, ucum, low, high)| {
                let mut range = serde_json::Map::new();
                if let Some(l) = low {
                    range.insert("low".into(), quantity(*l, unit, ucum));
                }
                if let Some(h) = high {
                    range.insert("high".into(), quantity(*h, unit, ucum));
                }
                json!({ "measure": { "coding": [{ "system": LOINC, "code": loinc }], "text": label },
                        "detailRange": Value::Object(range) })
            })
            .collect();
        self.push(json!({
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "category": [{ "coding": [{ "system": CARE_RECORD, "code": "vital-limits", "display": "個別アラート範囲" }] }],
            "description": { "text": "在宅バイタルサインの個別アラート範囲" },
            "subject": subject(self.person),
            "startDate": date(at),
            "target": targets,
            "note": [{ "text": note }],
        }));
    }

    /// A one-team goal; returns its id.
    fn team_goal(&mut self, at: Millis, domain: (&str, &str), text: &str, by: &str) -> String {
        self.push(json!({
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "achievementStatus": { "coding": [{ "system": GOAL_ACHIEVEMENT, "code": "in-progress", "display": "In Progress" }], "text": "取り組み中" },
            "category": [{ "coding": [
                { "system": TEAM_GOAL, "code": "team-goal", "display": "ワンチームの目標" },
                { "system": TEAM_GOAL, "code": domain.0, "display": domain.1 },
            ] }],
            "description": { "text": text },
            "subject": subject(self.person),
            "startDate": date(at),
            "expressedBy": { "display": by },
        }))
    }

    /// A progress note on a team goal (a timeline post about the goal).
    fn goal_progress(
        &mut self,
        at: Millis,
        goal: &str,
        goal_text: &str,
        assessment: (&str, &str),
        text: &str,
        by: &str,
    ) {
        self.push(json!({
            "resourceType": "Communication",
            "status": "completed",
            "category": [
                { "coding": [{ "system": TIMELINE_KIND, "code": "report", "display": "報告" }] },
                { "coding": [{ "system": GOAL_PROGRESS, "code": assessment.0, "display": assessment.1 }] },
            ],
            "priority": "routine",
            "subject": subject(self.person),
            "about": [{ "reference": format!("Goal/{goal}"), "display": goal_text }],
            "sent": instant(at),
            "sender": { "display": by },
            "payload": [{ "contentString": format!("【目標の経過：{}】{goal_text}\n{text}", assessment.1) }],
        }));
    }

    fn note(&mut self, kind: (&str, &str, &str), at: Millis, title: &str, text: &str) -> String {
        let data = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        self.push(json!({
            "resourceType": "DocumentReference",
            "meta": profile("JP_DocumentReference"),
            "status": "current",
            "type": { "coding": [{ "system": LOINC, "code": kind.0, "display": kind.1 }], "text": kind.2 },
            "subject": subject(self.person),
            "date": instant(at),
            "description": title,
            "content": [{ "attachment": {
                "contentType": "text/plain; charset=utf-8",
                "data": data,
                "title": title,
                "creation": date_time(at),
            } }],
        }))
    }
}

const NURSE_NOTE: (&str, &str, &str) = ("34746-8", "Nurse Note", "看護記録");
/// Renkei's code systems for home care records, patient limits and team goals (the same
/// as `renkei_core::care_log` and `renkei_core::team_goals`; docs/fhir.md).
const CARE_RECORD: &str = "https://renkei.example.jp/fhir/CodeSystem/care-record";
const TEAM_GOAL: &str = "https://renkei.example.jp/fhir/CodeSystem/team-goal";
const GOAL_PROGRESS: &str = "https://renkei.example.jp/fhir/CodeSystem/goal-progress";
const TIMELINE_KIND: &str = "https://renkei.example.jp/fhir/CodeSystem/timeline-kind";
const GOAL_ACHIEVEMENT: &str = "http://terminology.hl7.org/CodeSystem/goal-achievement";

/// One bound set of a patient's limits: (LOINC, label, unit, UCUM, low, high).
type LimitTarget<'a> = (&'a str, &'a str, &'a str, &'a str, Option<f64>, Option<f64>);

/// What a home visit records beyond the vital signs.
struct CareDay {
    staple: f64,
    side: f64,
    fluid: f64,
    urination: f64,
    bowel: f64,
    sleep: f64,
}
const PROGRESS_NOTE: (&str, &str, &str) = ("11506-3", "Progress note", "経過記録");
const DISCHARGE_SUMMARY: (&str, &str, &str) = ("18842-5", "Discharge summary", "退院時サマリー");

#[derive(Clone, Copy)]
struct Vitals {
    systolic: f64,
    diastolic: f64,
    pulse: f64,
    spo2: f64,
    temperature: f64,
    weight: Option<f64>,
}

// ---------------------------------------------------------------------------------------
// One person's history
// ---------------------------------------------------------------------------------------

/// A hospital stay.
struct Admission {
    start: Millis,
    end: Millis,
    diagnosis: Diagnosis,
    service: &'static str,
    infection: bool,
    heart: bool,
}

/// Laboratory baselines at the start of the history.
struct LabState {
    /// Seeds the noise of each draw.
    seed: u64,
    hba1c: Option<f64>,
    egfr: f64,
    bnp: Option<f64>,
    hb: f64,
    alb: f64,
    k: f64,
    ldl: Option<f64>,
}

/// The Japanese eGFR equation solved for creatinine.
fn creatinine(egfr: f64, age: i64, sex: Sex) -> f64 {
    let f = if sex == Sex::Female { 0.739 } else { 1.0 };
    (egfr / (194.0 * (age.max(20) as f64).powf(-0.287) * f)).powf(-1.0 / 1.094)
}

struct History<'a> {
    rng: StdRng,
    person: &'a Person<'a>,
    conditions: Vec<Chronic>,
    allergies: Vec<&'static Allergen>,
    admission: Option<Admission>,
    labs: LabState,
    statin_atorva: bool,
    batches: Vec<ClinicalBatch>,
    /// Active prescriptions' (drug, request id, authored, supply) in order, for dispensing.
    prescribed: Vec<(Drug, String, Millis, i64)>,
}

fn batch(person: &str, author: &Author, resources: Vec<(String, Value)>) -> ClinicalBatch {
    ClinicalBatch {
        person_id: person.to_string(),
        facility_id: author.facility_id.clone(),
        facility_type: author.facility_type,
        user_id: author.user_id.clone(),
        login_id: author.login_id.clone(),
        profession: author.profession,
        resources,
    }
}

impl<'a> History<'a> {
    fn new(rng: StdRng, person: &'a Person<'a>) -> Self {
        let mut h = History {
            rng,
            person,
            conditions: Vec::new(),
            allergies: Vec::new(),
            admission: None,
            labs: LabState {
                seed: 0,
                hba1c: None,
                egfr: 70.0,
                bnp: None,
                hb: 13.0,
                alb: 4.0,
                k: 4.2,
                ldl: None,
            },
            statin_atorva: false,
            batches: Vec::new(),
            prescribed: Vec::new(),
        };
        h.choose_conditions();
        h
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    fn choose_conditions(&mut self) {
        use Chronic::*;
        let male = self.person.sex == Sex::Male;
        let old = self.person.age >= 80;
        let frail = self.person.frail;
        let mut odds = vec![
            (Hypertension, 0.62),
            (Diabetes, 0.32),
            (Dyslipidemia, 0.35),
            (HeartFailure, if old { 0.22 } else { 0.12 }),
            (Ckd, 0.22),
            (Dementia, if frail { 0.55 } else { 0.18 }),
            (StrokeSequelae, if frail { 0.3 } else { 0.1 }),
            (Osteoporosis, if male { 0.06 } else { 0.3 }),
            (Copd, if male { 0.14 } else { 0.03 }),
            (Gerd, 0.15),
            (Constipation, 0.22),
            (Insomnia, 0.12),
            (Depression, 0.05),
        ];
        if male {
            odds.push((Bph, 0.25));
        }
        let mut c: Vec<Chronic> = odds
            .into_iter()
            .filter(|(_, p)| self.rng.gen_bool(*p))
            .map(|(k, _)| k)
            .collect();
        let af = if c.contains(&HeartFailure) {
            0.45
        } else {
            0.06
        };
        if self.chance(af) {
            c.push(AtrialFibrillation);
        }
        if c.is_empty() {
            c.push(Hypertension);
        }
        c.sort();
        self.conditions = c.clone();
        // Allergies and intolerances: about a third of people have one.
        if self.chance(0.34) {
            let a = &ALLERGENS[self.rng.gen_range(0..ALLERGENS.len())];
            self.allergies.push(a);
            if self.chance(0.2) {
                let b = &ALLERGENS[self.rng.gen_range(0..ALLERGENS.len())];
                if !std::ptr::eq(a, b) {
                    self.allergies.push(b);
                }
            }
        }
        self.statin_atorva = self.chance(0.5);
        // Laboratory baselines.
        let female = self.person.sex == Sex::Female;
        let l = &mut self.labs;
        let r = &mut self.rng;
        l.seed = r.gen();
        l.egfr = if c.contains(&Ckd) {
            r.gen_range(34.0..54.0)
        } else {
            r.gen_range(52.0..82.0)
        };
        l.hba1c = c.contains(&Diabetes).then(|| r.gen_range(6.8..8.8));
        l.bnp = if c.contains(&HeartFailure) {
            Some(r.gen_range(120.0..420.0))
        } else if r.gen_bool(0.3) {
            Some(r.gen_range(12.0..60.0))
        } else {
            None
        };
        l.hb = if female {
            r.gen_range(10.4..13.6)
        } else {
            r.gen_range(11.2..15.2)
        };
        l.alb = if frail {
            r.gen_range(3.1..3.8)
        } else {
            r.gen_range(3.6..4.4)
        };
        l.k = if c.contains(&Ckd) {
            r.gen_range(4.4..5.3)
        } else {
            r.gen_range(3.8..4.6)
        };
        l.ldl = c.contains(&Dyslipidemia).then(|| r.gen_range(120.0..175.0));
    }

    fn has(&self, c: Chronic) -> bool {
        self.conditions.contains(&c)
    }

    /// Whether `author` is the one following `c`.
    fn manages(&self, c: Chronic, clinic: bool) -> bool {
        let has_clinic = self.person.team.clinic.is_some();
        if clinic {
            has_clinic && c.clinic_managed()
        } else {
            !(has_clinic && c.clinic_managed())
        }
    }

    fn onset(&mut self, c: Chronic) -> String {
        let (lo, hi) = c.years();
        let years = self.rng.gen_range(lo..=hi);
        let t = HORIZON - years * 365 * DAY - self.rng.gen_range(0..300) * DAY;
        // Old diagnoses are often known only to the month or year.
        if years > 8 {
            jst(t).format("%Y").to_string()
        } else if years > 3 {
            jst(t).format("%Y-%m").to_string()
        } else {
            date(t)
        }
    }

    /// The values of a draw at `at`: each test's baseline, its trend over the months of the
    /// history and a little noise that depends on the time alone, so draws by different
    /// facilities line up whatever order they are written in. An acute illness (`sick`)
    /// shows on admission (`inpatient_day` 0) and, less, before discharge.
    fn draw(&self, at: Millis, sick: bool, inpatient_day: i64) -> Vec<(&'static str, f64)> {
        let ckd = self.has(Chronic::Ckd);
        let hf = self.has(Chronic::HeartFailure);
        let age = self.person.age;
        let sex = self.person.sex;
        let l = &self.labs;
        let months = (at - (HORIZON - HISTORY_DAYS * DAY)) as f64 / (30 * DAY) as f64;
        let r = &mut StdRng::seed_from_u64(l.seed ^ (at as u64).rotate_left(17));
        let mut egfr =
            (l.egfr - months * if ckd { 0.6 } else { 0.25 } + noise(r, 2.0)).clamp(12.0, 110.0);
        let hba1c = l
            .hba1c
            .map(|a| (a - months * 0.08 + noise(r, 0.15)).clamp(5.8, 10.5));
        let mut bnp = l.bnp.map(|b| {
            (b * (1.0 + noise(r, 0.18)) - if hf { months * 6.0 } else { 0.0 }).clamp(5.0, 1500.0)
        });
        let hb = (l.hb - months * 0.05 + noise(r, 0.3)).clamp(7.5, 17.0);
        let mut alb = (l.alb - months * 0.02 + noise(r, 0.12)).clamp(2.4, 4.9);
        let k = (l.k + noise(r, 0.18)).clamp(3.0, 6.0);
        let ldl = l.ldl.map(|d| (d - months * 8.0).max(78.0) + noise(r, 6.0));
        let mut crp = r.gen_range(0.02..0.2);
        let mut na = 140.0 + noise(r, 1.6);
        if sick {
            alb -= if inpatient_day == 0 { 0.3 } else { 0.5 };
            egfr *= 0.85;
            na -= 3.0;
            crp = if inpatient_day == 0 {
                r.gen_range(4.0..14.0)
            } else {
                r.gen_range(0.3..1.8)
            };
            if hf {
                bnp = bnp.map(|b| b * if inpatient_day == 0 { 3.2 } else { 1.5 });
            }
        }
        let cre = creatinine(egfr, age, sex);
        let bun = (cre * 14.0 + noise(r, 2.5) + if sick { 6.0 } else { 0.0 }).max(5.0);
        // Before discharge only what the stay was about is checked again.
        if sick && inpatient_day > 0 {
            let mut out = vec![("cre", cre), ("egfr", egfr), ("alb", alb), ("crp", crp)];
            if hf {
                out.extend(bnp.map(|b| ("bnp", b)));
            }
            return out;
        }
        let mut out = vec![("cre", cre), ("egfr", egfr), ("hb", hb), ("alb", alb)];
        if ckd || hf || sick {
            out.push(("k", k));
        }
        if sick {
            out.extend([("bun", bun), ("na", na), ("crp", crp)]);
        }
        out.extend(hba1c.map(|a| ("hba1c", a)));
        out.extend(bnp.map(|b| ("bnp", b)));
        if let Some(d) = ldl {
            out.push(("ldl", d));
            if sick || inpatient_day < 0 {
                out.push(("ast", 22.0 + noise(r, 5.0)));
                out.push(("alt", 18.0 + noise(r, 6.0)));
            }
        }
        out
    }

    fn record_draw(&self, w: &mut Writer<'_>, at: Millis, sick: bool, day: i64, enc: &str) {
        let sex = self.person.sex;
        for (key, value) in self.draw(at, sick, day) {
            let t = TESTS.iter().find(|t| t.key == key).expect("known test");
            w.lab(t, value, sex, at, Some(enc));
        }
    }

    fn plan_admission(&mut self) {
        if !self.chance(if self.person.frail { 0.45 } else { 0.3 }) {
            return;
        }
        let start_day = self.rng.gen_range(30..HISTORY_DAYS - 40);
        let start = day_start(HORIZON - (HISTORY_DAYS - start_day) * DAY)
            + self.rng.gen_range(10..20) * HOUR;
        let length = self.rng.gen_range(9..25);
        let end = day_start(start + length * DAY) + 10 * HOUR + self.rng.gen_range(0..4) * HOUR;
        let hf = self.has(Chronic::HeartFailure);
        let pick = self.rng.gen_range(0..10);
        let (diagnosis, service, infection, heart) = if hf && pick < 6 {
            (
                dx("I50.0", "うっ血性心不全", "慢性心不全の急性増悪"),
                "循環器内科",
                false,
                true,
            )
        } else if pick < 5 || self.has(Chronic::Dementia) && pick < 7 {
            (
                dx("J69.0", "食物及び吐物による肺臓炎", "誤嚥性肺炎"),
                "呼吸器内科",
                true,
                false,
            )
        } else if pick < 8 {
            (
                dx("N39.0", "尿路感染症，部位不明", "尿路感染症"),
                "総合内科",
                true,
                false,
            )
        } else {
            (
                dx("S72.0", "大腿骨頚部骨折", "右大腿骨頸部骨折"),
                "整形外科",
                false,
                false,
            )
        };
        self.admission = Some(Admission {
            start,
            end,
            diagnosis,
            service,
            infection,
            heart,
        });
    }

    fn in_hospital(&self, t: Millis) -> bool {
        self.admission
            .as_ref()
            .is_some_and(|a| t >= day_start(a.start) && t < a.end + DAY)
    }

    /// Visits every `every` days from a random offset, skipping days in hospital.
    fn visit_days(&mut self, from: Millis, every: i64, hours: (i64, i64)) -> Vec<Millis> {
        let mut out = Vec::new();
        let mut t = day_start(from) + self.rng.gen_range(0..every.min(14)) * DAY;
        while t < HORIZON - DAY {
            // Not on Sundays.
            let weekday = jst(t).format("%u").to_string();
            let day = if weekday == "7" { t + DAY } else { t };
            let at = day
                + self.rng.gen_range(hours.0..hours.1) * HOUR
                + self.rng.gen_range(0..12) * 5 * MINUTE;
            if !self.in_hospital(at) && at < HORIZON {
                out.push(at);
            }
            t += every * DAY;
        }
        out
    }

    // --- the authors --------------------------------------------------------------------

    fn hospital(&mut self) {
        let Some(author) = self.person.team.hospital.clone() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(self.rng.gen());
        let mut w = Writer {
            rng: &mut rng,
            person: self.person.id,
            out: Vec::new(),
        };
        let followed: Vec<Chronic> = self
            .conditions
            .clone()
            .into_iter()
            .filter(|c| self.manages(*c, false))
            .collect();
        // Outpatient follow-up every twelve weeks (with 84 days' prescriptions) when the
        // hospital follows a chronic condition; else a check-up.
        let visits = if followed.is_empty() {
            self.visit_days(HORIZON - 120 * DAY, 120, (9, 12))
        } else {
            self.visit_days(HORIZON - 168 * DAY, 84, (9, 12))
        };
        let has_clinic = self.person.team.clinic.is_some();
        let service = if followed.contains(&Chronic::HeartFailure)
            || followed.contains(&Chronic::AtrialFibrillation)
        {
            "循環器内科"
        } else if followed.contains(&Chronic::Dementia)
            || followed.contains(&Chronic::StrokeSequelae)
        {
            "脳神経内科"
        } else if followed.contains(&Chronic::Copd) {
            "呼吸器内科"
        } else {
            "内科"
        };
        let first_visit = visits.first().copied().unwrap_or(HORIZON - 30 * DAY);
        // The problem list, recorded at the first visit of the period.
        let mut first_enc = None;
        for (n, at) in visits.iter().enumerate() {
            let enc = w.encounter(
                ("AMB", "ambulatory"),
                *at,
                at + 25 * MINUTE,
                if n == 0 {
                    "再診（定期）"
                } else {
                    "再診"
                },
                service,
                None,
            );
            if n == 0 {
                first_enc = Some(enc.clone());
                for c in &followed {
                    let onset = self.onset(*c);
                    let psy = matches!(c, Chronic::Dementia | Chronic::Depression);
                    w.condition(
                        &c.diagnosis(),
                        &onset,
                        *at,
                        None,
                        Some(&enc),
                        "problem-list-item",
                        psy,
                    );
                }
                for a in self.allergies.clone() {
                    let note = match a.category {
                        "food" => Some("食事提供時は除去食で対応"),
                        _ if a.criticality == "high" => Some("投与禁忌。救急搬送時は必ず確認"),
                        _ => None,
                    };
                    w.allergy(a, *at, note);
                }
            }
            if !followed.is_empty() {
                let supply = 84;
                let last = n + 1 == visits.len();
                let drugs: Vec<Drug> = followed
                    .iter()
                    .flat_map(|c| {
                        drugs_for(*c, &self.conditions, &self.allergies, self.statin_atorva)
                    })
                    .collect();
                for (rp, d) in drugs.iter().enumerate() {
                    let status = if last { "active" } else { "completed" };
                    let id = w.request(
                        d,
                        at + 20 * MINUTE,
                        supply,
                        status,
                        false,
                        Some(&enc),
                        rp + 1,
                    );
                    self.prescribed.push((*d, id, at + 20 * MINUTE, supply));
                }
            }
            // Blood tests at every visit, unless the clinic does them.
            let clinic_tests = has_clinic && !self.conditions.iter().all(|c| !c.clinic_managed());
            if !clinic_tests {
                let day = if n == 0 { -1 } else { 1 };
                self.record_draw(&mut w, at - 30 * MINUTE, false, day, &enc);
            }
        }
        if first_enc.is_none() {
            // No outpatient visit in the period: the problem list still exists.
            let at = first_visit;
            for c in &followed {
                let onset = self.onset(*c);
                let psy = matches!(c, Chronic::Dementia | Chronic::Depression);
                w.condition(
                    &c.diagnosis(),
                    &onset,
                    at,
                    None,
                    None,
                    "problem-list-item",
                    psy,
                );
            }
            for a in self.allergies.clone() {
                w.allergy(a, at, None);
            }
        }
        // The admission: its diagnosis, labs on admission and before discharge, an
        // antibiotic when infected, and the discharge summary.
        if let Some(adm) = self.admission.take() {
            let enc = w.encounter(
                ("IMP", "inpatient encounter"),
                adm.start,
                adm.end,
                "入院（救急）",
                adm.service,
                Some(adm.diagnosis.name),
            );
            w.condition(
                &adm.diagnosis,
                &date(adm.start),
                adm.start,
                Some(adm.end - DAY),
                Some(&enc),
                "encounter-diagnosis",
                false,
            );
            self.record_draw(&mut w, adm.start + HOUR, true, 0, &enc);
            self.record_draw(&mut w, adm.end - 2 * DAY, true, 1, &enc);
            let mut antibiotic = None;
            if adm.infection {
                let penicillin = self.allergies.iter().any(|a| a.penicillin);
                let cephem = self.allergies.iter().any(|a| a.cephem);
                let d = if cephem || penicillin {
                    LEVOFLOXACIN
                } else {
                    CEFTRIAXONE
                };
                antibiotic = Some(d.name);
                w.request(
                    &d,
                    adm.start + 2 * HOUR,
                    7,
                    "completed",
                    true,
                    Some(&enc),
                    1,
                );
            }
            let course = match (adm.infection, adm.heart) {
                (true, _) => format!(
                    "入院時CRP高値、{}を7日間投与し解熱。嚥下評価のうえ食事形態を調整した。",
                    antibiotic.unwrap_or("抗菌薬")
                ),
                (_, true) => "利尿薬の静注で体重が入院時より約3kg減少し、下腿浮腫・呼吸困難は改善。塩分制限（6g/日）を指導した。".to_string(),
                _ => "人工骨頭置換術を施行。リハビリテーションにより歩行器歩行まで回復した。".to_string(),
            };
            let text = format!(
                "【退院時サマリー】\n入院期間：{}〜{}\n入院時診断：{}\n\n【経過】\n{}\n\n【退院時の状態】\nADL：{}。食事：{}。\n\n【申し送り】\nかかりつけ医・訪問看護・ケアマネジャーへ：退院後1週間以内の訪問で体重・バイタル・服薬状況の確認をお願いします。{}",
                md(adm.start),
                md(adm.end),
                adm.diagnosis.name,
                course,
                if self.person.frail { "車椅子移乗は一部介助" } else { "屋内は杖歩行で自立" },
                if adm.infection { "嚥下調整食（コード3）" } else { "常食（減塩）" },
                if self.allergies.is_empty() { String::new() } else {
                    format!("アレルギー：{}。", self.allergies.iter().map(|a| a.substance).collect::<Vec<_>>().join("、"))
                },
            );
            w.note(
                DISCHARGE_SUMMARY,
                adm.end + HOUR,
                &format!("退院時サマリー（{}）", adm.diagnosis.name),
                &text,
            );
            self.admission = Some(adm);
        }
        let out = std::mem::take(&mut w.out);
        self.batches.push(batch(self.person.id, &author, out));
    }

    fn clinic(&mut self) {
        let Some(author) = self.person.team.clinic.clone() else {
            return;
        };
        let followed: Vec<Chronic> = self
            .conditions
            .clone()
            .into_iter()
            .filter(|c| self.manages(*c, true))
            .collect();
        let mut rng = StdRng::seed_from_u64(self.rng.gen());
        let mut w = Writer {
            rng: &mut rng,
            person: self.person.id,
            out: Vec::new(),
        };
        // Monthly visits with 28 days' prescriptions over the last three months; a single
        // visit when the clinic follows nothing.
        let visits = if followed.is_empty() {
            self.visit_days(HORIZON - 90 * DAY, 90, (9, 17))
        } else {
            self.visit_days(HORIZON - 84 * DAY, 28, (9, 17))
        };
        for (n, at) in visits.iter().enumerate() {
            let enc = w.encounter(
                ("AMB", "ambulatory"),
                *at,
                at + 15 * MINUTE,
                "再診",
                "内科",
                None,
            );
            if n == 0 {
                for c in &followed {
                    let onset = self.onset(*c);
                    w.condition(
                        &c.diagnosis(),
                        &onset,
                        *at,
                        None,
                        Some(&enc),
                        "problem-list-item",
                        false,
                    );
                }
                // A home doctor records the food allergies told at the first visit.
                for a in self
                    .allergies
                    .clone()
                    .into_iter()
                    .filter(|a| a.category == "food")
                {
                    w.allergy(a, *at, None);
                }
            }
            let last = n + 1 == visits.len();
            let drugs: Vec<Drug> = followed
                .iter()
                .flat_map(|c| drugs_for(*c, &self.conditions, &self.allergies, self.statin_atorva))
                .collect();
            for (rp, d) in drugs.iter().enumerate() {
                let status = if last { "active" } else { "completed" };
                let id = w.request(d, at + 10 * MINUTE, 28, status, false, Some(&enc), rp + 1);
                self.prescribed.push((*d, id, at + 10 * MINUTE, 28));
            }
            // Blood tests at the first and the last visit of the period.
            if (n == 0 || last) && !followed.is_empty() {
                let day = if n == 0 { -1 } else { 1 };
                self.record_draw(&mut w, at - 5 * MINUTE, false, day, &enc);
            }
        }
        let out = std::mem::take(&mut w.out);
        self.batches.push(batch(self.person.id, &author, out));
    }

    fn pharmacy(&mut self) {
        let Some(author) = self.person.team.pharmacy.clone() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(self.rng.gen());
        let mut w = Writer {
            rng: &mut rng,
            person: self.person.id,
            out: Vec::new(),
        };
        let mut prescribed = std::mem::take(&mut self.prescribed);
        prescribed.sort_by_key(|p| p.2);
        const NOTES: &[&str] = &[
            "残薬なし。",
            "残薬調整のため本人と確認済み。",
            "一包化して交付。",
            "飲み忘れ防止のためお薬カレンダーを案内。",
            "副作用の訴えなし。",
        ];
        // One prescription is filled at once: within the hour after the visit, or the next
        // morning when the pharmacy has closed (19:00).
        let mut filled: Option<(Millis, Millis)> = None;
        for (d, request, authored, supply) in &prescribed {
            let handed = match filled {
                Some((a, h)) if a == *authored => h,
                _ => {
                    let soon = authored + w.rng.gen_range(20..70) * MINUTE;
                    let h = if jst(soon).format("%H").to_string().as_str() >= "19" {
                        day_start(soon) + DAY + 9 * HOUR + w.rng.gen_range(10..90) * MINUTE
                    } else {
                        soon
                    };
                    filled = Some((*authored, h));
                    h
                }
            };
            if handed >= HORIZON {
                continue;
            }
            let note = w
                .rng
                .gen_bool(0.2)
                .then(|| NOTES[w.rng.gen_range(0..NOTES.len())]);
            w.dispense(d, request, handed, *supply, note);
        }
        self.prescribed = prescribed;
        let out = std::mem::take(&mut w.out);
        if !out.is_empty() {
            self.batches.push(batch(self.person.id, &author, out));
        }
    }

    fn nursing(&mut self) {
        let Some(author) = self.person.team.nursing.clone() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(self.rng.gen());
        let hf = self.has(Chronic::HeartFailure);
        let htn = self.has(Chronic::Hypertension);
        let copd = self.has(Chronic::Copd);
        let af = self.has(Chronic::AtrialFibrillation);
        let frail = self.person.frail;
        let admission = self
            .admission
            .as_ref()
            .map(|a| (a.start, a.end, a.diagnosis.name));
        let visits = self.visit_days(HORIZON - 70 * DAY, 14, (10, 16));
        let mut w = Writer {
            rng: &mut rng,
            person: self.person.id,
            out: Vec::new(),
        };
        let mut base = Vitals {
            systolic: if htn {
                w.rng.gen_range(128.0..150.0)
            } else {
                w.rng.gen_range(108.0..132.0)
            },
            diastolic: w.rng.gen_range(62.0..82.0),
            pulse: if af {
                w.rng.gen_range(76.0..96.0)
            } else {
                w.rng.gen_range(60.0..80.0)
            },
            spo2: if copd {
                w.rng.gen_range(91.0..95.0)
            } else {
                w.rng.gen_range(95.0..98.5)
            },
            temperature: w.rng.gen_range(36.1..36.7),
            weight: Some(if self.person.sex == Sex::Female {
                w.rng.gen_range(38.0..58.0)
            } else {
                w.rng.gen_range(48.0..70.0)
            }),
        };
        const CONDITION: &[&str] = &[
            "表情穏やかで会話もスムーズ",
            "日中は臥床がちだが声かけで離床できる",
            "食事摂取量は主食・副食とも8割程度",
            "夜間の排尿で2〜3回起きるとの訴えあり",
            "デイサービスを楽しみにしている様子",
            "家族より最近物忘れが増えたとの話あり",
        ];
        const CARE: &[&str] = &[
            "服薬カレンダーの残数を確認、飲み忘れなし",
            "服薬カレンダーに朝の飲み忘れ1回あり、家族と確認方法を相談",
            "足浴と下肢の保湿ケアを実施",
            "入浴介助を実施、皮膚トラブルなし",
            "排便コントロール良好（2日に1回）",
            "室内歩行の付き添いとリハビリ体操を実施",
        ];
        let mut tape_noted = false;
        // The nursing station's own limits for the patients it watches most closely, and the
        // team goal it keeps with everyone.
        let by = format!(
            "{}（{}）",
            author.display_name,
            author.profession.label(renkei_domain::Lang::Ja)
        );
        let mut goal = None;
        if let Some(first) = visits.first().copied() {
            let mut targets = Vec::new();
            if htn || hf {
                targets.push((
                    "8480-6",
                    "収縮期血圧",
                    "mmHg",
                    "mm[Hg]",
                    Some(90.0),
                    Some(170.0),
                ));
            }
            if copd {
                targets.push(("59408-5", "SpO2", "%", "%", Some(89.0), None));
            }
            if hf {
                let w0 = base.weight.unwrap_or(50.0);
                targets.push((
                    "29463-7",
                    "体重",
                    "kg",
                    "kg",
                    None,
                    Some((w0 + 2.0).round()),
                ));
            }
            if !targets.is_empty() {
                let note = if hf {
                    "心不全：体重2kg以上の増加、収縮期170超で主治医へ連絡"
                } else if copd {
                    "COPD：SpO2 89%未満で主治医へ連絡"
                } else {
                    "高血圧：収縮期170超で主治医へ連絡"
                };
                w.limits(first, &targets, note);
            }
            if frail || hf {
                let text = if frail {
                    "住み慣れた自宅で、トイレまで自分で歩いて行ける"
                } else {
                    "塩分と水分に気をつけて、再入院せずに自宅で過ごす"
                };
                let domain = if frail {
                    ("rehabilitation", "リハビリ")
                } else {
                    ("wish", "本人の望む暮らし")
                };
                goal = Some((w.team_goal(first, domain, text, &by), text));
            }
        }
        for (n, at) in visits.iter().enumerate() {
            // Drift: slow changes, plus what an illness or a hospital stay does.
            base.systolic += noise(w.rng, 3.0);
            base.diastolic += noise(w.rng, 2.0);
            base.pulse += noise(w.rng, 2.0);
            base.temperature = 36.4 + noise(w.rng, 0.15);
            let mut v = base;
            v.systolic = (v.systolic + noise(w.rng, 7.0)).clamp(90.0, 190.0);
            v.diastolic = (v.diastolic + noise(w.rng, 5.0))
                .clamp(45.0, 105.0)
                .min(v.systolic - 25.0);
            v.pulse = (v.pulse + noise(w.rng, 4.0) + if af { noise(w.rng, 8.0) } else { 0.0 })
                .clamp(45.0, 130.0);
            v.spo2 = (v.spo2 + noise(w.rng, 0.8)).clamp(85.0, 99.0);
            v.temperature = base.temperature;
            let mut event = None;
            if let Some((start, end, name)) = admission {
                // The visit before an admission: the illness was coming.
                if *at < start && start - at < 10 * DAY {
                    v.temperature = w.rng.gen_range(37.6..38.6);
                    v.spo2 -= 3.0;
                    v.pulse += 12.0;
                    if hf {
                        v.weight = v.weight.map(|x| x + 2.4);
                    }
                    event = Some(format!(
                        "発熱・倦怠感あり、主治医に報告。受診を勧めた（後日{}で入院）。",
                        name
                    ));
                } else if *at > end && *at - end < 16 * DAY {
                    event = Some(format!(
                        "{}退院後の初回訪問。{}",
                        md(end),
                        if frail {
                            "ADLやや低下、移乗に見守りが必要。"
                        } else {
                            "ADLは入院前とほぼ同じ。"
                        }
                    ));
                    if let Some(x) = base.weight.as_mut() {
                        *x -= 1.2;
                    }
                    v.weight = base.weight;
                }
            }
            if let Some(x) = base.weight.as_mut() {
                *x += noise(w.rng, 0.3);
            }
            // Weight every other visit (the scale is at the day service on other weeks).
            if n % 2 == 1 && event.is_none() {
                v.weight = None;
            }
            w.vitals(*at, &v);
            let poor = event.is_some() && v.temperature > 37.5;
            let day = CareDay {
                staple: if poor {
                    30.0
                } else {
                    (w.rng.gen_range(6..=10) * 10) as f64
                },
                side: if poor {
                    20.0
                } else {
                    (w.rng.gen_range(5..=10) * 10) as f64
                },
                fluid: (w.rng.gen_range(8..=14) * 100) as f64 - if hf { 200.0 } else { 0.0 },
                urination: w.rng.gen_range(5..=9) as f64,
                bowel: w.rng.gen_range(0..=2) as f64,
                sleep: (w.rng.gen_range(10..=16) as f64) / 2.0,
            };
            const BPSD: &[&str] = &[
                "夕方になると落ち着かず、帰宅願望の訴えあり。傾聴にて落ち着く",
                "同じ質問を繰り返すが、穏やかに過ごしている",
                "夜間に何度も起きて探し物をしていたと家族より",
            ];
            let bpsd = (frail && n % 4 == 0).then(|| BPSD[w.rng.gen_range(0..BPSD.len())]);
            // Care records on alternate visits (the care workers record the others).
            if n % 2 == 0 || event.is_some() {
                w.care_items(at + 30 * MINUTE, &day, bpsd);
            }
            if let Some((id, text)) = goal.as_ref().filter(|_| n % 4 == 3) {
                let (assessment, note) = if event.is_some() {
                    (
                        ("worsening", "悪化"),
                        "体調を崩し、目標に向けた取り組みを一時中断",
                    )
                } else if n >= 8 {
                    (
                        ("improving", "改善"),
                        "歩行器で室内移動が安定してきた。家族の見守りも継続",
                    )
                } else {
                    (("no-change", "変化なし"), "体調は安定。現在の支援を継続")
                };
                let (id, text) = (id.clone(), *text);
                w.goal_progress(at + 90 * MINUTE, &id, text, assessment, note, &by);
            }
            if n % 3 == 0 || event.is_some() {
                let cond = CONDITION[w.rng.gen_range(0..CONDITION.len())];
                let care = CARE[w.rng.gen_range(0..CARE.len())];
                let mut text = format!(
                    "訪問時、血圧{}/{}mmHg、脈拍{}回/分、SpO2 {}%、体温{:.1}℃。{}。{}。",
                    v.systolic.round(),
                    v.diastolic.round(),
                    v.pulse.round(),
                    v.spo2.round().min(100.0),
                    v.temperature,
                    cond,
                    care
                );
                if let Some(e) = &event {
                    text.push('\n');
                    text.push_str(e);
                }
                if hf {
                    text.push_str("\n下腿浮腫の有無と体重の増加（2kg/週以上）に注意して観察継続。");
                }
                w.note(
                    NURSE_NOTE,
                    at + 70 * MINUTE,
                    &format!("訪問看護記録（{}）", md(*at)),
                    &text,
                );
            }
            // The nursing station notices a tape rash once.
            if !tape_noted && n == 2 && w.rng.gen_bool(0.15) {
                w.allergy(
                    &TAPE,
                    *at,
                    Some("皮膚保護剤を使用し、テープは低刺激性のものに変更"),
                );
                tape_noted = true;
            }
        }
        let out = std::mem::take(&mut w.out);
        if !out.is_empty() {
            self.batches.push(batch(self.person.id, &author, out));
        }
    }

    fn care(&mut self) {
        let Some(author) = self.person.team.care.clone() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(self.rng.gen());
        let admission = self.admission.as_ref().map(|a| (a.start, a.end));
        let mut w = Writer {
            rng: &mut rng,
            person: self.person.id,
            out: Vec::new(),
        };
        const SERVICES: &[&str] = &[
            "通所介護（週2回）と福祉用具貸与（歩行器）を利用中",
            "訪問介護（週3回、買い物・掃除）と通所リハビリ（週1回）を利用中",
            "訪問看護（隔週）と通所介護（週3回）を利用中",
            "短期入所（月1回、3泊）と通所介護（週2回）を利用中",
        ];
        const FAMILY: &[&str] = &[
            "長女より「夜間のトイレ歩行が心配」との相談あり。ポータブルトイレの導入を検討",
            "同居の長男は日中仕事のため、通所の送迎時間の調整を事業所と相談",
            "遠方の次女と電話で状況を共有。次回担当者会議に参加予定",
            "配偶者の介護負担感が強く、ショートステイの追加利用を提案",
        ];
        // Monthly monitoring visits over the last three months.
        let visits = self.visit_days(HORIZON - 90 * DAY, 30, (13, 17));
        for at in visits {
            let service = SERVICES[w.rng.gen_range(0..SERVICES.len())];
            let family = FAMILY[w.rng.gen_range(0..FAMILY.len())];
            let mut text = format!(
                "モニタリング訪問（自宅）。{}。サービス利用に大きな問題なし。\n{}。",
                service, family
            );
            if let Some((start, end)) = admission {
                if at > end && at - end < 40 * DAY {
                    text.push_str(&format!(
                        "\n{}〜{}の入院を受け、退院前カンファレンスの内容に沿ってケアプランを変更。",
                        md(start),
                        md(end)
                    ));
                }
            }
            w.note(
                PROGRESS_NOTE,
                at,
                &format!("支援経過記録（{}）", md(at)),
                &text,
            );
        }
        let out = std::mem::take(&mut w.out);
        if !out.is_empty() {
            self.batches.push(batch(self.person.id, &author, out));
        }
    }

    fn run(mut self) -> Vec<ClinicalBatch> {
        self.plan_admission();
        // Prescribers before the pharmacy: dispensing refers to prescriptions.
        self.hospital();
        self.clinic();
        self.pharmacy();
        self.nursing();
        self.care();
        self.batches
    }
}

/// The clinical data of every demo patient with a hospital registration, from `seed`.
pub fn generate(network: &DemoNetwork, seed: u64) -> Vec<ClinicalBatch> {
    // A stream of its own: the network is generated from the same seed.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6b6c_696e_6963_616c);
    let persons = people(network);
    let mut out = Vec::new();
    for person in &persons {
        let history = History::new(StdRng::seed_from_u64(rng.gen()), person);
        out.extend(history.run());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate as network_of, DemoOptions};
    use renkei_domain::patient::InfoCategory;
    use std::collections::{BTreeSet, HashSet};

    fn network(seed: u64) -> DemoNetwork {
        network_of(&DemoOptions {
            seed,
            password_hash: String::new(),
            totp_secret: String::new(),
        })
    }

    fn all(batches: &[ClinicalBatch]) -> impl Iterator<Item = (&ClinicalBatch, &String, &Value)> {
        batches
            .iter()
            .flat_map(|b| b.resources.iter().map(move |(id, r)| (b, id, r)))
    }

    fn of_type<'a>(batches: &'a [ClinicalBatch], t: &'a str) -> Vec<&'a Value> {
        all(batches)
            .filter(|(_, _, r)| r["resourceType"] == t)
            .map(|(_, _, r)| r)
            .collect()
    }

    #[test]
    fn same_seed_same_data_other_seed_differs() {
        let net = network(7);
        let a = generate(&net, 7);
        let b = generate(&net, 7);
        assert_eq!(a, b);
        assert_ne!(a, generate(&net, 8));
        // The network itself is untouched by the clinical stream.
        assert_eq!(net.import.users, network(7).import.users);
    }

    #[test]
    fn every_resource_validates_and_belongs_to_its_batch_person() {
        let net = network(2026);
        let batches = generate(&net, 2026);
        let mut ids = HashSet::new();
        let mut categories: BTreeSet<&'static str> = BTreeSet::new();
        for (b, id, r) in all(&batches) {
            assert!(ids.insert(id.clone()), "duplicate id {id}");
            let mut with_id = r.clone();
            with_id["id"] = json!(id);
            let prepared = renkei_fhir::resource::prepare(&with_id)
                .unwrap_or_else(|e| panic!("{e:#?}\n{with_id:#}"));
            assert!(prepared.warnings.is_empty(), "{:?}", prepared.warnings);
            assert_eq!(
                prepared.patient_reference.as_deref(),
                Some(format!("Patient/{}", b.person_id).as_str())
            );
            categories.insert(prepared.category.code());
            // Nothing happens after the demo's present.
            for key in [
                "effectiveDateTime",
                "authoredOn",
                "whenHandedOver",
                "recordedDate",
            ] {
                if let Some(t) = r.get(key).and_then(Value::as_str) {
                    let t = chrono::DateTime::parse_from_rfc3339(t).unwrap();
                    assert!(t.timestamp_millis() <= HORIZON, "{key} {t}");
                }
            }
        }
        for c in [
            InfoCategory::Medical,
            InfoCategory::Medication,
            InfoCategory::Laboratory,
            InfoCategory::Care,
            InfoCategory::Documents,
            InfoCategory::Emergency,
            InfoCategory::Psychiatric,
        ] {
            assert!(categories.contains(c.code()), "no {c:?} data");
        }
    }

    #[test]
    fn references_point_to_earlier_resources_of_the_same_person() {
        let net = network(2026);
        let batches = generate(&net, 2026);
        let mut seen: HashMap<String, (&str, &str)> = HashMap::new();
        let mut dispenses = 0;
        for b in &batches {
            // A batch may refer to itself (an encounter written before its diagnoses).
            for (id, r) in &b.resources {
                let t = r["resourceType"].as_str().unwrap();
                seen.insert(format!("{t}/{id}"), (b.person_id.as_str(), t));
            }
            for (_, r) in &b.resources {
                let mut refs = Vec::new();
                for key in ["encounter"] {
                    if let Some(s) = r.pointer(&format!("/{key}/reference")) {
                        refs.push(s.as_str().unwrap().to_string());
                    }
                }
                for p in r["authorizingPrescription"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    refs.push(p["reference"].as_str().unwrap().to_string());
                }
                for reference in refs {
                    let (person, _) = seen
                        .get(&reference)
                        .unwrap_or_else(|| panic!("{reference} not written before"));
                    assert_eq!(*person, b.person_id);
                }
                if r["resourceType"] == "MedicationDispense" {
                    dispenses += 1;
                    assert_eq!(b.facility_type, FacilityType::Pharmacy);
                    let req = r["authorizingPrescription"][0]["reference"]
                        .as_str()
                        .unwrap();
                    assert_eq!(seen[req].1, "MedicationRequest");
                    let request = batches
                        .iter()
                        .flat_map(|b| b.resources.iter())
                        .find(|(id, _)| format!("MedicationRequest/{id}") == req)
                        .map(|(_, r)| r)
                        .unwrap();
                    assert_eq!(
                        request["medicationCodeableConcept"],
                        r["medicationCodeableConcept"]
                    );
                    let authored = request["authoredOn"].as_str().unwrap();
                    let handed = r["whenHandedOver"].as_str().unwrap();
                    assert!(
                        chrono::DateTime::parse_from_rfc3339(handed).unwrap()
                            > chrono::DateTime::parse_from_rfc3339(authored).unwrap()
                    );
                }
            }
        }
        assert!(dispenses > 100, "only {dispenses} dispensing records");
    }

    #[test]
    fn only_facilities_that_may_contribute_write() {
        let net = network(2026);
        let p = &net.import.patients;
        let batches = generate(&net, 2026);
        for b in &batches {
            let registered = p
                .records
                .iter()
                .any(|(r, person)| *person == b.person_id && r.facility_id == b.facility_id);
            let member = p.team.iter().any(|m| {
                m.person_id == b.person_id
                    && m.facility_id == b.facility_id
                    && m.status == TeamStatus::Active
            });
            let consent_ok = p.consents.iter().any(|(c, withdrawn)| {
                c.person_id == b.person_id
                    && c.scope == ConsentScope::Comprehensive
                    && withdrawn.is_none()
            });
            assert!(
                registered || (member && consent_ok),
                "{} may not write for {}",
                b.facility_id,
                b.person_id
            );
            // The author works there.
            let user = net.import.users.iter().find(|u| u.id == b.user_id).unwrap();
            assert!(user.memberships.iter().any(|(f, _)| *f == b.facility_id));
            assert_eq!(user.login_id, b.login_id);
        }
        // The featured accounts have data to look at.
        for login in [
            "hospital.doctor",
            "clinic.doctor",
            "homenurse",
            "caremanager",
            "pharmacist",
        ] {
            assert!(
                batches.iter().any(|b| b.login_id == login),
                "{login} wrote nothing"
            );
        }
        // Every person registered at the hospital has a record.
        let hospital_persons: HashSet<&str> = batches
            .iter()
            .filter(|b| b.facility_type == FacilityType::Hospital)
            .map(|b| b.person_id.as_str())
            .collect();
        assert!(hospital_persons.len() >= 240, "{}", hospital_persons.len());
    }

    #[test]
    fn the_record_shows_every_kind_of_data() {
        let net = network(2026);
        let batches = generate(&net, 2026);
        let classes: BTreeSet<&str> = of_type(&batches, "Encounter")
            .iter()
            .filter_map(|e| e["class"]["code"].as_str())
            .collect();
        assert_eq!(classes, BTreeSet::from(["AMB", "IMP"]));
        let allergy_kinds: BTreeSet<&str> = of_type(&batches, "AllergyIntolerance")
            .iter()
            .filter_map(|a| a["category"][0].as_str())
            .collect();
        assert!(allergy_kinds.contains("food") && allergy_kinds.contains("medication"));
        let icd: BTreeSet<&str> = of_type(&batches, "Condition")
            .iter()
            .filter_map(|c| c["code"]["coding"][0]["code"].as_str())
            .collect();
        for code in ["I10", "E11.9", "I50.9", "F03", "I69.3", "N18.3"] {
            assert!(icd.contains(code), "no {code}");
        }
        let requests = of_type(&batches, "MedicationRequest");
        assert!(requests
            .iter()
            .any(|r| r["medicationCodeableConcept"]["coding"][0]["system"] == YJ));
        assert!(requests.iter().any(|r| r["status"] == "active"));
        let observations = of_type(&batches, "Observation");
        let flags: BTreeSet<&str> = observations
            .iter()
            .filter_map(|o| o["interpretation"][0]["coding"][0]["code"].as_str())
            .collect();
        assert_eq!(flags, BTreeSet::from(["H", "L", "N"]));
        let vital_codes: BTreeSet<&str> = observations
            .iter()
            .filter(|o| o["category"][0]["coding"][0]["code"] == "vital-signs")
            .filter_map(|o| o["code"]["coding"][0]["code"].as_str())
            .collect();
        for code in ["85354-9", "8867-4", "59408-5", "8310-5", "29463-7"] {
            assert!(vital_codes.contains(code), "no vital {code}");
        }
        let notes = of_type(&batches, "DocumentReference");
        let kinds: BTreeSet<&str> = notes
            .iter()
            .filter_map(|d| d["type"]["coding"][0]["code"].as_str())
            .collect();
        assert_eq!(kinds, BTreeSet::from(["11506-3", "18842-5", "34746-8"]));
        let text = base64::engine::general_purpose::STANDARD
            .decode(
                notes[0]["content"][0]["attachment"]["data"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        assert!(String::from_utf8(text)
            .unwrap()
            .chars()
            .any(|c| c > '\u{3000}'));
        // The demo start stays fast: a bounded number of resources for the whole city.
        let total: usize = batches.iter().map(|b| b.resources.len()).sum();
        assert!((8_000..=25_000).contains(&total), "{total} resources");
    }

    #[test]
    fn laboratory_values_drift_plausibly() {
        let net = network(2026);
        let batches = generate(&net, 2026);
        // Per person and test: values in time order.
        let mut series: BTreeMap<(String, String), Vec<(i64, f64)>> = BTreeMap::new();
        for (b, _, r) in all(&batches) {
            if r["resourceType"] != "Observation"
                || r["category"][0]["coding"][0]["code"] != "laboratory"
            {
                continue;
            }
            let code = r["code"]["coding"][0]["code"].as_str().unwrap().to_string();
            let t = chrono::DateTime::parse_from_rfc3339(r["effectiveDateTime"].as_str().unwrap())
                .unwrap()
                .timestamp_millis();
            let v = r["valueQuantity"]["value"].as_f64().unwrap();
            series
                .entry((b.person_id.clone(), code))
                .or_default()
                .push((t, v));
        }
        let hba1c = "3D046000001906202";
        let egfr = "8A065000002391901";
        let mut long = 0;
        for ((_, code), points) in &mut series {
            points.sort_by_key(|p| p.0);
            let (lo, hi) = match code.as_str() {
                c if c == hba1c => (5.5, 11.0),
                c if c == egfr => (10.0, 115.0),
                "2A030000001930101" => (7.0, 18.0),
                "3A015000002327101" => (2.0, 5.0),
                "3H015000002326101" => (2.8, 6.2),
                _ => (0.0, 2000.0),
            };
            for (_, v) in points.iter() {
                assert!((lo..=hi).contains(v), "{code}: {v}");
            }
            if points.len() >= 3 {
                long += 1;
            }
            // Outside an admission, consecutive HbA1c values differ by less than 1 point.
            if code == hba1c {
                for w in points.windows(2) {
                    assert!((w[0].1 - w[1].1).abs() < 1.0, "{points:?}");
                }
            }
        }
        assert!(long > 200, "few series to chart: {long}");
    }
}
