//! Tele-ICU severity scores, computed exactly as tabulated in the project
//! reference `tele-icu.md` ("Severity scores — exact rules"):
//!
//! * [`apache_ii`] — APACHE II, worst of the first 24 h;
//! * [`saps_ii`] — SAPS II with predicted mortality;
//! * [`news2`] — NEWS2 with SpO2 scale 1/2 and the risk band;
//! * [`mods`] — MODS (Marshall), daily, SI units;
//! * [`sofa`] — SOFA (Vincent 1996, not SOFA-2), daily.
//!
//! Every score returns a [`ScoreSheet`]: each component with its points,
//! the source values and their times; `total` sums the scored components,
//! and a missing component is listed in `missing` (and `complete` is false)
//! — never counted as 0.
//!
//! Bands are half-open: a published lower bound is inclusive up to the next
//! band's lower bound, so non-integer values (HR 109.5) fall in a band.
//! "Worst" values over a window: score both the minimum and the maximum and
//! keep the higher points ([`worst_of`], and the `*Series::worst` helpers).
//!
//! Pure computation: no I/O, no async, no allocation beyond the result.

pub mod apache_ii;
mod common;
pub mod mods;
pub mod news2;
pub mod saps_ii;
pub mod sofa;
pub mod units;

pub use common::{
    worst_of, BloodGas, Component, ComponentScore, Measured, ScoreKind, ScoreSheet, SourceValue,
    ValueBasis,
};
