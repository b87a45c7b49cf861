//! The progress bar of `fleetsim run`, drawn on stderr when it is a terminal (indicatif hides
//! it otherwise): the library reports days and alternatives through `progress::Progress`,
//! this draws them — the simulated date, events per second, then the alternative billed.

use crate::progress::Progress;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Created when the run says how many days it will simulate.
#[derive(Default)]
pub struct Bar {
    days: OnceLock<(ProgressBar, NaiveDate)>,
    events: AtomicU64,
    billing: Mutex<Option<ProgressBar>>,
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

impl Progress for Bar {
    fn start(&self, days: u32, first: NaiveDate) {
        self.days.get_or_init(|| {
            let template = "{spinner} simulating [{bar:40}] {msg}, {elapsed} elapsed, eta {eta}";
            (bar(u64::from(days), template), first)
        });
    }

    fn day_done(&self, events: u64) {
        let total = self.events.fetch_add(events, Ordering::Relaxed) + events;
        if let Some((bar, first)) = self.days.get() {
            bar.inc(1);
            let date = *first + chrono::Days::new(bar.position());
            let rate = total as f64 / bar.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{date}, {rate:.0} events/s"));
        }
    }

    fn finish(&self) {
        if let Some((bar, _)) = self.days.get() {
            bar.finish_and_clear();
        }
    }

    fn billing(&self, id: &str, index: usize, count: usize) {
        let Ok(mut slot) = self.billing.lock() else {
            return;
        };
        let bar = slot.get_or_insert_with(|| {
            bar(
                count as u64,
                "{spinner} billing alternatives [{bar:40}] {pos}/{len}: {msg}, {elapsed} elapsed",
            )
        });
        bar.set_position(index as u64);
        bar.set_message(id.to_string());
    }

    fn billed(&self) {
        if let Some(bar) = self.billing.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
    }
}

/// The live view of `fleetsim load SCENARIO`: one line, refreshed twice a second, with the
/// fleet's date, the rate, p99 from the schedule, errors and late starts.
#[derive(Default)]
pub struct LoadBar {
    line: OnceLock<ProgressBar>,
}

impl LoadBar {
    fn line(&self) -> &ProgressBar {
        self.line.get_or_init(|| {
            let line = ProgressBar::new_spinner();
            line.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            line
        })
    }
}

impl Progress for LoadBar {
    fn finish(&self) {
        if let Some(line) = self.line.get() {
            line.finish_and_clear();
        }
    }
}

impl crate::load::fleet::LiveView for LoadBar {
    fn live(&self, s: &crate::load::fleet::LiveSnapshot) {
        if !s.started() {
            self.line()
                .set_message("provisioning the target and building the fleet…");
            self.line().tick();
            return;
        }
        let date = chrono::DateTime::from_timestamp(s.virtual_now, 0).map_or_else(
            || "-".to_string(),
            |d| d.format("%Y-%m-%d %a %H:%M").to_string(),
        );
        let p99 = s.p99_us.map_or_else(
            || "-".to_string(),
            |p| crate::threshold::render_micros(p as f64),
        );
        self.line().set_message(format!(
            "{:>5.1} s  {date}  {}: {:.0} events/s, p99 {p99}, {} requests, {} errors, {} late",
            s.elapsed.as_secs_f64(),
            s.stage,
            s.events_per_second,
            s.requests,
            s.errors,
            s.late
        ));
        self.line().tick();
    }
}
