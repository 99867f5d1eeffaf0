//! Every file of the NHO SS-MIX2 sample tree (shared/fixtures/ssmix2-nho-sample)
//! must be found, named, decoded and parsed — except the one broken file,
//! which must fail with a clear error. Expected values were read from the
//! files with Python's independent `iso2022_jp` codec.

use std::path::PathBuf;

use renkei_hl7::encoding::Charset;
use renkei_hl7::ssmix2::{
    self, check_content, ConditionFlag, ContentIssue, FileWarning, LocationIssue, NameDeviation,
    Ssmix2Error,
};

fn storage_root() -> PathBuf {
    if let Ok(p) = std::env::var("RENKEI_SSMIX2_SAMPLE") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/ssmix2-nho-sample/storage");
    assert!(
        root.is_dir(),
        "SS-MIX2 sample not found at {} (set RENKEI_SSMIX2_SAMPLE)",
        root.display()
    );
    root
}

/// (data-type directory, file-name data type, segment count, MSH-9, PID-3 matches file name)
const EXPECTED: &[(&str, &str, usize, &str, bool)] = &[
    ("ADT-31", "OMP-11", 0, "", false), // the broken 2-byte file
    ("OMP-11", "OMP-11", 36, "RAS^O17^RAS_O17", false),
    ("OMP-11", "OMP-11", 35, "RAS^O17^RAS_O17", false),
    ("ADT-00", "ADT-00", 11, "ADT^A08^ADT_A01", true),
    ("ADT-61", "ADT-61", 7, "ADT^A60^ADT_A60", false),
    ("PPR-01", "PPR-01", 6, "PPR^ZD1^PPR_ZD1", false),
    ("OMP-11", "OMP-11", 7, "RAS^O17^RAS_O17", true),
    ("OMP-01", "OMP-01", 15, "RDE^O11^RDE_O11", true),
    ("OMP-02", "OMP-02", 21, "RDE^O11^RDE_O11", true),
    ("OMP-12", "OMP-12", 7, "RAS^O17^RAS_O17", true),
    ("OMD", "OMD", 6, "OMD^O03^OMD_O03", false),
    ("ADT-22", "ADT-22", 4, "ADT^A01^ADT_A01", true),
    ("ADT-42", "ADT-42", 4, "ADT^A02^ADT_A02", true),
    ("ADT-52", "ADT-52", 4, "ADT^A03^ADT_A03", true),
    ("OMG-01", "OMG-01", 22, "OMG^O19^OMG_O19", false),
    ("OMG-02", "OMG-02", 16, "OMG^O19^OMG_O19", false),
    ("OMG-03", "OMG-03", 7, "OMG^O19^OMG_O19", false),
    ("OMG-11", "OMG-11", 16, "OMI^Z23^OMI_Z23", false),
    ("OMG-12", "OMG-12", 49, "OMI^Z23^OMI_Z23", false),
    ("OMG-13", "OMG-13", 16, "ORU^R01^ORU_R01", false),
    ("OML-01", "OML-01", 16, "OML^O33^OML_O33", true),
    ("OML-11", "OML-11", 9, "OUL^R22^OUL_R22", false),
];

#[test]
fn every_file_in_the_sample_tree() {
    let entries: Vec<_> = ssmix2::walk(storage_root())
        .collect::<Result<_, _>>()
        .expect("walk");
    assert_eq!(entries.len(), EXPECTED.len(), "data files found");

    for (entry, &(dir, ty, segs, msh9, pid_matches)) in entries.iter().zip(EXPECTED) {
        let rel = entry.relative.display().to_string();
        let name = entry.name.as_ref().unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            entry.relative.parent().unwrap().file_name().unwrap(),
            dir,
            "{rel}"
        );
        assert_eq!(name.data_type, ty, "{rel}");
        assert_eq!(
            name.to_string(),
            entry.path.file_name().unwrap().to_str().unwrap()
        );

        let result = ssmix2::read_file(&entry.path);
        if segs == 0 {
            // 0xFB 0xFC: decodes as one legacy-charset kanji, then is no HL7.
            let err = result.unwrap_err();
            assert!(
                matches!(&err, Ssmix2Error::Parse { .. }),
                "{rel}: unexpected error {err}"
            );
            assert!(
                err.to_string().contains("must start with an MSH segment"),
                "{err}"
            );
            continue;
        }
        let doc = result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc.charset, Charset::Iso2022Jp, "{rel}");
        // Every sample file ends with CR FS: reported, tolerated.
        assert_eq!(doc.warnings, vec![FileWarning::FramingBytes], "{rel}");
        let msg = &doc.message;
        assert_eq!(msg.segment_count(), segs, "{rel}");
        assert_eq!(msg.get_raw("MSH-9").unwrap(), msh9, "{rel}");
        let header = msg.header();
        assert_eq!(header.version, "2.5", "{rel}");
        assert_eq!(header.sending_application, "HIS123");
        assert_eq!(header.receiving_application, "GW");
        assert_eq!(header.processing_id, "P");
        assert_eq!(header.declared_charset(), Some(Charset::Iso2022Jp), "{rel}");
        // Every sample patient has a kanji and a kana name.
        assert_eq!(msg.get("PID-5[1].7").unwrap(), "L", "{rel}");
        assert_eq!(msg.get("PID-5[1].8").unwrap(), "I", "{rel}");
        assert_eq!(msg.get("PID-5[2].8").unwrap(), "P", "{rel}");
        let kana = msg.get("PID-5[2].1").unwrap();
        assert!(
            kana.chars().all(|c| ('\u{30A1}'..='\u{30FC}').contains(&c)),
            "{rel}: {kana}"
        );

        let issues = check_content(name, msg);
        assert_eq!(
            issues
                .iter()
                .any(|i| matches!(i, ContentIssue::PatientIdMismatch { .. })),
            !pid_matches,
            "{rel}: {issues:?}"
        );
        assert!(
            !issues
                .iter()
                .any(|i| matches!(i, ContentIssue::MessageTypeMismatch { .. })),
            "{rel}: {issues:?}"
        );
    }
}

