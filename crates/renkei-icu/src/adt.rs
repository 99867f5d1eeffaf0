//! Bed assignment from ADT: who lies in which bed, so that monitor values reach the
//! right patient. A01 admit, A02 transfer, A03 discharge, A08 update, A11 cancel admit,
//! A13 cancel discharge.

use crate::oru::{
    patient_identifiers, patient_name, BedLocation, ParseError, PatientIdentifier, PatientName,
};
use crate::time::{parse_date, parse_ts};
use chrono::NaiveDate;
use renkei_hl7::Message;
use serde::Serialize;

/// What happened to the bed assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BedEventKind {
    /// A01: the patient is admitted to the bed in PV1-3.
    Admit,
    /// A02: the patient moves from PV1-6 to PV1-3.
    Transfer,
    /// A03: the patient leaves the bed in PV1-3.
    Discharge,
    /// A08: patient or visit details changed (name, bed correction).
    Update,
    /// A11: the admission was entered in error.
    CancelAdmit,
    /// A13: the discharge was entered in error; the patient is back in the bed.
    CancelDischarge,
}

impl BedEventKind {
    /// The kind for an ADT trigger event (`A01`…).
    pub fn from_trigger(trigger: &str) -> Option<BedEventKind> {
        Some(match trigger {
            "A01" => BedEventKind::Admit,
            "A02" => BedEventKind::Transfer,
            "A03" => BedEventKind::Discharge,
            "A08" => BedEventKind::Update,
            "A11" => BedEventKind::CancelAdmit,
            "A13" => BedEventKind::CancelDischarge,
            _ => return None,
        })
    }
}

/// A parsed ADT bed event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BedEvent {
    /// What happened.
    pub kind: BedEventKind,
    /// MSH-10.
    pub control_id: String,
    /// MSH-3.1.
    pub sending_application: String,
    /// MSH-4.1.
    pub sending_facility: String,
    /// PV1-3: the bed (the new one for a transfer).
    pub location: Option<BedLocation>,
    /// PV1-6: the bed before a transfer.
    pub prior_location: Option<BedLocation>,
    /// PID-3 repetitions.
    pub patient_ids: Vec<PatientIdentifier>,
    /// PID-5 (kanji and kana repetitions).
    pub name: Option<PatientName>,
    /// PID-8 (`M`, `F`, `O`, `U`), if sent.
    pub sex: Option<String>,
    /// PID-7.
    pub birth_date: Option<NaiveDate>,
    /// When it happened: EVN-6, else EVN-2, else MSH-7 (UTC milliseconds).
    pub at: Option<i64>,
}

