//! Synthetic Japanese patient population with ground truth, for benchmarks and tests
//! (feature `synth`).
//!
//! Persons live in households in Hokkaido cities (shared surname, address, landline; couples
//! where the wife took the husband's name, children, sometimes twins). Each person has one to
//! five facility records, each with independent noise: 旧字体 variants (渡辺→渡邊), half-width
//! kana, hiragana, kana spelling variants (コウノ→コオノ, ユウコ→ユーコ), one-character kana typos,
//! maiden names on old records (previous name kept on some newer ones), missing phone /
//! address / kana, birth-date digit errors, day-month swaps, wareki dates, full-width digits,
//! kanji numerals in addresses, building names, moves and insurance changes.
//!
//! Output is deterministic for a given seed and rand version (StdRng, rand 0.8).

pub mod names;

use crate::blocking::{candidate_pairs, BlockingConfig, BlockingStats};
use crate::cluster::cluster_labels;
use crate::normalize::MatchKeys;
use crate::score::{Decision, Scorer};
use crate::{BirthDate, PersonRecord, PreviousName, Sex};
use rand::distributions::WeightedIndex;
use rand::prelude::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Instant;
use unicode_normalization::UnicodeNormalization;

/// Generator settings. Noise rates are per record.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub records: usize,
    pub seed: u64,
    pub facilities: usize,
    /// Scales every noise rate (1.0 = defaults below; 0.0 = clean copies).
    pub noise: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            records: 10_000,
            seed: 42,
            facilities: 40,
            noise: 1.0,
        }
    }
}

/// A generated record with its ground-truth person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthRecord {
    pub person_id: u32,
    pub record: PersonRecord,
    /// Birth date as the facility wrote it (ISO, 1950/3/2, 19500302, 昭和25年3月2日,
    /// full-width); `record.birth_date` is its parse.
    pub birth_date_text: String,
}

#[derive(Debug, Clone)]
struct Address {
    city: usize,
    town: &'static str,
    jo: u32,
    chome: u32,
    ban: u32,
    go: u32,
    building: Option<(&'static str, u32)>,
    postal: String,
}

#[derive(Debug, Clone)]
struct Person {
    id: u32,
    family: usize,
    /// Maiden name used on records older than a recent marriage.
    maiden: Option<usize>,
    given: (&'static str, &'static str),
    sex: Sex,
    birth: BirthDate,
    address: Address,
    landline: Option<String>,
    mobile: Option<String>,
    insurance: String,
}

struct Gen {
    rng: StdRng,
    noise: f64,
    surname_dist: WeightedIndex<f64>,
    /// standard kanji → old/variant forms.
    old_forms: HashMap<char, Vec<char>>,
}

const CSV_HEADER: [&str; 15] = [
    "record_id",
    "person_id",
    "facility_id",
    "family_kanji",
    "given_kanji",
    "family_kana",
    "given_kana",
    "previous_family_kanji",
    "previous_family_kana",
    "birth_date",
    "sex",
    "phone",
    "postal_code",
    "address",
    "insurer_number",
];

fn to_hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{30A1}'..='\u{30F6}' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

fn to_halfwidth_kana(s: &str) -> String {
    const FULL: &str = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンァィゥェォッャュョー";
    const HALF: &str = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝｧｨｩｪｫｯｬｭｮｰ";
    let half: Vec<char> = HALF.chars().collect();
    s.nfd()
        .map(|c| match c {
            '\u{3099}' => 'ﾞ',
            '\u{309A}' => 'ﾟ',
            _ => FULL.chars().position(|f| f == c).map_or(c, |i| half[i]),
        })
        .collect()
}

fn to_fullwidth_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c),
            '-' => '－',
            _ => c,
        })
        .collect()
}

fn to_kanji_number(n: u32) -> String {
    const D: [&str; 10] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    if n == 0 {
        return D[0].into();
    }
    let mut s = String::new();
    let (h, t, o) = (n / 100, n / 10 % 10, n % 10);
    if h > 0 {
        if h > 1 {
            s += D[h as usize];
        }
        s += "百";
    }
    if t > 0 {
        if t > 1 {
            s += D[t as usize];
        }
        s += "十";
    }
    if o > 0 {
        s += D[o as usize];
    }
    s
}

