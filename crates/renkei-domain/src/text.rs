//! Validation and normalisation of what people type into forms. Every check names the
//! field and says what is wrong in both UI languages.

use crate::Lang;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Required,
    TooLong(usize),
    ControlCharacters,
    NotKana,
    NotPhone,
    NotEmail,
    NotPostalCode,
    NotTenDigits,
    NotLoginId,
    UnknownChoice,
    NotDate,
    ImpossibleDate,
    NotIdentifier,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: Problem,
}

impl FieldError {
    pub fn new(field: &'static str, problem: Problem) -> Self {
        FieldError { field, problem }
    }

    pub fn message(&self, lang: Lang) -> String {
        match (self.problem, lang) {
            (Problem::Required, Lang::Ja) => "入力してください".into(),
            (Problem::Required, Lang::En) => "This field is required".into(),
            (Problem::TooLong(n), Lang::Ja) => format!("{n}文字以内で入力してください"),
            (Problem::TooLong(n), Lang::En) => format!("At most {n} characters"),
            (Problem::ControlCharacters, Lang::Ja) => "使用できない制御文字が含まれています".into(),
            (Problem::ControlCharacters, Lang::En) => "Contains control characters".into(),
            (Problem::NotKana, Lang::Ja) => "カタカナまたはひらがなで入力してください".into(),
            (Problem::NotKana, Lang::En) => "Use katakana or hiragana".into(),
            (Problem::NotPhone, Lang::Ja) => {
                "電話番号は10〜11桁の数字（ハイフン可）で入力してください".into()
            }
            (Problem::NotPhone, Lang::En) => {
                "A phone number has 10–11 digits (hyphens allowed)".into()
            }
            (Problem::NotEmail, Lang::Ja) => "メールアドレスの形式が正しくありません".into(),
            (Problem::NotEmail, Lang::En) => "Not a valid e-mail address".into(),
            (Problem::NotPostalCode, Lang::Ja) => {
                "郵便番号は 123-4567 の形式で入力してください".into()
            }
            (Problem::NotPostalCode, Lang::En) => "Postal code as 123-4567".into(),
            (Problem::NotTenDigits, Lang::Ja) => "10桁の数字で入力してください".into(),
            (Problem::NotTenDigits, Lang::En) => "Ten digits".into(),
            (Problem::NotLoginId, Lang::Ja) => {
                "ログインIDは半角英小文字・数字・「.」「_」「-」で3〜64文字です".into()
            }
            (Problem::NotLoginId, Lang::En) => {
                "Login IDs are 3–64 of a-z, 0-9, '.', '_' or '-'".into()
            }
            (Problem::UnknownChoice, Lang::Ja) => "選択肢から選んでください".into(),
            (Problem::UnknownChoice, Lang::En) => "Choose one of the options".into(),
            (Problem::NotDate, Lang::Ja) => "日付は 1948-05-03 の形式で入力してください".into(),
            (Problem::NotDate, Lang::En) => "Enter a date as 1948-05-03".into(),
            (Problem::ImpossibleDate, Lang::Ja) => {
                "ありえない日付です（未来の日付、または1880年より前）".into()
            }
            (Problem::ImpossibleDate, Lang::En) => {
                "Impossible date (in the future or before 1880)".into()
            }
            (Problem::NotIdentifier, Lang::Ja) => {
                "IDは半角英数字と記号（空白なし）で入力してください".into()
            }
            (Problem::NotIdentifier, Lang::En) => {
                "IDs use ASCII letters, digits and symbols, no spaces".into()
            }
        }
    }
}

/// Trims, applies NFKC (so full-width ASCII and half-width kana become canonical) and
/// refuses control characters and overlong values.
pub fn clean(
    field: &'static str,
    raw: &str,
    max_chars: usize,
    required: bool,
) -> Result<String, FieldError> {
    let value: String = raw.nfkc().collect::<String>().trim().to_string();
    if value.is_empty() {
        return if required {
            Err(FieldError::new(field, Problem::Required))
        } else {
            Ok(value)
        };
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(field, Problem::ControlCharacters));
    }
    if value.chars().count() > max_chars {
        return Err(FieldError::new(field, Problem::TooLong(max_chars)));
    }
    Ok(value)
}

/// Hiragana to katakana, leaving everything else as it is.
pub fn to_katakana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Furigana: katakana (hiragana accepted and converted), spaces and the long-vowel mark.
pub fn kana(
    field: &'static str,
    raw: &str,
    max_chars: usize,
    required: bool,
) -> Result<String, FieldError> {
    let value = to_katakana(&clean(field, raw, max_chars, required)?);
    let ok = value
        .chars()
        .all(|c| matches!(c, '\u{30A1}'..='\u{30FA}' | 'ー' | '・' | ' ' | '\u{3000}'));
    if ok {
        Ok(value)
    } else {
        Err(FieldError::new(field, Problem::NotKana))
    }
}