#[test]
fn quirks_of_the_sample_are_reported() {
    let entries: Vec<_> = ssmix2::walk(storage_root()).map(Result::unwrap).collect();

    // The OMP-11 file filed under an ADT-31 folder of another patient and date.
    let misplaced: Vec<_> = entries
        .iter()
        .filter(|e| !e.location_issues.is_empty())
        .collect();
    assert_eq!(misplaced.len(), 1);
    let levels: Vec<_> = misplaced[0]
        .location_issues
        .iter()
        .map(|i| match i {
            LocationIssue::DirectoryMismatch {
                level,
                found,
                expected,
            } => format!("{level}:{found}->{expected}"),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(
        levels,
        [
            "PID prefix 1:000->999",
            "PID prefix 2:000->901",
            "patient:0000001->9999013",
            "care date:20000401->20110630",
            "data type:ADT-31->OMP-11"
        ]
    );

    // One deleted file (flag 0).
    let flags: Vec<_> = entries
        .iter()
        .map(|e| e.name.as_ref().unwrap().flag)
        .collect();
    assert_eq!(
        flags
            .iter()
            .filter(|f| **f == ConditionFlag::Deleted)
            .count(),
        1
    );
    assert_eq!(
        flags.iter().filter(|f| **f == ConditionFlag::Valid).count(),
        21
    );

    // One 13-digit order number.
    let short: Vec<_> = entries
        .iter()
        .flat_map(|e| e.name.as_ref().unwrap().deviations.clone())
        .collect();
    assert_eq!(
        short,
        vec![NameDeviation::OrderNumberNot15Digits {
            found: "2011122000300".into()
        }]
    );
}

fn doc(data_type: &str) -> ssmix2::Document {
    let entry = ssmix2::walk(storage_root())
        .map(Result::unwrap)
        .find(|e| {
            e.relative.starts_with("999")
                && e.name.as_ref().map(|n| n.data_type.as_str()) == Ok(data_type)
        })
        .unwrap_or_else(|| panic!("no {data_type} file"));
    ssmix2::read_file(&entry.path).unwrap()
}

#[test]
fn demographics_adt00() {
    let d = doc("ADT-00");
    let m = &d.message;
    assert_eq!(m.get("PID-5[1].1").unwrap(), "患者");
    assert_eq!(m.get("PID-5[1].2").unwrap(), "太郎");
    assert_eq!(m.get("PID-5[2].2").unwrap(), "タロウ");
    assert_eq!(m.get("PID-7").unwrap(), "19480405");
    assert_eq!(m.get("PID-8").unwrap(), "M");
    // JIS X 0208 0x215D decodes to U+FF0D (WHATWG/CP932 mapping); Python's
    // iso2022_jp gives U+2212 MINUS SIGN for the same bytes.
    assert_eq!(
        m.get("PID-11.8").unwrap(),
        "静岡県静岡市登呂１\u{FF0D}３\u{FF0D}５"
    );
    assert_eq!(m.get("PID-13[2].2").unwrap(), "EMR");
    assert_eq!(m.get("PID-13[2].12").unwrap(), "03-5999-9999");
    assert_eq!(m.get("OBX[1]-3.2").unwrap(), "身長");
    assert_eq!(m.get("OBX[2]-5").unwrap(), "63.5");
    assert_eq!(m.get("OBX[2]-6").unwrap(), "kg");
    assert_eq!(m.get("OBX[3]-5.1").unwrap(), "A");
    assert_eq!(m.get("AL1-3.2").unwrap(), "ペニシリン");
    assert_eq!(
        m.get("NK1-4[2].8").unwrap(),
        "東京都港区鹿ノ門６丁目３番３号"
    );
    assert_eq!(m.get("IN1-2.2").unwrap(), "国民健康保険退職者");
    assert_eq!(m.header().timestamp, "20111220224447.3399");
    assert_eq!(m.header().control_id, "20111220000001");
}

#[test]
fn diagnoses_ppr01() {
    let m = doc("PPR-01").message;
    let prb = m.segment("PRB").unwrap();
    assert_eq!(prb.field(1).value(), "AD");
    assert_eq!(prb.field(3).component(1).value(), "20054174");
    assert_eq!(prb.field(3).component(2).value(), "胃炎");
    assert_eq!(prb.field(3).component(3).value(), "MDCDX2");
    assert_eq!(prb.field(10).component(1).value(), "K297");
    assert_eq!(prb.field(10).component(3).value(), "I10");
    assert_eq!(prb.field(14).component(2).value(), "回復せず");
    assert_eq!(prb.field(16).value(), "20110831");
    assert_eq!(m.get("ZPR-5.2").unwrap(), "胃炎");
    assert_eq!(m.get("ZI1-2.2").unwrap(), "全国健康保険協会管掌健康保険");
    assert_eq!(m.get("ORC-12[2].2").unwrap(), "イシ");
}

#[test]
fn prescription_omp01() {
    let m = doc("OMP-01").message;
    let rxe: Vec<_> = m.segments_by_id("RXE").collect();
    assert_eq!(rxe.len(), 3);
    assert_eq!(rxe[0].field(2).component(1).value(), "108665201");
    assert_eq!(rxe[0].field(2).component(2).value(), "ダーゼン錠（５mg)");
    assert_eq!(rxe[0].field(2).component(3).value(), "HOT9");
    assert_eq!(rxe[2].field(3).value(), "50");
    assert_eq!(rxe[2].field(5).component(2).value(), "ミリグラム");
    // RXE-19 total daily dose: 3^TAB&錠&MR9P (sub-components).
    assert_eq!(rxe[0].field(19).component(1).value(), "3");
    assert_eq!(rxe[0].field(19).component(2).subcomponent(2).value(), "錠");
    assert_eq!(
        rxe[0].field(21).repetition(2).component(2).value(),
        "院内処方"
    );
    assert_eq!(
        m.get("TQ1[1]-3.1.2").unwrap(),
        "内服・経口・１日３回朝昼夕食後"
    );
    assert_eq!(m.get("TQ1[3]-6.1").unwrap(), "14");
    assert_eq!(m.get("RXR-1.2").unwrap(), "口");
}

#[test]
fn injection_omp02_and_results() {
    let m = doc("OMP-02").message;
    assert_eq!(m.get("RXC[2]-2.2").unwrap(), "アドナ注（静脈用）50mg");
    assert_eq!(m.get("RXE-7.2").unwrap(), "５時間一定速度で");

    let m = doc("OML-11").message;
    assert_eq!(m.get("SPM-4.2").unwrap(), "血清");
    assert_eq!(m.get("OBX[2]-3.1").unwrap(), "3A010000002327101");
    assert_eq!(m.get("OBX[2]-3.2").unwrap(), "総蛋白");
    assert_eq!(m.get("OBX[2]-5").unwrap(), "7.2");
    assert_eq!(m.get("OBX[2]-6").unwrap(), "g/dl");
    assert_eq!(m.get("OBX[2]-7").unwrap(), "6.70-8.3");
    assert_eq!(m.get("OBX[2]-11").unwrap(), "F");
    assert_eq!(m.get("OBX[2]-14").unwrap(), "201112191500");

    let m = doc("OMG-13").message;
    let obx: Vec<_> = m.segments_by_id("OBX").collect();
    assert_eq!(obx.len(), 12);
    assert_eq!(
        obx[5].field(3).component(2).subcomponent(1).value(),
        "QTc 時間"
    );
    assert_eq!(
        obx[5].field(3).component(2).subcomponent(2).value(),
        "Bazzet"
    );
    assert_eq!(obx[9].field(5).value(), "-14");
    assert_eq!(m.get("OBX[1]-5").unwrap(), "心筋虚血疑い");

    let m = doc("ADT-61").message;
    assert_eq!(m.get("IAM[2]-3.2").unwrap(), "ソバ");
    assert_eq!(m.get("IAM[4]-5").unwrap(), "のどの渇きが止まらない");

    let m = doc("OMG-12").message;
    assert_eq!(m.get("IPC-3").unwrap(), "1.2.392.1114.2008.543233.1");
    assert_eq!(m.get("OBX[12]-5.2").unwrap(), "セルシン5mg");
}
