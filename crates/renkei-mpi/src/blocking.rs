//! Blocking: which record pairs are worth scoring.
//!
//! Every record gets several blocking keys; two records become a candidate pair when they
//! share at least one. The rules overlap on purpose so that one error does not lose a pair:
//! a birth-date typo is caught by the name-only and phone rules, a marriage name change by
//! the given-name and phone rules (and by the previous-name variants of the family rules), a
//! kana typo by the kanji rules.
//!
//! The name-only rule ([`BlockingRule::FullKana`]) is the one that overflows first: at a
//! million records サトウ ヒロシ is skipped as an oversized bucket, so a birth-date error on a
//! common name would lose the pair. The full name is therefore also keyed with the birth
//! year (survives a month or day typo and a day–month swap) and with month and day (survives
//! a year typo), in kana and in kanji; and the given name with the address block (survives
//! a missing or wrong birth date when the address is recorded). One error changes at most one
//! of year, month-day; these buckets stay small at any population size.
//!
//! Buckets larger than [`BlockingConfig::max_bucket`] are skipped entirely and counted in
//! [`BlockingStats`]: a bucket of n records costs n²/2 comparisons, and a huge bucket means the
//! key is too common to be evidence (サトウ ヒロシ without a birth date). The other rules still
//! cover those records.

use crate::normalize::MatchKeys;

/// The version of the blocking keys `BlockingRule::ALL` produces. Stored keys of another
/// version are recomputed at start-up (`renkei_core::patients::refresh_block_keys`); bump it
/// whenever a rule is added, removed or changes what it hashes (a test pins the keys of a
/// reference record to this version).
pub const BLOCKING_VERSION: u32 = 2;

/// One blocking rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockingRule {
    /// Folded family-name kana + birth date (current and previous family names).
    FamilyKanaBirthDate,
    /// Birth date + folded given-name kana. Survives a family-name change. Sex is left out
    /// because given names already imply it and an unknown sex would lose the pair.
    BirthDateGivenKana,
    /// Given name in kanji (loose-folded) + birth date. Survives a name change plus a kana typo.
    BirthDateGivenKanji,
    /// Phone number (digits, at least 6).
    Phone,
    /// Family name in kanji (loose-folded) + birth year and month. Survives a day typo and a
    /// kana typo.
    FamilyKanjiBirthMonth,
    /// Folded family + given kana. Survives any birth-date error.
    FullKana,
    /// Insurance number digits (at least 6).
    Insurance,
    /// Full name (folded kana, and loose kanji) + birth year. Survives a month or day typo and
    /// a day–month swap when the name-only bucket is oversized (common names).
    FullNameBirthYear,
    /// Full name (folded kana, and loose kanji) + birth month and day. Survives a year typo.
    FullNameBirthMonthDay,
    /// Given name (folded kana, and loose kanji) + address up to the block number. Survives
    /// a missing or wrong birth date and a family-name change; household members have
    /// distinct given names, so buckets stay small.
    AddressGivenName,
}

impl BlockingRule {
    /// All rules, the default set.
    pub const ALL: [BlockingRule; 10] = [
        BlockingRule::FamilyKanaBirthDate,
        BlockingRule::BirthDateGivenKana,
        BlockingRule::BirthDateGivenKanji,
        BlockingRule::Phone,
        BlockingRule::FamilyKanjiBirthMonth,
        BlockingRule::FullKana,
        BlockingRule::Insurance,
        BlockingRule::FullNameBirthYear,
        BlockingRule::FullNameBirthMonthDay,
        BlockingRule::AddressGivenName,
    ];
}

/// Blocking configuration.
#[derive(Debug, Clone)]
pub struct BlockingConfig {
    pub rules: Vec<BlockingRule>,
    /// Buckets with more records than this are skipped (see module docs).
    pub max_bucket: usize,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        BlockingConfig {
            rules: BlockingRule::ALL.to_vec(),
            max_bucket: 100,
        }
    }
}

/// Counters from one [`candidate_pairs`] run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockingStats {
    pub keys: usize,
    pub buckets: usize,
    pub largest_bucket: usize,
    pub oversized_buckets: usize,
    /// Record slots in skipped buckets.
    pub records_in_oversized: usize,
    /// Pairs before de-duplication across rules.
    pub raw_pairs: usize,
    /// Distinct candidate pairs.
    pub pairs: usize,
}

/// FNV-1a over the rule and the key parts. Stable across builds and Rust versions (unlike
/// `DefaultHasher`), because the keys are stored in the database and looked up later.
fn key_hash(rule: BlockingRule, parts: &[&str]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    feed(&[rule as u8, 0xff]);
    for p in parts {
        feed(p.as_bytes());
        // A separator no UTF-8 text contains, so ("ab","c") and ("a","bc") differ.
        feed(&[0xff]);
    }
    h
}

