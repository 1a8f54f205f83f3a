//! The statistics of one sequence. Each estimator states its formula and reference; each is
//! tested against published values where they exist and against synthetic catalogues drawn
//! with known parameters (coverage of the stated uncertainty over many draws).

pub mod bath;
pub mod bvalue;
pub mod mc;
pub mod moment;
pub mod omori;

/// Why an estimate is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotEnough {
    pub events: usize,
    pub required: usize,
}
