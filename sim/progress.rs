//! How a run tells its caller how far it got. The library only reports (days simulated);
//! drawing a bar on the terminal is `cli`'s (`cli::progress`), like every other output.

/// Receives a run's progress. Called from the actor threads, so it must be `Sync`; each call
/// must be cheap (once per simulated day).
pub trait Progress: Send + Sync {
    /// The run is about to simulate `days` days from `first` on.
    fn start(&self, _days: u32, _first: chrono::NaiveDate) {}
    /// One more day simulated and its `events` handed to ingestion.
    fn day_done(&self, _events: u64) {}
    /// The simulation and ingestion are over; whatever was shown can go.
    fn finish(&self) {}
    /// Pricing alternative `index` of `count` (`id`) is being billed.
    fn billing(&self, _id: &str, _index: usize, _count: usize) {}
    /// Every alternative is billed.
    fn billed(&self) {}
}

/// Reports nowhere: library callers and `--quiet` runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}
