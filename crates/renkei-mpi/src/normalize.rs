//! Match keys: normalised forms used only for comparison. Stored names are never altered.
//!
//! Levels, from strict to loose:
//! - names in kanji: NFKC + whitespace removed (`raw`) → strict 異体字 folding (`variant`,
//!   髙→高, 邊→辺) → loose folding of characters facilities confuse (`loose`, 斉→斎);
//! - names in kana: NFKC (half-width → full-width) + hiragana → katakana (`kana`) → folded kana
//!   (`kana_folded`: small → large, ー → previous vowel, ヴァ → バ, ヂ → ジ, ヅ → ズ, ヲ → オ,
//!   オ after an o-row kana → ウ, エ after an e-row kana → イ), so コオノ = コウノ = コーノ.

use crate::{variants, BirthDate, PersonRecord, Sex};
use unicode_normalization::UnicodeNormalization;

/// Comparison keys of one person name part (family or given), kanji and kana.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameKeys {
    /// Kanji after NFKC, whitespace and variation selectors removed.
    pub raw: String,
    /// `raw` with strict kanji variants folded (渡邊 → 渡辺).
    pub variant: String,
    /// `variant` with loose confusions folded (斉藤 → 斎藤).
    pub loose: String,
    /// Kana as katakana after NFKC (ｻﾄｳ, さとう → サトウ).
    pub kana: String,
    /// `kana` after the folding levels described in the module docs.
    pub kana_folded: String,
}

impl NameKeys {
    /// Computes the keys of one name part. When the kana is missing but the "kanji" field is
    /// written in kana (さくら, カタカナ names), the kana keys are taken from it.
    pub fn new(kanji: &str, kana: &str) -> NameKeys {
        let raw = nfkc_compact(kanji);
        let variant = fold_kanji(&raw);
        let loose = fold_kanji_loose(&variant);
        let mut kana_k = kana_key(kana);
        if kana_k.is_empty() && !raw.is_empty() && raw.chars().all(is_kana_like) {
            kana_k = kana_key(&raw);
        }
        let kana_folded = fold_kana(&kana_k);
        NameKeys {
            raw,
            variant,
            loose,
            kana: kana_k,
            kana_folded,
        }
    }

    /// True when neither kanji nor kana is recorded.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty() && self.kana.is_empty()
    }
}

/// Address keys at three strengths.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressKeys {
    /// Whole address: prefecture dropped, numbers canonical (`札幌市中央区南3条西5-1-2ハイツ201`).
    pub full: String,
    /// Up to the block number (`札幌市中央区南3条西5-1-2`): building names and rooms cut off.
    pub block: String,
    /// Before the block number (`札幌市中央区南3条西`): same town / 丁目 area.
    pub town: String,
}

/// All comparison keys of one record, computed once at write time and stored beside it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MatchKeys {
    pub family: NameKeys,
    pub given: NameKeys,
    /// Keys of earlier family names (marriage); compared like `family`, best level kept.
    pub previous_family: Vec<NameKeys>,
    pub birth_date: Option<BirthDate>,
    pub sex: Sex,
    /// Digits only, national form (`0112345678`).
    pub phone: String,
    /// Seven digits, or empty.
    pub postal_code: String,
    pub address: AddressKeys,
    /// Digits only.
    pub insurance_number: String,
}

impl From<&PersonRecord> for MatchKeys {
    fn from(r: &PersonRecord) -> MatchKeys {
        let family = NameKeys::new(&r.family_kanji, &r.family_kana);
        let previous_family = r
            .previous_family_names
            .iter()
            .map(|p| NameKeys::new(&p.kanji, &p.kana))
            // A "previous" name equal to the current one adds nothing but work.
            .filter(|k| !k.is_empty() && *k != family)
            .collect();
        MatchKeys {
            family,
            given: NameKeys::new(&r.given_kanji, &r.given_kana),
            previous_family,
            birth_date: r.birth_date,
            sex: r.sex,
            phone: normalize_phone(&r.phone),
            postal_code: normalize_postal_code(&r.postal_code),
            address: normalize_address(&r.address),
            insurance_number: digits_only(&r.insurance_number),
        }
    }
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

fn is_kana_like(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}')
}

/// NFKC, then removes all whitespace (incl. U+3000), variation selectors (IVS 邉󠄂) and the
/// middle dots used between parts of foreign names.
pub fn nfkc_compact(s: &str) -> String {
    s.nfkc()
        .filter(|c| !c.is_whitespace() && !is_variation_selector(*c) && !matches!(c, '・' | '･'))
        .collect()
}