fn wareki(d: BirthDate) -> String {
    let (era, base) = match (d.year, d.month, d.day) {
        (y, _, _) if y >= 2020 => ("令和", 2019),
        (2019, m, _) if m >= 5 => ("令和", 2019),
        (y, _, _) if y >= 1990 => ("平成", 1989),
        (1989, m, _) if m >= 2 => ("平成", 1989),
        (y, _, _) if y >= 1927 => ("昭和", 1926),
        (1926, 12, d) if d >= 25 => ("昭和", 1926),
        (y, _, _) if y >= 1913 => ("大正", 1912),
        _ => ("明治", 1868),
    };
    // Era changes mid-year are approximated: dates are only in plausible ranges anyway.
    format!(
        "{era}{}年{}月{}日",
        i32::from(d.year) - base + 1,
        d.month,
        d.day
    )
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Gen {
    fn p(&mut self, rate: f64) -> bool {
        self.rng.gen_bool((rate * self.noise).clamp(0.0, 1.0))
    }

    fn surname(&mut self) -> usize {
        self.surname_dist.sample(&mut self.rng)
    }

    fn given(&mut self, sex: Sex) -> (&'static str, &'static str) {
        let t = if sex == Sex::Male {
            names::MALE_NAMES
        } else {
            names::FEMALE_NAMES
        };
        // Mild skew so some given names are common.
        let i = (self.rng.gen::<f64>().powf(1.6) * t.len() as f64) as usize;
        t[i.min(t.len() - 1)]
    }

    fn birth(&mut self, age: u32) -> BirthDate {
        let year = (2024 - age as i32).max(1900) as u16;
        let month = self.rng.gen_range(1..=12);
        let day = self.rng.gen_range(1..=days_in_month(year, month));
        BirthDate { year, month, day }
    }

    fn address(&mut self) -> Address {
        let city = self.rng.gen_range(0..names::CITIES.len());
        let (_, _, postal_prefix, towns) = names::CITIES[city];
        let town = towns[self.rng.gen_range(0..towns.len())];
        let building = self.rng.gen_bool(0.3).then(|| {
            (
                names::BUILDINGS[self.rng.gen_range(0..names::BUILDINGS.len())],
                self.rng.gen_range(1..=5) * 100 + self.rng.gen_range(1..=12),
            )
        });
        Address {
            city,
            town,
            jo: self.rng.gen_range(1..=20),
            chome: self.rng.gen_range(1..=10),
            ban: self.rng.gen_range(1..=30),
            go: self.rng.gen_range(1..=25),
            building,
            postal: format!("{postal_prefix}{:04}", self.rng.gen_range(0..10000)),
        }
    }

    fn landline(&mut self, city: usize) -> String {
        let area = names::CITIES[city].1;
        // Area code + local number is always 10 digits.
        let local_len = 10 - area.len();
        let n: u64 = self
            .rng
            .gen_range(2 * 10u64.pow(local_len as u32 - 1)..10u64.pow(local_len as u32));
        format!("{area}{n}")
    }

    fn mobile(&mut self) -> String {
        let prefix = ["090", "080", "070"][self.rng.gen_range(0..3)];
        format!("{prefix}{:08}", self.rng.gen_range(0..100_000_000u32))
    }

    fn insurance(&mut self) -> String {
        format!(
            "{:08}-{}-{}",
            self.rng.gen_range(1_000_000..40_000_000u32),
            self.rng.gen_range(1..999u32),
            self.rng.gen_range(1..99_999u32)
        )
    }

    fn person(&mut self, id: u32, family: usize, sex: Sex, age: u32, hh: &Household) -> Person {
        let mobile = (age >= 15 && self.rng.gen_bool(0.6)).then(|| self.mobile());
        Person {
            id,
            family,
            maiden: None,
            given: self.given(sex),
            sex,
            birth: self.birth(age),
            address: hh.address.clone(),
            landline: hh.landline.clone(),
            mobile,
            insurance: self.insurance(),
        }
    }

    fn household(&mut self, next_id: &mut u32) -> Vec<Person> {
        let address = self.address();
        let landline = self.rng.gen_bool(0.6).then(|| self.landline(address.city));
        let hh = Household { address, landline };
        let family = self.surname();
        let mut id = || {
            *next_id += 1;
            *next_id - 1
        };
        let size = [1, 2, 3, 4][WeightedIndex::new([0.3, 0.35, 0.2, 0.15])
            .unwrap()
            .sample(&mut self.rng)];
        let mut out = Vec::new();
        if size == 1 {
            let sex = if self.rng.gen_bool(0.5) {
                Sex::Male
            } else {
                Sex::Female
            };
            let age = self.rng.gen_range(20..=98);
            out.push(self.person(id(), family, sex, age, &hh));
            return out;
        }
        let age = self.rng.gen_range(25..=92);
        out.push(self.person(id(), family, Sex::Male, age, &hh));
        let wife_age = (age as i32 + self.rng.gen_range(-6..=4)).clamp(20, 98) as u32;
        let mut wife = self.person(id(), family, Sex::Female, wife_age, &hh);
        let mut used: Vec<&str> = vec![out[0].given.1, wife.given.1];
        // A recent marriage: some facilities still hold the maiden name.
        if self.rng.gen_bool(0.25) {
            let mut m = self.surname();
            while m == family {
                m = self.surname();
            }
            wife.maiden = Some(m);
        }
        out.push(wife);
        let mut prev_child: Option<Person> = None;
        for _ in 2..size {
            let sex = if self.rng.gen_bool(0.5) {
                Sex::Male
            } else {
                Sex::Female
            };
            let mut child = if let Some(p) = prev_child.as_ref().filter(|_| self.rng.gen_bool(0.1))
            {
                // Twins: same birth date, household, surname; own given name.
                let mut c = self.person(id(), family, sex, 0, &hh);
                c.birth = p.birth;
                c
            } else {
                let child_age = wife_age.saturating_sub(self.rng.gen_range(22..=40));
                self.person(id(), family, sex, child_age, &hh)
            };
            // Family members never share a given name (reading included).
            while used.contains(&child.given.1) {
                child.given = self.given(sex);
            }
            used.push(child.given.1);
            if child.birth.year >= 2009 {
                child.mobile = None;
            }
            prev_child = Some(child.clone());
            out.push(child);
        }
        out
    }

    fn variant_kanji(&mut self, s: &str, rate: f64) -> String {
        if !self.p(rate) {
            return s.to_string();
        }
        s.chars()
            .map(|c| match self.old_forms.get(&c) {
                Some(v) => v[self.rng.gen_range(0..v.len())],
                None => c,
            })
            .collect()
    }

    /// Spelling variants that folding must absorb (コウノ → コオノ / コーノ, ミズキ → ミヅキ).
    fn kana_spelling(&mut self, s: &str) -> String {
        let cs: Vec<char> = s.chars().collect();
        let o_row = "オコゴソゾトドノホボポモヨロョ";
        let u_row = "ウクグスズツヌフブプムユルュ";
        let e_row = "エケゲセゼテデネヘベペメレ";
        let mut spots = Vec::new();
        for i in 1..cs.len() {
            let p = cs[i - 1];
            if cs[i] == 'ウ' && (o_row.contains(p) || u_row.contains(p))
                || (cs[i] == 'イ' && e_row.contains(p))
            {
                spots.push(i);
            }
        }
        for (i, c) in cs.iter().enumerate() {
            if matches!(c, 'ズ' | 'ジ') {
                spots.push(i);
            }
        }
        if spots.is_empty() {
            return s.to_string();
        }
        let i = spots[self.rng.gen_range(0..spots.len())];
        let mut out = cs.clone();
        out[i] = match cs[i] {
            'ズ' => 'ヅ',
            'ジ' => 'ヂ',
            'ウ' if o_row.contains(cs[i - 1]) && self.rng.gen_bool(0.5) => 'オ',
            _ => 'ー',
        };
        out.into_iter().collect()
    }

    /// One-character typo: voicing toggled, another kana, or a dropped character.
    fn kana_typo(&mut self, s: &str) -> String {
        const BASIC: &str =
            "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";
        let mut cs: Vec<char> = s.chars().collect();
        if cs.is_empty() {
            return s.to_string();
        }
        let i = self.rng.gen_range(0..cs.len());
        match self.rng.gen_range(0..3) {
            0 => {
                // Toggle dakuten via NFD/NFC.
                let d: String = cs[i].to_string().nfd().collect();
                cs[i] = if d.chars().count() > 1 {
                    d.chars().next().unwrap_or(cs[i])
                } else {
                    format!("{}\u{3099}", cs[i])
                        .nfc()
                        .next()
                        .filter(|c| *c != cs[i])
                        .unwrap_or('ン')
                };
            }
            1 => {
                let b: Vec<char> = BASIC.chars().collect();
                cs[i] = b[self.rng.gen_range(0..b.len())];
            }
            _ if cs.len() >= 3 => {
                cs.remove(i);
            }
            _ => cs.push('ン'),
        }
        cs.into_iter().collect()
    }

    fn kana_form(&mut self, s: &str) -> String {
        let r: f64 = self.rng.gen();
        let n = self.noise;
        if r < 0.04 * n {
            String::new()
        } else if r < 0.19 * n {
            to_hiragana(s)
        } else if r < 0.34 * n {
            to_halfwidth_kana(s)
        } else {
            s.to_string()
        }
    }

    fn date_text(&mut self, d: BirthDate) -> String {
        let r: f64 = self.rng.gen();
        if r < 0.5 {
            d.to_string()
        } else if r < 0.7 {
            format!("{}/{}/{}", d.year, d.month, d.day)
        } else if r < 0.8 {
            format!("{:04}{:02}{:02}", d.year, d.month, d.day)
        } else if r < 0.95 {
            wareki(d)
        } else {
            to_fullwidth_digits(&d.to_string())
        }
    }

    fn birth_noise(&mut self, d: BirthDate) -> Option<BirthDate> {
        if self.p(0.01) {
            return None;
        }
        if self.p(0.02) {
            // One digit of YYYYMMDD changed, kept valid.
            for _ in 0..20 {
                let mut dg = d.digits();
                let i = self.rng.gen_range(2..8);
                dg[i] = b'0' + self.rng.gen_range(0..10u8);
                let s = std::str::from_utf8(&dg).unwrap_or("");
                let y: u16 = s[..4].parse().unwrap_or(0);
                let m: u8 = s[4..6].parse().unwrap_or(0);
                let dd: u8 = s[6..].parse().unwrap_or(0);
                if (1..=12).contains(&m) && dd >= 1 && dd <= days_in_month(y, m) && y <= 2024 {
                    return Some(BirthDate {
                        year: y,
                        month: m,
                        day: dd,
                    });
                }
            }
        }
        if d.day <= 12 && d.day != d.month && self.p(0.005) {
            return Some(BirthDate {
                year: d.year,
                month: d.day,
                day: d.month,
            });
        }
        Some(d)
    }

    fn phone_text(&mut self, digits: &str) -> String {
        let mobile =
            digits.starts_with("090") || digits.starts_with("080") || digits.starts_with("070");
        let area_len = if mobile {
            3
        } else {
            names::CITIES
                .iter()
                .find(|c| digits.starts_with(c.1))
                .map_or(3, |c| c.1.len())
        };
        let (area, rest) = digits.split_at(area_len);
        let (mid, last) = rest.split_at(rest.len() - 4);
        match self.rng.gen_range(0..20) {
            0..=3 => format!("{area}-{mid}-{last}"),
            4 => digits.to_string(),
            5 => format!("({area}){mid}-{last}"),
            6 => format!("+81-{}-{mid}-{last}", &area[1..]),
            7 => to_fullwidth_digits(&format!("{area}-{mid}-{last}")),
            8 => format!("{area}ー{mid}ー{last}"),
            9..=18 => format!("{area}-{mid}-{last}"),
            _ if !mobile => format!("{mid}-{last}"),
            _ => format!("{area} {mid} {last}"),
        }
    }

    fn address_text(&mut self, a: &Address) -> String {
        let city = names::CITIES[a.city].0;
        let kanji = self.rng.gen_bool(0.15);
        let num = |n: u32| {
            if kanji {
                to_kanji_number(n)
            } else {
                n.to_string()
            }
        };
        let town = a.town.replace("{}", &num(a.jo));
        let body = if kanji {
            format!("{}丁目{}番{}号", num(a.chome), num(a.ban), num(a.go))
        } else {
            match self.rng.gen_range(0..5) {
                0 => format!("{}丁目{}-{}", a.chome, a.ban, a.go),
                1 => format!("{}丁目{}番{}号", a.chome, a.ban, a.go),
                2 => format!("{}-{}-{}", a.chome, a.ban, a.go),
                3 => to_fullwidth_digits(&format!("{}-{}-{}", a.chome, a.ban, a.go)),
                _ => format!("{}丁目{}番地{}", a.chome, a.ban, a.go),
            }
        };
        let pref = if self.rng.gen_bool(0.5) {
            "北海道"
        } else {
            ""
        };
        let mut s = format!("{pref}{city}{town}{body}");
        if let Some((b, room)) = a.building {
            if self.rng.gen_bool(0.7) {
                let sep = [" ", "　", ""][self.rng.gen_range(0..3)];
                let room = if self.rng.gen_bool(0.5) {
                    format!("{room}号室")
                } else {
                    room.to_string()
                };
                let short: String = town.chars().take(2).collect();
                s = format!("{s}{sep}{b}{short}{sep}{room}");
            }
        }
        s
    }

    fn record(&mut self, p: &Person, facility: usize, old: bool) -> (PersonRecord, String) {
        let (mut fam_idx, mut previous) = (p.family, Vec::new());
        if let Some(m) = p.maiden {
            if old {
                fam_idx = m;
            } else if self.rng.gen_bool(0.5) {
                let (k, n) = names::SURNAMES[m];
                previous.push(PreviousName {
                    kanji: k.into(),
                    kana: self.kana_form(n),
                });
            }
        }
        let (fk, fkana) = names::SURNAMES[fam_idx];
        let mut family_kanji = self.variant_kanji(fk, 0.15);
        let mut given_kanji = self.variant_kanji(p.given.0, 0.08);
        if self.p(0.02) {
            family_kanji.clear();
        }
        if self.p(0.02) {
            given_kanji.clear();
        }
        if self.p(0.04) {
            family_kanji.push('　');
        }
        let mut family_kana = fkana.to_string();
        let mut given_kana = p.given.1.to_string();
        if self.p(0.06) {
            family_kana = self.kana_spelling(&family_kana);
        }
        if self.p(0.06) {
            given_kana = self.kana_spelling(&given_kana);
        }
        if self.p(0.03) {
            family_kana = self.kana_typo(&family_kana);
        }
        if self.p(0.03) {
            given_kana = self.kana_typo(&given_kana);
        }
        let family_kana = self.kana_form(&family_kana);
        let given_kana = self.kana_form(&given_kana);

        let sex = if self.p(0.02) {
            Sex::Unknown
        } else if self.p(0.002) {
            if p.sex == Sex::Male {
                Sex::Female
            } else {
                Sex::Male
            }
        } else {
            p.sex
        };
        let phone = match (&p.landline, &p.mobile) {
            _ if self.p(0.3) => String::new(),
            (Some(l), Some(m)) => {
                let d = if self.rng.gen_bool(0.5) { l } else { m };
                self.phone_text(&d.clone())
            }
            (Some(d), None) | (None, Some(d)) => self.phone_text(&d.clone()),
            (None, None) => String::new(),
        };
        let (address, postal) = if self.p(0.2) {
            (String::new(), String::new())
        } else {
            // Old records may carry an earlier address (moves).
            let a = if self.p(0.05) {
                self.address()
            } else {
                p.address.clone()
            };
            let postal = if self.rng.gen_bool(0.6) {
                let pc = format!("{}-{}", &a.postal[..3], &a.postal[3..]);
                if self.rng.gen_bool(0.2) {
                    to_fullwidth_digits(&pc)
                } else {
                    pc
                }
            } else {
                String::new()
            };
            (self.address_text(&a), postal)
        };
        let insurance = if self.rng.gen_bool(0.5) {
            String::new()
        } else if self.p(0.1) {
            self.insurance()
        } else {
            p.insurance.clone()
        };
        let birth_text = self
            .birth_noise(p.birth)
            .map(|d| self.date_text(d))
            .unwrap_or_default();
        let record = PersonRecord {
            record_id: String::new(),
            facility_id: format!("F{facility:03}"),
            family_kanji,
            given_kanji,
            family_kana,
            given_kana,
            previous_family_names: previous,
            birth_date: BirthDate::parse(&birth_text),
            sex,
            phone,
            postal_code: postal,
            address,
            insurance_number: insurance,
        };
        (record, birth_text)
    }
}

struct Household {
    address: Address,
    landline: Option<String>,
}

/// Generates `config.records` records (shuffled) with ground-truth person ids.
pub fn generate(config: &SynthConfig) -> Vec<SynthRecord> {
    let weights: Vec<f64> = (0..names::SURNAMES.len())
        .map(names::surname_weight)
        .collect();
    let mut old_forms: HashMap<char, Vec<char>> = HashMap::new();
    for (old, new) in crate::normalize::kanji_variant_pairs() {
        old_forms.entry(new).or_default().push(old);
    }
    // CJK compatibility ideographs that NFKC must fold (塚 U+FA10, 福 U+FA1B).
    old_forms.entry('塚').or_default().push('\u{FA10}');
    old_forms.entry('福').or_default().push('\u{FA1B}');
    let mut g = Gen {
        rng: StdRng::seed_from_u64(config.seed),
        noise: config.noise,
        surname_dist: WeightedIndex::new(weights).expect("positive surname weights"),
        old_forms,
    };
    let per_person = WeightedIndex::new([0.35, 0.30, 0.20, 0.10, 0.05]).expect("weights");
    let mut out: Vec<SynthRecord> = Vec::with_capacity(config.records + 8);
    let mut next_id = 0u32;
    'outer: loop {
        for p in g.household(&mut next_id) {
            let n = per_person.sample(&mut g.rng) + 1;
            for k in 0..n {
                if out.len() >= config.records {
                    break 'outer;
                }
                let facility = g.rng.gen_range(0..config.facilities.max(1));
                // With a maiden name, the first records predate the marriage.
                let old =
                    p.maiden.is_some() && k < n / 2 + usize::from(n == 1 && g.rng.gen_bool(0.3));
                let (record, birth_date_text) = g.record(&p, facility, old);
                out.push(SynthRecord {
                    person_id: p.id,
                    record,
                    birth_date_text,
                });
            }
        }
    }
    out.shuffle(&mut g.rng);
    for (i, r) in out.iter_mut().enumerate() {
        r.record.record_id = format!("R{i:07}");
    }
    out
}