/// Parses ADT^A01/A02/A03/A08/A11/A13. A patient ID is required; admissions and
/// transfers also need the bed they go to.
pub fn parse_adt(msg: &Message) -> Result<BedEvent, ParseError> {
    let msh = msg.msh();
    let kind_text = msh
        .field(9)
        .component(1)
        .value()
        .trim()
        .to_ascii_uppercase();
    let trigger = msh
        .field(9)
        .component(2)
        .value()
        .trim()
        .to_ascii_uppercase();
    let event = format!("{kind_text}^{trigger}");
    let kind = match (kind_text.as_str(), BedEventKind::from_trigger(&trigger)) {
        ("ADT", Some(k)) => k,
        _ => {
            return Err(ParseError::WrongType {
                found: event,
                expected: "ADT^A01, A02, A03, A08, A11 or A13",
            })
        }
    };
    let patient_ids = patient_identifiers(msg);
    if patient_ids.is_empty() {
        return Err(ParseError::NoPatient { event });
    }
    let pv1 = msg.segment("PV1");
    let location = BedLocation::from_field(pv1, 3);
    if matches!(kind, BedEventKind::Admit | BedEventKind::Transfer)
        && location.as_ref().is_none_or(|l| l.bed.is_empty())
    {
        return Err(ParseError::NoLocation { event });
    }
    let pid = msg.segment("PID");
    let pid_text = |n: usize| {
        pid.map(|p| p.field(n).component(1).value().trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let evn = msg.segment("EVN");
    let evn_time = |n: usize| {
        evn.and_then(|e| parse_ts(&e.field(n).component(1).value()))
            .map(|t| t.millis)
    };
    let at = evn_time(6)
        .or_else(|| evn_time(2))
        .or_else(|| parse_ts(&msh.field(7).component(1).value()).map(|t| t.millis));
    Ok(BedEvent {
        kind,
        control_id: msh.field(10).component(1).value().trim().to_string(),
        sending_application: msh.field(3).component(1).value().trim().to_string(),
        sending_facility: msh.field(4).component(1).value().trim().to_string(),
        location,
        prior_location: BedLocation::from_field(pv1, 6),
        patient_ids,
        name: patient_name(msg),
        sex: pid_text(8).map(|s| s.to_ascii_uppercase()),
        birth_date: pid_text(7).and_then(|s| parse_date(&s)),
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BedEvent, ParseError> {
        parse_adt(&Message::parse(text).unwrap())
    }

    const A02: &str = "MSH|^~\\&|HIS|F00001|RENKEI|CENTER|20240101120000||ADT^A02^ADT_A02|ADT42|P|2.5||||||UNICODE UTF-8\r\
EVN|A02|20240101120100||||20240101115500\r\
PID|1||SIM0007^^^F00001^PI~99887766^^^^MR||試験^花子^^^^^L^I~シケン^ハナコ^^^^^L^P||19480405|f\r\
PV1|1|I|ICU^12^BED-003|||HCU^2^BED-001";

    #[test]
    fn transfer_with_kana_and_prior_bed() {
        let e = parse(A02).unwrap();
        assert_eq!(e.kind, BedEventKind::Transfer);
        assert_eq!(e.control_id, "ADT42");
        assert_eq!(e.sending_facility, "F00001");
        let loc = e.location.unwrap();
        assert_eq!(
            (
                loc.point_of_care.as_str(),
                loc.room.as_str(),
                loc.bed.as_str()
            ),
            ("ICU", "12", "BED-003")
        );
        assert_eq!(e.prior_location.unwrap().to_string(), "HCU/2/BED-001");
        assert_eq!(e.patient_ids.len(), 2);
        assert_eq!(e.patient_ids[0].id, "SIM0007");
        assert_eq!(e.patient_ids[0].assigning_authority, "F00001");
        assert_eq!(e.patient_ids[1].id_type, "MR");
        let name = e.name.unwrap();
        assert_eq!(
            (name.family.as_str(), name.given.as_str()),
            ("試験", "花子")
        );
        assert_eq!(name.family_kana.as_deref(), Some("シケン"));
        assert_eq!(name.given_kana.as_deref(), Some("ハナコ"));
        assert_eq!(e.sex.as_deref(), Some("F"));
        assert_eq!(e.birth_date.unwrap().to_string(), "1948-04-05");
        // EVN-6 (event occurred, 11:55 JST) wins over EVN-2.
        assert_eq!(e.at, Some(1_704_077_700_000));
    }

    #[test]
    fn every_bed_event() {
        for (trigger, kind) in [
            ("A01", BedEventKind::Admit),
            ("A03", BedEventKind::Discharge),
            ("A08", BedEventKind::Update),
            ("A11", BedEventKind::CancelAdmit),
            ("A13", BedEventKind::CancelDischarge),
        ] {
            let text = A02.replace("ADT^A02^ADT_A02", &format!("ADT^{trigger}"));
            assert_eq!(parse(&text).unwrap().kind, kind, "{trigger}");
        }
        // Without EVN the message time counts; a name without representation codes is the written name.
        let plain = "MSH|^~\\&|HIS|F1|||20240101120000||ADT^A03|1|P|2.4\rPID|||X1||Test^Taro\rPV1||I|^^BED-9";
        let e = parse(plain).unwrap();
        assert_eq!(e.at, Some(1_704_078_000_000));
        assert_eq!(e.name.unwrap().family_kana, None);
        assert_eq!(e.location.unwrap().bed, "BED-9");
    }

    #[test]
    fn structural_errors_are_clear() {
        let no_pid = "MSH|^~\\&|HIS|F1|||20240101||ADT^A01|1|P|2.5\rPV1||I|^^BED-1";
        assert_eq!(
            parse(no_pid).unwrap_err().to_string(),
            "ADT^A01 without a patient ID in PID-3"
        );
        let no_bed = "MSH|^~\\&|HIS|F1|||20240101||ADT^A01|1|P|2.5\rPID|||X1\rPV1||I|ICU";
        assert_eq!(
            parse(no_bed).unwrap_err().to_string(),
            "ADT^A01 without a bed in PV1-3"
        );
        // A discharge may name only the unit.
        assert!(parse(&no_bed.replace("A01", "A03")).is_ok());
        let a04 = "MSH|^~\\&|HIS|F1|||20240101||ADT^A04|1|P|2.5\rPID|||X1";
        assert!(matches!(
            parse(a04).unwrap_err(),
            ParseError::WrongType { .. }
        ));
    }
}