/// Folds strict kanji variants (旧字体/異体字 → 新字体) character by character.
pub fn fold_kanji(s: &str) -> String {
    let t = variants::strict();
    s.chars().map(|c| *t.get(&c).unwrap_or(&c)).collect()
}

/// [`fold_kanji`] plus the loose table (characters that are distinct but confused in names,
/// such as 斉/斎).
pub fn fold_kanji_loose(s: &str) -> String {
    let strict = variants::strict();
    let loose = variants::loose();
    s.chars()
        .map(|c| {
            let c = *strict.get(&c).unwrap_or(&c);
            *loose.get(&c).unwrap_or(&c)
        })
        .collect()
}

/// The strict (variant, standard) kanji pairs, e.g. to generate test noise.
pub fn kanji_variant_pairs() -> Vec<(char, char)> {
    variants::strict_pairs()
}

/// Hiragana → katakana (ゝ/ゞ iteration marks to their katakana forms).
pub fn hiragana_to_katakana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{3041}'..='\u{3096}' | '\u{309D}' | '\u{309E}' => {
                char::from_u32(c as u32 + 0x60).unwrap_or(c)
            }
            _ => c,
        })
        .collect()
}

/// Exact-level kana key: NFKC (half-width → full-width, ｶﾞ → ガ), whitespace and punctuation
/// removed, hiragana → katakana, ヽ iteration mark expanded.
pub fn kana_key(s: &str) -> String {
    let k = hiragana_to_katakana(&nfkc_compact(s));
    let mut out = String::with_capacity(k.len());
    let mut prev: Option<char> = None;
    for c in k.chars() {
        let c = match c {
            'ヽ' => match prev {
                Some(p) => p,
                None => continue,
            },
            '.' | ',' | '(' | ')' | '「' | '」' | '、' | '。' => continue,
            _ => c,
        };
        out.push(c);
        prev = Some(c);
    }
    out
}

fn vowel_of(c: char) -> Option<char> {
    const ROWS: [(&str, char); 5] = [
        ("アカガサザタダナハバパマヤラワ", 'ア'),
        ("イキギシジチヂニヒビピミリヰ", 'イ'),
        ("ウクグスズツヅヌフブプムユルヴ", 'ウ'),
        ("エケゲセゼテデネヘベペメレヱ", 'エ'),
        ("オコゴソゾトドノホボポモヨロヲ", 'オ'),
    ];
    ROWS.iter()
        .find(|(row, _)| row.contains(c))
        .map(|(_, v)| *v)
}

fn large_kana(c: char) -> char {
    match c {
        'ァ' => 'ア',
        'ィ' => 'イ',
        'ゥ' => 'ウ',
        'ェ' => 'エ',
        'ォ' => 'オ',
        'ッ' => 'ツ',
        'ャ' => 'ヤ',
        'ュ' => 'ユ',
        'ョ' => 'ヨ',
        'ヮ' => 'ワ',
        'ヵ' => 'カ',
        'ヶ' => 'ケ',
        'ヂ' => 'ジ',
        'ヅ' => 'ズ',
        'ヲ' => 'オ',
        'ヰ' => 'イ',
        'ヱ' => 'エ',
        _ => c,
    }
}

fn is_long_mark(c: char) -> bool {
    matches!(
        c,
        'ー' | '-' | '‐' | '‑' | '–' | '—' | '―' | '〜' | '~' | '－'
    )
}

/// Folded kana (the weaker kana level). Input may be in any kana form; it is passed through
/// [`kana_key`] first.
pub fn fold_kana(s: &str) -> String {
    let k = kana_key(s);
    let chars: Vec<char> = k.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        // ヴァ ヴィ ヴェ ヴォ → バ ビ ベ ボ; ヴ alone → ブ.
        if c == 'ヴ' {
            let (v, used) = match next {
                Some('ァ') => ('バ', 2),
                Some('ィ') => ('ビ', 2),
                Some('ェ') => ('ベ', 2),
                Some('ォ') => ('ボ', 2),
                _ => ('ブ', 1),
            };
            out.push(v);
            i += used;
            continue;
        }
        let prev_vowel = out.last().and_then(|p| vowel_of(*p));
        let c = if is_long_mark(c) {
            match prev_vowel {
                Some(v) => v,
                None => {
                    i += 1;
                    continue;
                }
            }
        } else {
            large_kana(c)
        };
        // Long o / long e spelled out: コオ → コウ, セエ → セイ (so オオノ = オーノ = オウノ).
        let c = match (c, prev_vowel) {
            ('オ', Some('オ')) => 'ウ',
            ('エ', Some('エ')) => 'イ',
            _ => c,
        };
        out.push(c);
        i += 1;
    }
    out.into_iter().collect()
}

