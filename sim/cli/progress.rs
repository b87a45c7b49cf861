//! The progress bar of `fleetsim run`, drawn on stderr when it is a terminal (indicatif hides
//! it otherwise): the library reports days through `progress::Progress`, this draws them.

use crate::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::OnceLock;

/// Created when the run says how many days it will simulate.
#[derive(Default)]
pub struct Bar(OnceLock<ProgressBar>);

impl Progress for Bar {
    fn start(&self, days: u32) {
        self.0.get_or_init(|| {
            let bar = ProgressBar::new(u64::from(days));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} simulating [{bar:40}] day {pos}/{len}, {elapsed} elapsed, eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
    }

    fn day_done(&self) {
        if let Some(bar) = self.0.get() {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.0.get() {
            bar.finish_and_clear();
        }
    }
}