/// Writes records as CSV: record_id, person_id, facility_id, family_kanji, given_kanji,
/// family_kana, given_kana, previous_family_kanji, previous_family_kana, birth_date, sex, phone,
/// postal_code, address, insurer_number.
pub fn write_csv<W: Write>(w: W, records: &[SynthRecord]) -> Result<(), csv::Error> {
    let mut wr = csv::Writer::from_writer(w);
    wr.write_record(CSV_HEADER)?;
    for s in records {
        let r = &s.record;
        let prev = r.previous_family_names.first();
        let pid = s.person_id.to_string();
        wr.write_record([
            r.record_id.as_str(),
            pid.as_str(),
            &r.facility_id,
            &r.family_kanji,
            &r.given_kanji,
            &r.family_kana,
            &r.given_kana,
            prev.map_or("", |p| p.kanji.as_str()),
            prev.map_or("", |p| p.kana.as_str()),
            &s.birth_date_text,
            r.sex.code(),
            &r.phone,
            &r.postal_code,
            &r.address,
            &r.insurance_number,
        ])?;
    }
    wr.flush()?;
    Ok(())
}

/// Reads the CSV written by [`write_csv`] (columns by header name; `person_id` may be empty
/// for data without ground truth, then each record is its own person).
pub fn read_csv<R: Read>(r: R) -> Result<Vec<SynthRecord>, csv::Error> {
    let mut rd = csv::Reader::from_reader(r);
    let headers = rd.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let idx: Vec<Option<usize>> = CSV_HEADER.iter().map(|h| col(h)).collect();
    let mut out = Vec::new();
    for (n, row) in rd.records().enumerate() {
        let row = row?;
        let get = |i: usize| idx[i].and_then(|c| row.get(c)).unwrap_or("").to_string();
        let prev_kanji = get(7);
        let prev_kana = get(8);
        let previous_family_names = if prev_kanji.is_empty() && prev_kana.is_empty() {
            Vec::new()
        } else {
            vec![PreviousName {
                kanji: prev_kanji,
                kana: prev_kana,
            }]
        };
        let birth_date_text = get(9);
        out.push(SynthRecord {
            person_id: get(1).parse().unwrap_or(u32::MAX - n as u32),
            record: PersonRecord {
                record_id: get(0),
                facility_id: get(2),
                family_kanji: get(3),
                given_kanji: get(4),
                family_kana: get(5),
                given_kana: get(6),
                previous_family_names,
                birth_date: BirthDate::parse(&birth_date_text),
                sex: Sex::parse(&get(10)),
                phone: get(11),
                postal_code: get(12),
                address: get(13),
                insurance_number: get(14),
            },
            birth_date_text,
        });
    }
    Ok(out)
}