/// Folds text for searching: NFKC, katakana, lower case, no spaces.
pub fn search_fold(s: &str) -> String {
    to_katakana(&s.nfkc().collect::<String>())
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

pub fn phone(field: &'static str, raw: &str, required: bool) -> Result<String, FieldError> {
    let value = clean(field, raw, 20, required)?;
    if value.is_empty() {
        return Ok(value);
    }
    let digits = value.chars().filter(|c| c.is_ascii_digit()).count();
    let only_allowed = value.chars().all(|c| c.is_ascii_digit() || c == '-');
    if only_allowed && (10..=11).contains(&digits) && value.starts_with('0') {
        Ok(value)
    } else {
        Err(FieldError::new(field, Problem::NotPhone))
    }
}

pub fn email(field: &'static str, raw: &str, required: bool) -> Result<String, FieldError> {
    let value = clean(field, raw, 254, required)?;
    if value.is_empty() {
        return Ok(value);
    }
    let mut parts = value.splitn(2, '@');
    let (local, domain) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && value.is_ascii()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == '"');
    if plausible {
        Ok(value)
    } else {
        Err(FieldError::new(field, Problem::NotEmail))
    }
}

pub fn postal_code(field: &'static str, raw: &str, required: bool) -> Result<String, FieldError> {
    let value = clean(field, raw, 8, required)?;
    if value.is_empty() {
        return Ok(value);
    }
    let digits: String = value.chars().filter(|c| c.is_ascii_digit()).collect();
    let only_allowed = value.chars().all(|c| c.is_ascii_digit() || c == '-');
    if only_allowed && digits.len() == 7 {
        Ok(format!("{}-{}", &digits[..3], &digits[3..]))
    } else {
        Err(FieldError::new(field, Problem::NotPostalCode))
    }
}

pub fn ten_digits(field: &'static str, raw: &str, required: bool) -> Result<String, FieldError> {
    let value = clean(field, raw, 10, required)?;
    if value.is_empty() || (value.len() == 10 && value.bytes().all(|b| b.is_ascii_digit())) {
        Ok(value)
    } else {
        Err(FieldError::new(field, Problem::NotTenDigits))
    }
}

pub fn login_id(field: &'static str, raw: &str) -> Result<String, FieldError> {
    let value = clean(field, raw, 64, true)?.to_lowercase();
    let ok = value.len() >= 3
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
        })
        && value.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(value)
    } else {
        Err(FieldError::new(field, Problem::NotLoginId))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_accepts_hiragana_and_half_width() {
        assert_eq!(
            kana("k", "とまこまい しみん びょういん", 50, true).unwrap(),
            "トマコマイ シミン ビョウイン"
        );
        assert_eq!(kana("k", "ﾄﾏｺﾏｲ", 50, true).unwrap(), "トマコマイ");
        assert_eq!(
            kana("k", "苫小牧", 50, true).unwrap_err().problem,
            Problem::NotKana
        );
    }

    #[test]
    fn clean_refuses_control_and_overlong() {
        assert_eq!(
            clean("f", "a\u{0007}b", 10, true).unwrap_err().problem,
            Problem::ControlCharacters
        );
        assert_eq!(
            clean("f", "あいうえおか", 5, true).unwrap_err().problem,
            Problem::TooLong(5)
        );
        assert_eq!(
            clean("f", "  ", 5, true).unwrap_err().problem,
            Problem::Required
        );
        assert_eq!(clean("f", "ＡＢＣ１", 5, true).unwrap(), "ABC1");
    }

    #[test]
    fn phones_postcodes_emails_logins() {
        assert!(phone("p", "0144-32-1234", true).is_ok());
        assert!(phone("p", "０１４４３２１２３４", true).is_ok());
        assert!(phone("p", "12345", true).is_err());
        assert_eq!(postal_code("z", "0530011", true).unwrap(), "053-0011");
        assert!(postal_code("z", "05300", true).is_err());
        assert!(email("e", "info@example.jp", true).is_ok());
        assert!(email("e", "<script>@x.jp", true).is_err());
        assert_eq!(login_id("l", "Yamada.Taro").unwrap(), "yamada.taro");
        assert!(login_id("l", "-bad").is_err());
        assert!(login_id("l", "山田").is_err());
        assert!(ten_digits("t", "0112345678", true).is_ok());
        assert!(ten_digits("t", "011234567", true).is_err());
    }

    #[test]
    fn search_fold_matches_kana_forms() {
        assert_eq!(search_fold("とまこまい"), search_fold("ﾄﾏｺﾏｲ"));
        assert_eq!(search_fold("Tomakomai Clinic"), "tomakomaiclinic");
    }
}