/// ASCII digits after NFKC (full-width digits count).
pub fn digits_only(s: &str) -> String {
    s.nfkc().filter(|c| c.is_ascii_digit()).collect()
}

/// Phone number key: digits only (any hyphen, dash or ー dropped, full-width digits folded),
/// international `+81` / `0081` rewritten to the national `0` prefix.
pub fn normalize_phone(s: &str) -> String {
    let n: String = s.nfkc().collect();
    let t = n.trim_start();
    let d = digits_only(t);
    let rest = if t.starts_with('+') {
        d.strip_prefix("81")
    } else {
        d.strip_prefix("0081")
    };
    match rest {
        // "+81 (0)11 …" keeps its 0; "+81 11 …" gets one.
        Some(r) if r.starts_with('0') => r.to_string(),
        Some(r) => format!("0{r}"),
        None => d,
    }
}

/// Postal code key: seven digits, or empty when it does not look like one.
pub fn normalize_postal_code(s: &str) -> String {
    let d = digits_only(s);
    if d.len() == 7 {
        d
    } else {
        String::new()
    }
}

const KANJI_DIGITS: &str = "〇一二三四五六七八九";

fn is_kanji_numeral(c: char) -> bool {
    KANJI_DIGITS.contains(c) || matches!(c, '十' | '百' | '千' | '零')
}

/// Value of a run of kanji numerals: positional (二〇一 = 201) or with 十百千 (二十三 = 23).
fn kanji_number(run: &[char]) -> u64 {
    let digit = |c: char| -> Option<u64> {
        if c == '零' {
            return Some(0);
        }
        KANJI_DIGITS.chars().position(|d| d == c).map(|p| p as u64)
    };
    if !run.iter().any(|c| matches!(c, '十' | '百' | '千')) {
        return run
            .iter()
            .fold(0, |acc, c| acc * 10 + digit(*c).unwrap_or(0));
    }
    let (mut total, mut cur) = (0u64, 0u64);
    for &c in run {
        let unit = match c {
            '十' => 10,
            '百' => 100,
            '千' => 1000,
            _ => {
                cur = cur * 10 + digit(c).unwrap_or(0);
                continue;
            }
        };
        total += if cur == 0 { 1 } else { cur } * unit;
        cur = 0;
    }
    total + cur
}

/// Tokens that mean "next number follows" after a block number.
const ADDRESS_SEPARATORS: [&str; 16] = [
    "丁目", "番地", "番", "号", "の", "ノ", "之", "-", "‐", "‑", "–", "—", "―", "ー", "－", "−",
];

fn strip_prefecture(s: &str) -> &str {
    for p in ["北海道", "東京都", "京都府", "大阪府"] {
        if let Some(rest) = s.strip_prefix(p) {
            if !rest.is_empty() {
                return rest;
            }
        }
    }
    // 〜県: two or three characters then 県 (青森県, 神奈川県, 鹿児島県).
    for (i, c) in s.char_indices().take(4) {
        if c == '県' && i > 0 {
            let rest = &s[i + c.len_utf8()..];
            if !rest.is_empty() && !s[..i].chars().any(|c| c.is_ascii_digit()) {
                return rest;
            }
        }
    }
    s
}