/// The blocking keys of one record (hashes; rule-tagged so rules never collide).
pub fn blocking_keys(k: &MatchKeys, rules: &[BlockingRule]) -> Vec<u64> {
    let date = k.birth_date.map(|d| d.to_string()).unwrap_or_default();
    let month = date.get(..7).unwrap_or("");
    let year = date.get(..4).unwrap_or("");
    let month_day = date.get(5..).unwrap_or("");
    let families = std::iter::once(&k.family).chain(k.previous_family.iter());
    // (family, given) in kana and in kanji; "k"/"j" keep the two scripts apart.
    let full_names = || {
        let kana = families
            .clone()
            .filter(|f| !f.kana_folded.is_empty() && !k.given.kana_folded.is_empty())
            .map(|f| ("k", f.kana_folded.as_str(), k.given.kana_folded.as_str()));
        let kanji = families
            .clone()
            .filter(|f| !f.loose.is_empty() && !k.given.loose.is_empty())
            .map(|f| ("j", f.loose.as_str(), k.given.loose.as_str()));
        kana.chain(kanji)
    };
    let mut out = Vec::with_capacity(20);
    for &rule in rules {
        match rule {
            BlockingRule::FamilyKanaBirthDate if !date.is_empty() => {
                for f in families.clone().filter(|f| !f.kana_folded.is_empty()) {
                    out.push(key_hash(rule, &[&f.kana_folded, &date]));
                }
            }
            BlockingRule::BirthDateGivenKana
                if !date.is_empty() && !k.given.kana_folded.is_empty() =>
            {
                out.push(key_hash(rule, &[&date, &k.given.kana_folded]));
            }
            BlockingRule::BirthDateGivenKanji if !date.is_empty() && !k.given.loose.is_empty() => {
                out.push(key_hash(rule, &[&date, &k.given.loose]));
            }
            BlockingRule::Phone if k.phone.len() >= 6 => {
                out.push(key_hash(rule, &[&k.phone]));
            }
            BlockingRule::FamilyKanjiBirthMonth if !month.is_empty() => {
                for f in families.clone().filter(|f| !f.loose.is_empty()) {
                    out.push(key_hash(rule, &[&f.loose, month]));
                }
            }
            BlockingRule::FullKana if !k.given.kana_folded.is_empty() => {
                for f in families.clone().filter(|f| !f.kana_folded.is_empty()) {
                    out.push(key_hash(rule, &[&f.kana_folded, &k.given.kana_folded]));
                }
            }
            BlockingRule::Insurance if k.insurance_number.len() >= 6 => {
                out.push(key_hash(rule, &[&k.insurance_number]));
            }
            BlockingRule::FullNameBirthYear if !year.is_empty() => {
                for (script, f, g) in full_names() {
                    out.push(key_hash(rule, &[script, f, g, year]));
                }
            }
            BlockingRule::FullNameBirthMonthDay if !month_day.is_empty() => {
                for (script, f, g) in full_names() {
                    out.push(key_hash(rule, &[script, f, g, month_day]));
                }
            }
            BlockingRule::AddressGivenName if !k.address.block.is_empty() => {
                for (script, g) in [("k", &k.given.kana_folded), ("j", &k.given.loose)] {
                    if !g.is_empty() {
                        out.push(key_hash(rule, &[script, &k.address.block, g]));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Candidate pairs `(i, j)` with `i < j`, indices into `records`, de-duplicated and sorted.
///
/// Sort-based grouping (not a HashMap of Vecs) keeps memory at 12 bytes per key, which matters
/// at a million records.
pub fn candidate_pairs(
    records: &[MatchKeys],
    config: &BlockingConfig,
) -> (Vec<(u32, u32)>, BlockingStats) {
    let mut entries: Vec<(u64, u32)> = Vec::with_capacity(records.len() * 8);
    for (i, k) in records.iter().enumerate() {
        for h in blocking_keys(k, &config.rules) {
            entries.push((h, i as u32));
        }
    }
    entries.sort_unstable();
    entries.dedup();
    let mut stats = BlockingStats {
        keys: entries.len(),
        ..Default::default()
    };
    let mut packed: Vec<u64> = Vec::new();
    for bucket in entries.chunk_by(|a, b| a.0 == b.0) {
        stats.buckets += 1;
        stats.largest_bucket = stats.largest_bucket.max(bucket.len());
        if bucket.len() > config.max_bucket {
            stats.oversized_buckets += 1;
            stats.records_in_oversized += bucket.len();
            continue;
        }
        // Indices inside a bucket are ascending (sorted entries), so (i, j) has i < j.
        for (x, a) in bucket.iter().enumerate() {
            for b in &bucket[x + 1..] {
                packed.push(((a.1 as u64) << 32) | b.1 as u64);
            }
        }
    }
    stats.raw_pairs = packed.len();
    packed.sort_unstable();
    packed.dedup();
    stats.pairs = packed.len();
    let pairs = packed
        .into_iter()
        .map(|p| ((p >> 32) as u32, p as u32))
        .collect();
    (pairs, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BirthDate, PersonRecord, Sex};

    fn rec(family: &str, given: &str, kana: (&str, &str), date: &str, address: &str) -> MatchKeys {
        MatchKeys::from(&PersonRecord {
            family_kanji: family.into(),
            given_kanji: given.into(),
            family_kana: kana.0.into(),
            given_kana: kana.1.into(),
            birth_date: BirthDate::parse(date),
            sex: Sex::Male,
            address: address.into(),
            ..Default::default()
        })
    }

    /// 150 other 佐藤 博 born on different days: the name-only bucket is oversized.
    fn crowd() -> Vec<MatchKeys> {
        (0..150)
            .map(|i| {
                let date = format!("{}-{:02}-{:02}", 1940 + i % 50, 1 + i % 12, 1 + i % 28);
                rec("佐藤", "博", ("サトウ", "ヒロシ"), &date, "")
            })
            .collect()
    }

    fn is_candidate(extra: [MatchKeys; 2], rules: &[BlockingRule]) -> bool {
        let mut records = crowd();
        records.extend(extra);
        let n = records.len() as u32;
        let config = BlockingConfig {
            rules: rules.to_vec(),
            max_bucket: 100,
        };
        let (pairs, stats) = candidate_pairs(&records, &config);
        assert!(stats.oversized_buckets > 0);
        pairs.contains(&(n - 2, n - 1))
    }

    const OLD_RULES: [BlockingRule; 7] = [
        BlockingRule::FamilyKanaBirthDate,
        BlockingRule::BirthDateGivenKana,
        BlockingRule::BirthDateGivenKanji,
        BlockingRule::Phone,
        BlockingRule::FamilyKanjiBirthMonth,
        BlockingRule::FullKana,
        BlockingRule::Insurance,
    ];

    #[test]
    fn common_name_with_month_typo_stays_a_candidate() {
        let pair = || {
            [
                rec("佐藤", "博", ("サトウ", "ヒロシ"), "1950-03-02", ""),
                rec("佐藤", "博", ("サトウ", "ヒロシ"), "1950-08-02", ""),
            ]
        };
        assert!(!is_candidate(pair(), &OLD_RULES));
        assert!(is_candidate(pair(), &BlockingRule::ALL));
    }

    #[test]
    fn common_name_with_year_typo_and_kana_typo_stays_a_candidate() {
        let pair = || {
            [
                rec("佐藤", "博", ("サトウ", "ヒロシ"), "1950-03-02", ""),
                rec("佐藤", "博", ("サトー", "ヒロツ"), "1980-03-02", ""),
            ]
        };
        assert!(!is_candidate(pair(), &OLD_RULES));
        assert!(is_candidate(pair(), &BlockingRule::ALL));
    }

    #[test]
    fn common_name_without_birth_date_meets_at_its_address() {
        let pair = || {
            [
                rec(
                    "佐藤",
                    "博",
                    ("サトウ", "ヒロシ"),
                    "",
                    "札幌市中央区南3条西5-1-2",
                ),
                rec(
                    "佐藤",
                    "博",
                    ("サトウ", "ヒロシ"),
                    "1950-03-02",
                    "北海道札幌市中央区南三条西五丁目1番2号 ハイツ 201",
                ),
            ]
        };
        assert!(!is_candidate(pair(), &OLD_RULES));
        assert!(is_candidate(pair(), &BlockingRule::ALL));
    }
}

#[cfg(test)]
mod version_pin {
    use super::*;

    /// Fails when the keys change without `BLOCKING_VERSION` changing: stored keys of the
    /// old version would silently stop meeting new ones. Bump the version, then update the
    /// fingerprint here.
    #[test]
    fn the_keys_of_a_reference_record_are_pinned_to_the_version() {
        let keys = crate::MatchKeys::from(&crate::PersonRecord {
            family_kanji: "佐藤".into(),
            given_kanji: "博".into(),
            family_kana: "サトウ".into(),
            given_kana: "ヒロシ".into(),
            birth_date: crate::BirthDate::parse("1950-03-02"),
            sex: crate::Sex::Male,
            phone: "0144-32-1111".into(),
            address: "北海道苫小牧市表町1-2-3".into(),
            insurance_number: "12345678".into(),
            ..Default::default()
        });
        let mut hashes = blocking_keys(&keys, &BlockingRule::ALL);
        hashes.sort_unstable();
        let fingerprint = hashes.iter().fold(0u64, |acc, k| acc.rotate_left(7) ^ k);
        assert_eq!((BLOCKING_VERSION, fingerprint), (2, 8326448049459650919));
    }
}