/// Pairwise link quality against ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PairwiseMetrics {
    pub true_positives: u64,
    pub predicted_pairs: u64,
    pub true_pairs: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

fn pairs_of(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Pairwise precision/recall of a clustering (`predicted[i]` = cluster of record i) against
/// the true person ids: every pair of records in one cluster is a predicted link.
pub fn pairwise_metrics(truth: &[u32], predicted: &[u32]) -> PairwiseMetrics {
    let mut joint: HashMap<(u32, u32), u64> = HashMap::new();
    let mut by_truth: HashMap<u32, u64> = HashMap::new();
    let mut by_pred: HashMap<u32, u64> = HashMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        *joint.entry((*t, *p)).or_default() += 1;
        *by_truth.entry(*t).or_default() += 1;
        *by_pred.entry(*p).or_default() += 1;
    }
    let tp: u64 = joint.values().map(|n| pairs_of(*n)).sum();
    let true_pairs: u64 = by_truth.values().map(|n| pairs_of(*n)).sum();
    let predicted_pairs: u64 = by_pred.values().map(|n| pairs_of(*n)).sum();
    let precision = if predicted_pairs == 0 {
        1.0
    } else {
        tp as f64 / predicted_pairs as f64
    };
    let recall = if true_pairs == 0 {
        1.0
    } else {
        tp as f64 / true_pairs as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    PairwiseMetrics {
        true_positives: tp,
        predicted_pairs,
        true_pairs,
        precision,
        recall,
        f1,
    }
}

/// Result of [`evaluate`]: quality and wall time per phase.
#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    pub records: usize,
    pub persons: usize,
    pub blocking: BlockingStats,
    /// Share of true pairs that blocking produced as candidates.
    pub blocking_recall: f64,
    pub auto_links: usize,
    pub reviews: usize,
    /// True pairs among the review decisions.
    pub reviews_true: usize,
    /// Clustered auto-links vs truth.
    pub metrics: PairwiseMetrics,
    pub keys_ms: f64,
    pub blocking_ms: f64,
    pub scoring_ms: f64,
    pub clustering_ms: f64,
}

