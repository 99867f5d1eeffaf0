//! Who a message is about: PID (and IN1) for the patient index.

use renkei_hl7::encoding::halfwidth_kana_to_fullwidth;
use renkei_hl7::message::Segment;
use renkei_hl7::Message;

use crate::cx::{comp, first, val};
use crate::{time, MapError};

/// Who the message is about, from PID (and IN1): what the patient index needs
/// to register or update the patient.
///
/// Names are as sent, except that half-width katakana in the kana name are
/// made full-width. Strings are empty when the message does not carry them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Demographics {
    /// The facility's patient ID: PID-3, the repetition with identifier type
    /// `PI` (else the first).
    pub local_id: String,
    /// Family name in kanji (PID-5 repetition with name representation `I`,
    /// else the first repetition that is not `P`).
    pub family_kanji: String,
    /// Given name in kanji.
    pub given_kanji: String,
    /// Family name in kana (PID-5 repetition with representation `P`).
    pub family_kana: String,
    /// Given name in kana.
    pub given_kana: String,
    /// Birth date `YYYY-MM-DD` (PID-7); `None` when absent or not a full date.
    pub birth_date: Option<String>,
    /// FHIR administrative gender (`male`, `female`, `other`, `unknown`) from PID-8.
    pub sex: Option<String>,
    /// Postal code of the home (else first) address, PID-11.5.
    pub postal_code: String,
    /// The address as one line: XAD-8 (where SS-MIX2 senders put the whole
    /// address), else prefecture + city + street (XAD-4, -3, -1, -2).
    pub address: String,
    /// Phone numbers, PID-13 then PID-14 (XTN-12, else XTN-1), without duplicates.
    pub phones: Vec<String>,
    /// Insurance, one entry per IN1: `<insurer no. IN1-3>-<symbol IN1-10>-<number IN1-11>`
    /// (empty parts left out).
    pub insurance_numbers: Vec<String>,
    /// Tolerated problems (a partial birth date, an unknown sex code…).
    pub warnings: Vec<String>,
}

/// The patient's local ID (PID-3) — the one every resource id is derived from.
pub(crate) fn local_id(msg: &Message) -> Result<String, MapError> {
    let pid = msg
        .segment("PID")
        .ok_or_else(|| MapError::missing(None, "PID", "the patient identification segment"))?;
    let field = pid.field(3);
    let rep = field
        .repetitions()
        .find(|r| val(r.component(5)).eq_ignore_ascii_case("PI"))
        .unwrap_or_else(|| field.repetition(1));
    let id = val(rep.component(1));
    if id.is_empty() {
        return Err(MapError::missing(Some(&pid), "PID-3", "the patient ID"));
    }
    if id.chars().count() > 64 || id.chars().any(char::is_control) {
        return Err(MapError::invalid(
            &pid,
            3,
            format!(
                "'{}' is not a patient ID",
                id.chars().take(40).collect::<String>()
            ),
        ));
    }
    Ok(id)
}

/// Reads [`Demographics`] from a message's PID (and IN1 segments).
///
/// Errors: no PID, an empty PID-3, a PID-7 that is not a date.
pub fn demographics(msg: &Message) -> Result<Demographics, MapError> {
    let local_id = local_id(msg)?;
    let pid = msg
        .segment("PID")
        .ok_or_else(|| MapError::missing(None, "PID", "the patient identification segment"))?;
    let mut d = Demographics {
        local_id,
        ..Default::default()
    };
    names(&pid, &mut d);

    let birth = first(&pid, 7);
    if !birth.is_empty() {
        let t = time::parse(&birth).map_err(|e| MapError::invalid(&pid, 7, e.to_string()))?;
        if t.day.is_some() {
            d.birth_date = Some(t.to_fhir_date());
        } else {
            d.warnings.push(format!(
                "PID-7: birth date '{birth}' is not a full date, left out"
            ));
        }
    }

    let sex = first(&pid, 8).to_ascii_uppercase();
    d.sex = match sex.as_str() {
        "" => None,
        "M" => Some("male".into()),
        "F" => Some("female".into()),
        "O" | "A" => Some("other".into()),
        "U" | "N" => Some("unknown".into()),
        other => {
            d.warnings.push(format!(
                "PID-8: unknown sex code '{other}', recorded as unknown"
            ));
            Some("unknown".into())
        }
    };

    address(&pid, &mut d);
    for n in [13, 14] {
        for rep in pid.field(n).repetitions() {
            let mut number = val(rep.component(12));
            if number.is_empty() {
                number = val(rep.component(1));
            }
            if number.is_empty() {
                let (area, local) = (val(rep.component(6)), val(rep.component(7)));
                number = format!("{area}{local}");
            }
            if !number.is_empty() && !d.phones.contains(&number) {
                d.phones.push(number);
            }
        }
    }

    for in1 in msg.segments_by_id("IN1") {
        let parts: Vec<String> = [first(&in1, 3), comp(&in1, 10, 1), comp(&in1, 11, 1)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            let joined = parts.join("-");
            if !d.insurance_numbers.contains(&joined) {
                d.insurance_numbers.push(joined);
            }
        }
    }
    Ok(d)
}

fn names(pid: &Segment<'_>, d: &mut Demographics) {
    let field = pid.field(5);
    let mut ideographic = None;
    let mut kana = None;
    let mut unmarked = None;
    for rep in field.repetitions() {
        let slot = match val(rep.component(8)).to_ascii_uppercase().as_str() {
            "P" => &mut kana,
            "I" => &mut ideographic,
            // Unmarked or alphabetic: a fallback for the written name.
            _ => &mut unmarked,
        };
        slot.get_or_insert(rep);
    }
    let kanji = ideographic.or(unmarked);
    if let Some(rep) = kanji {
        d.family_kanji = rep.component(1).subcomponent(1).value().trim().to_string();
        d.given_kanji = val(rep.component(2));
    }
    if let Some(rep) = kana {
        let family = rep.component(1).subcomponent(1).value().trim().to_string();
        d.family_kana = halfwidth_kana_to_fullwidth(&family).into_owned();
        d.given_kana = halfwidth_kana_to_fullwidth(&val(rep.component(2))).into_owned();
    }
}

fn address(pid: &Segment<'_>, d: &mut Demographics) {
    let field = pid.field(11);
    let rep = field
        .repetitions()
        .find(|r| val(r.component(7)).eq_ignore_ascii_case("H"))
        .unwrap_or_else(|| field.repetition(1));
    d.postal_code = val(rep.component(5));
    let whole = val(rep.component(8));
    d.address = if whole.is_empty() {
        [4, 3, 1, 2]
            .into_iter()
            .map(|c| {
                if c == 1 {
                    rep.component(1).subcomponent(1).value().trim().to_string()
                } else {
                    val(rep.component(c))
                }
            })
            .collect::<Vec<_>>()
            .concat()
    } else {
        whole
    };
}
