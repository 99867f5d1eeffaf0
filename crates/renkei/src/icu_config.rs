//! `renkei admin icu-import`: Tele-ICU units and beds from a TOML file — configuration
//! without code for sites that keep their bed board in version control, and for setting
//! up hundreds of beds at once. Idempotent: units are matched by (facility, code), beds
//! by (facility, monitor key); beds of an imported unit that the file no longer lists
//! are taken out of service (never deleted: their stays stay readable).

use anyhow::{bail, Context};
use renkei_domain::audit::AuditEntry;
use renkei_domain::{ids, now_millis};
use renkei_storage::icu::{IcuBed, IcuUnit};
use renkei_storage::Store;
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcuFile {
    #[serde(default)]
    unit: Vec<UnitEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitEntry {
    /// Facility code (F00042) or ID of the hospital the unit belongs to.
    facility: String,
    /// Facility code or ID of the support centre watching it (default: the facility).
    centre: Option<String>,
    code: String,
    name: String,
    #[serde(default = "default_kind")]
    kind: String,
    #[serde(default = "default_colour")]
    colour: String,
    #[serde(default = "default_sampling")]
    sampling_seconds: i64,
    #[serde(default = "default_true")]
    active: bool,
    /// Beds whose label is also the monitor key.
    #[serde(default)]
    beds: Vec<String>,
    /// Beds with a label that differs from the monitor key.
    #[serde(default)]
    bed: Vec<BedEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BedEntry {
    label: String,
    monitor_key: String,
}

fn default_kind() -> String {
    "icu".into()
}
fn default_colour() -> String {
    "#1f6fb4".into()
}
fn default_sampling() -> i64 {
    60
}
fn default_true() -> bool {
    true
}

const KINDS: &[&str] = &["icu", "hcu", "gicu", "ghcu", "picu", "nicu", "scu", "other"];

/// What an import did (or would do).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub units_created: usize,
    pub units_updated: usize,
    pub beds_created: usize,
    pub beds_updated: usize,
    pub beds_retired: usize,
}

/// Parses and checks the file; every problem is reported with the unit it is in.
pub fn parse(text: &str) -> anyhow::Result<IcuFile> {
    let file: IcuFile = toml::from_str(text).context("reading the ICU configuration")?;
    let mut problems = Vec::new();
    for (n, u) in file.unit.iter().enumerate() {
        let at = format!("unit {} ({})", n + 1, u.code);
        if u.code.trim().is_empty() || u.code.len() > 20 {
            problems.push(format!("{at}: code must be 1–20 characters"));
        }
        if u.name.trim().is_empty() || u.name.chars().count() > 60 {
            problems.push(format!("{at}: name must be 1–60 characters"));
        }
        if !KINDS.contains(&u.kind.as_str()) {
            problems.push(format!("{at}: kind must be one of {}", KINDS.join(", ")));
        }
        let colour_ok = u.colour.len() == 7
            && u.colour.starts_with('#')
            && u.colour[1..].chars().all(|c| c.is_ascii_hexdigit());
        if !colour_ok {
            problems.push(format!("{at}: colour must look like #1f6fb4"));
        }
        if !(5..=3600).contains(&u.sampling_seconds) {
            problems.push(format!("{at}: sampling_seconds must be 5–3600"));
        }
        let mut keys = HashSet::new();
        for (label, key) in beds_of(u) {
            if key.trim().is_empty() || key.len() > 40 || label.trim().is_empty() {
                problems.push(format!(
                    "{at}: bed {label:?} needs a label and a monitor key of at most 40 characters"
                ));
            }
            if !keys.insert(key.clone()) {
                problems.push(format!("{at}: monitor key {key:?} appears twice"));
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(file)
}

fn beds_of(u: &UnitEntry) -> Vec<(String, String)> {
    u.beds
        .iter()
        .map(|b| (b.clone(), b.clone()))
        .chain(
            u.bed
                .iter()
                .map(|b| (b.label.clone(), b.monitor_key.clone())),
        )
        .collect()
}

/// Applies the file. With `dry_run`, only counts.
pub async fn import(
    store: &dyn Store,
    file: &IcuFile,
    dry_run: bool,
    audit: impl Fn(&str) -> AuditEntry,
) -> anyhow::Result<ImportSummary> {
    let mut summary = ImportSummary::default();
    let icu = store.icu();
    let now = now_millis();
    let mut units = icu.icu_units().await?;
    let mut beds = icu.icu_beds().await?;
    for entry in &file.unit {
        let facility = crate::admin::find_facility(store, &entry.facility).await?;
        let centre = match &entry.centre {
            Some(c) => crate::admin::find_facility(store, c).await?,
            None => facility.clone(),
        };
        let existing = units
            .iter()
            .find(|u| u.facility_id == facility.id && u.code == entry.code)
            .cloned();
        let unit = IcuUnit {
            id: existing
                .as_ref()
                .map(|u| u.id.clone())
                .unwrap_or_else(ids::new_id),
            facility_id: facility.id.clone(),
            centre_facility_id: centre.id.clone(),
            code: entry.code.clone(),
            name: entry.name.clone(),
            kind: entry.kind.clone(),
            colour: entry.colour.to_lowercase(),
            sampling_seconds: entry.sampling_seconds,
            active: entry.active,
            updated_at: now,
        };
        let changed = existing.as_ref().is_none_or(|e| {
            (
                &e.centre_facility_id,
                &e.name,
                &e.kind,
                &e.colour,
                e.sampling_seconds,
                e.active,
            ) != (
                &unit.centre_facility_id,
                &unit.name,
                &unit.kind,
                &unit.colour,
                unit.sampling_seconds,
                unit.active,
            )
        });
        if existing.is_none() {
            summary.units_created += 1;
        } else if changed {
            summary.units_updated += 1;
        }
        if changed && !dry_run {
            let action = if existing.is_some() {
                "icu.unit.update"
            } else {
                "icu.unit.create"
            };
            icu.icu_put_unit(unit.clone(), audit(action).target("icu_unit", &unit.id))
                .await
                .with_context(|| format!("saving unit {}", unit.code))?;
        }
        if existing.is_none() {
            units.push(unit.clone());
        }
        let wanted = beds_of(entry);
        let wanted_keys: HashSet<&str> = wanted.iter().map(|(_, k)| k.as_str()).collect();
        for (position, (label, key)) in wanted.iter().enumerate() {
            let current = beds
                .iter()
                .find(|b| b.facility_id == facility.id && &b.monitor_key == key)
                .cloned();
            let bed = IcuBed {
                id: current
                    .as_ref()
                    .map(|b| b.id.clone())
                    .unwrap_or_else(ids::new_id),
                unit_id: unit.id.clone(),
                facility_id: facility.id.clone(),
                label: label.clone(),
                monitor_key: key.clone(),
                position: position as i64,
                active: true,
                updated_at: now,
            };
            let changed = current.as_ref().is_none_or(|c| {
                (&c.unit_id, &c.label, c.position, c.active)
                    != (&bed.unit_id, &bed.label, bed.position, bed.active)
            });
            if current.is_none() {
                summary.beds_created += 1;
            } else if changed {
                summary.beds_updated += 1;
            }
            if changed && !dry_run {
                let action = if current.is_some() {
                    "icu.bed.update"
                } else {
                    "icu.bed.create"
                };
                icu.icu_put_bed(bed.clone(), audit(action).target("icu_bed", &bed.id))
                    .await
                    .with_context(|| format!("saving bed {key} of unit {}", unit.code))?;
            }
            if current.is_none() {
                beds.push(bed);
            }
        }
        for retired in beds.iter().filter(|b| {
            b.unit_id == unit.id && b.active && !wanted_keys.contains(b.monitor_key.as_str())
        }) {
            summary.beds_retired += 1;
            if !dry_run {
                let mut bed = retired.clone();
                bed.active = false;
                bed.updated_at = now;
                icu.icu_put_bed(bed, audit("icu.bed.retire").target("icu_bed", &retired.id))
                    .await
                    .with_context(|| format!("retiring bed {}", retired.monitor_key))?;
            }
        }
    }
    if !dry_run {
        store
            .publish_event(renkei_core::icu::CONFIG_TOPIC, "import")
            .await?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_every_unit() {
        let text = r##"
[[unit]]
facility = "F00001"
code = "ICU"
name = "集中治療室"
beds = ["BED-001", "BED-002"]

[[unit]]
facility = "F00002"
code = "HCU"
name = ""
kind = "ward"
colour = "red"
beds = ["A", "A"]
"##;
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("unit 2 (HCU): name"), "{err}");
        assert!(err.contains("kind must be one of"), "{err}");
        assert!(err.contains("colour"), "{err}");
        assert!(err.contains("appears twice"), "{err}");
        assert!(!err.contains("unit 1"), "{err}");
        assert!(parse("[[unit]]\nfacility = \"F1\"\nsurprise = 1").is_err());
        let ok = parse(&text[..text.find("[[unit]]\nfacility = \"F00002\"").unwrap()]).unwrap();
        assert_eq!(beds_of(&ok.unit[0]).len(), 2);
    }
}