impl EvalReport {
    /// One-line JSON.
    pub fn to_json(&self) -> String {
        let m = &self.metrics;
        let b = &self.blocking;
        format!(
            concat!(
                "{{\"records\":{},\"persons\":{},\"true_pairs\":{},\"candidate_pairs\":{},",
                "\"blocking_recall\":{:.4},\"oversized_buckets\":{},\"largest_bucket\":{},",
                "\"auto_links\":{},\"reviews\":{},\"reviews_true\":{},\"predicted_pairs\":{},",
                "\"precision\":{:.4},\"recall\":{:.4},\"f1\":{:.4},",
                "\"ms\":{{\"keys\":{:.0},\"blocking\":{:.0},\"scoring\":{:.0},\"clustering\":{:.0},\"total\":{:.0}}}}}"
            ),
            self.records,
            self.persons,
            m.true_pairs,
            b.pairs,
            self.blocking_recall,
            b.oversized_buckets,
            b.largest_bucket,
            self.auto_links,
            self.reviews,
            self.reviews_true,
            m.predicted_pairs,
            m.precision,
            m.recall,
            m.f1,
            self.keys_ms,
            self.blocking_ms,
            self.scoring_ms,
            self.clustering_ms,
            self.keys_ms + self.blocking_ms + self.scoring_ms + self.clustering_ms,
        )
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Runs the whole pipeline (keys → term frequencies → blocking → scoring on all cores →
/// union-find over auto-links) and compares with ground truth.
pub fn evaluate(records: &[SynthRecord], blocking: &BlockingConfig, scorer: &Scorer) -> EvalReport {
    let t = Instant::now();
    let keys: Vec<MatchKeys> = records.iter().map(|r| MatchKeys::from(&r.record)).collect();
    let mut scorer = scorer.clone();
    scorer.fit_term_frequencies(&keys);
    let keys_ms = ms(t);

    let t = Instant::now();
    let (pairs, stats) = candidate_pairs(&keys, blocking);
    let blocking_ms = ms(t);
    let truth: Vec<u32> = records.iter().map(|r| r.person_id).collect();

    let t = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = pairs.len().div_ceil(threads).max(1);
    let decisions: Vec<Vec<(u32, u32, Decision)>> = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| {
                let (keys, scorer) = (&keys, &scorer);
                s.spawn(move || {
                    part.iter()
                        .filter_map(|&(a, b)| {
                            let d = scorer.score(&keys[a as usize], &keys[b as usize]).decision;
                            (d != Decision::NoLink).then_some((a, b, d))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scoring thread"))
            .collect()
    });
    let scoring_ms = ms(t);

    let t = Instant::now();
    let links: Vec<(u32, u32)> = decisions
        .iter()
        .flatten()
        .filter(|d| d.2 == Decision::AutoLink)
        .map(|d| (d.0, d.1))
        .collect();
    let labels = cluster_labels(keys.len(), links.iter().copied());
    let clustering_ms = ms(t);

    let reviews: Vec<&(u32, u32, Decision)> = decisions
        .iter()
        .flatten()
        .filter(|d| d.2 == Decision::Review)
        .collect();
    let same = |a: u32, b: u32| truth[a as usize] == truth[b as usize];
    let metrics = pairwise_metrics(&truth, &labels);
    let true_candidates = pairs.iter().filter(|(a, b)| same(*a, *b)).count();
    let persons = truth.iter().collect::<std::collections::HashSet<_>>().len();
    EvalReport {
        records: records.len(),
        persons,
        blocking: stats,
        blocking_recall: if metrics.true_pairs == 0 {
            1.0
        } else {
            true_candidates as f64 / metrics.true_pairs as f64
        },
        auto_links: links.len(),
        reviews: reviews.len(),
        reviews_true: reviews.iter().filter(|d| same(d.0, d.1)).count(),
        metrics,
        keys_ms,
        blocking_ms,
        scoring_ms,
        clustering_ms,
    }
}
