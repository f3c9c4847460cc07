//! The stages of a comparison run (profile, validate, optimize, compare).

pub mod compare;
