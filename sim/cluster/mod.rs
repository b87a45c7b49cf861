//! Runs across machines (issue 14). What exists so far: the placement of regions on nodes.

pub mod placement;
