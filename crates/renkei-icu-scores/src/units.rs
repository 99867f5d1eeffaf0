//! Unit conversions, with the factors given in the reference
//! (`tele-icu.md`, "Units").
//!
//! Scores take each value in the unit of their own table. Where the
//! reference gives a table in two units (APACHE II creatinine, SAPS II BUN/urea
//! and bilirubin) both are accepted and scored natively; otherwise convert with
//! these helpers first (e.g. SOFA bilirubin is mg/dL, MODS bilirubin µmol/L).

/// 1 mg/dL creatinine = 88.4 µmol/L.
pub const CREATININE_UMOL_PER_MG_DL: f64 = 88.4;
/// 1 mg/dL bilirubin = 17.1 µmol/L.
pub const BILIRUBIN_UMOL_PER_MG_DL: f64 = 17.1;
/// urea mmol/L = BUN mg/dL × 0.357.
pub const UREA_MMOL_PER_BUN_MG_DL: f64 = 0.357;
/// PaO2 kPa × 7.50062 = mmHg.
pub const MMHG_PER_KPA: f64 = 7.50062;

pub fn creatinine_mg_dl_to_umol_l(mg_dl: f64) -> f64 {
    mg_dl * CREATININE_UMOL_PER_MG_DL
}

pub fn creatinine_umol_l_to_mg_dl(umol_l: f64) -> f64 {
    umol_l / CREATININE_UMOL_PER_MG_DL
}

pub fn bilirubin_mg_dl_to_umol_l(mg_dl: f64) -> f64 {
    mg_dl * BILIRUBIN_UMOL_PER_MG_DL
}

pub fn bilirubin_umol_l_to_mg_dl(umol_l: f64) -> f64 {
    umol_l / BILIRUBIN_UMOL_PER_MG_DL
}

pub fn bun_mg_dl_to_urea_mmol_l(bun_mg_dl: f64) -> f64 {
    bun_mg_dl * UREA_MMOL_PER_BUN_MG_DL
}

pub fn urea_mmol_l_to_bun_mg_dl(urea_mmol_l: f64) -> f64 {
    urea_mmol_l / UREA_MMOL_PER_BUN_MG_DL
}

pub fn kpa_to_mmhg(kpa: f64) -> f64 {
    kpa * MMHG_PER_KPA
}

/// FiO2 given as percent (e.g. 40) → fraction (0.40). Scores take fractions.
pub fn fio2_percent_to_fraction(percent: f64) -> f64 {
    percent / 100.0
}

/// Converts every value of a [`crate::Measured`] keeping time and basis.
pub fn convert(m: crate::Measured, f: fn(f64) -> f64) -> crate::Measured {
    crate::Measured {
        value: f(m.value),
        ..m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn factors_match_reference() {
        assert!(close(creatinine_mg_dl_to_umol_l(1.0), 88.4));
        assert!(close(creatinine_umol_l_to_mg_dl(176.8), 2.0));
        assert!(close(bilirubin_mg_dl_to_umol_l(2.0), 34.2));
        assert!(close(bilirubin_umol_l_to_mg_dl(34.2), 2.0));
        assert!(close(bun_mg_dl_to_urea_mmol_l(28.0), 9.996));
        assert!(close(urea_mmol_l_to_bun_mg_dl(0.357), 1.0));
        assert!(close(kpa_to_mmhg(10.0), 75.0062));
        assert!(close(fio2_percent_to_fraction(40.0), 0.4));
        let m = crate::Measured::at(1.0, 7);
        assert_eq!(
            convert(m, creatinine_mg_dl_to_umol_l),
            crate::Measured::at(88.4, 7)
        );
    }
}