/// Address keys: NFKC; postal code prefix dropped; kanji numerals → digits; 丁目/番地/番/号/の
/// and every dash between numbers → `-`; prefecture dropped when a city follows; spaces removed.
pub fn normalize_address(s: &str) -> AddressKeys {
    let n: String = s.nfkc().filter(|c| !is_variation_selector(*c)).collect();
    let mut t = n.trim();
    // Leading 〒060-0062 or 0600062.
    t = t.trim_start_matches('〒').trim_start();
    let lead_digits: String = t
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    if lead_digits.chars().filter(char::is_ascii_digit).count() == 7 {
        t = t[lead_digits.len()..].trim_start();
    }
    let t = strip_prefecture(t);

    // Kanji numerals to digits; whitespace kept as a single ' ' (a building name boundary).
    let chars: Vec<char> = fold_kanji(t).chars().collect();
    let mut s1 = String::with_capacity(t.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_kanji_numeral(c) {
            let start = i;
            while i < chars.len() && is_kanji_numeral(chars[i]) {
                i += 1;
            }
            s1.push_str(&kanji_number(&chars[start..i]).to_string());
            continue;
        }
        if c.is_whitespace() {
            if !s1.ends_with(' ') {
                s1.push(' ');
            }
        } else {
            s1.push(c);
        }
        i += 1;
    }

    // Separators after a number become '-'.
    let mut s2 = String::with_capacity(s1.len());
    let mut rest = s1.as_str();
    while let Some(c) = rest.chars().next() {
        let after_number = s2.ends_with(|p: char| p.is_ascii_digit() || p == '-');
        if after_number {
            if let Some(sep) = ADDRESS_SEPARATORS.iter().find(|p| rest.starts_with(**p)) {
                if !s2.ends_with('-') {
                    s2.push('-');
                }
                rest = &rest[sep.len()..];
                continue;
            }
        }
        s2.push(c);
        rest = &rest[c.len_utf8()..];
    }
    // A '-' not followed by a digit was a trailing 号/番 etc.
    let cs: Vec<char> = s2.chars().collect();
    let cleaned: String = cs
        .iter()
        .enumerate()
        .filter(|(i, c)| **c != '-' || cs.get(i + 1).is_some_and(|n| n.is_ascii_digit()))
        .map(|(_, c)| *c)
        .collect();

    // Block = up to the end of the first hyphenated number run (5-1-2); town = before it.
    let cs: Vec<char> = cleaned.chars().collect();
    let mut block_end = None;
    let mut town_end = 0;
    let mut i = 0;
    while i < cs.len() {
        if cs[i].is_ascii_digit() {
            let start = i;
            let mut hyphen = false;
            while i < cs.len()
                && (cs[i].is_ascii_digit()
                    || (cs[i] == '-' && cs.get(i + 1).is_some_and(|n| n.is_ascii_digit())))
            {
                hyphen |= cs[i] == '-';
                i += 1;
            }
            if hyphen {
                block_end = Some(i);
                town_end = start;
                break;
            }
        } else {
            i += 1;
        }
    }
    let compact = |cs: &[char]| -> String { cs.iter().filter(|c| **c != ' ').collect() };
    let full = compact(&cs);
    let (block, town) = match block_end {
        Some(e) => (compact(&cs[..e]), compact(&cs[..town_end])),
        None => {
            let e = cs.iter().position(|c| *c == ' ').unwrap_or(cs.len());
            (compact(&cs[..e]), String::new())
        }
    };
    AddressKeys { full, block, town }
}

/// See [`BirthDate::parse`].
pub(crate) fn parse_birth_date(s: &str) -> Option<BirthDate> {
    let n: String = s.nfkc().filter(|c| !c.is_whitespace()).collect();
    if n.is_empty() {
        return None;
    }
    const ERAS: [(&str, &str, u16); 5] = [
        ("明治", "m", 1868),
        ("大正", "t", 1912),
        ("昭和", "s", 1926),
        ("平成", "h", 1989),
        ("令和", "r", 2019),
    ];
    let lower = n.to_ascii_lowercase();
    for (name, letter, base) in ERAS {
        let rest = lower
            .strip_prefix(name)
            .or_else(|| lower.strip_prefix(letter));
        if let Some(rest) = rest {
            let rest = rest.replacen('元', "1", 1);
            let g = digit_groups(&rest);
            if g.len() == 3 && (1..=64).contains(&g[0]) {
                return BirthDate::new(base + g[0] as u16 - 1, g[1] as u8, g[2] as u8);
            }
            return None;
        }
    }
    let g = digit_groups(&n);
    match g.as_slice() {
        [d] if n.chars().filter(char::is_ascii_digit).count() == 8 => {
            BirthDate::new((d / 10000) as u16, (d / 100 % 100) as u8, (d % 100) as u8)
        }
        [y, m, d] if *y >= 1000 && *m < 100 && *d < 100 => {
            BirthDate::new(*y as u16, *m as u8, *d as u8)
        }
        _ => None,
    }
}

fn digit_groups(s: &str) -> Vec<u32> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty() && g.len() <= 8)
        .filter_map(|g| g.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kanji_numbers() {
        let n = |s: &str| kanji_number(&s.chars().collect::<Vec<_>>());
        assert_eq!(n("二十三"), 23);
        assert_eq!(n("十"), 10);
        assert_eq!(n("二〇一"), 201);
        assert_eq!(n("百五"), 105);
    }

    #[test]
    fn vowels() {
        assert_eq!(vowel_of('コ'), Some('オ'));
        assert_eq!(vowel_of('ン'), None);
    }
}
