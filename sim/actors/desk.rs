//! The coordinator's side of predictive maintenance (`[service.predictive]`): the weekly
//! review at fixed calendar instants (`service::predictive`), asked of the engine on the
//! ingest thread, answered with preventive visits booked by the regions' organisations and
//! announced to the machines before the span they fall in.
//!
//! **Exact order.** Spans end at every review (Monday 00:00), so a review always falls
//! between two spans: every failure of earlier times is dispatched (a span ends with nothing
//! pending, `field`), no machine has worked past the review, and the visits reach the
//! organisations before any later failure. The outcome is the same whatever
//! `engine.span_days` and the threads.

use super::field::Field;
use super::machine::Visit;
use super::shop::ShopMsg;
use crate::calendar::{Calendar, DayIndex};
use crate::event::ShopId;
use crate::fleet::Fleet;
use crate::metering::MachineHealth;
use crate::scenario::Scenario;
use crate::service::dispatch::Preventive;
use crate::service::predictive::{ReviewDesk, REVIEW_WEEKDAY};
use ractor::ActorRef;
use tokio::sync::oneshot;

/// Where the engine's answer to a `HealthQuery` comes.
pub(super) type HealthAnswer = oneshot::Receiver<Result<Vec<MachineHealth>, String>>;

/// A question to the engine, carried by the batch of the day before a review: the health
/// reported since `since`, once that batch is in.
pub struct HealthQuery {
    pub since: i64,
    pub reply: oneshot::Sender<Result<Vec<MachineHealth>, String>>,
}

/// The desk, the calendar it reviews on, and the visits booked so far.
pub(super) struct Predictive {
    desk: ReviewDesk,
    calendar: std::sync::Arc<Calendar>,
    fleet: std::sync::Arc<Fleet>,
    /// Every visit booked, in review order, regions in order within a review.
    pub(super) visits: Vec<Preventive>,
}

impl Predictive {
    /// The policy's desk if `[service.predictive]` is on.
    pub(super) fn of(
        scenario: &Scenario,
        fleet: std::sync::Arc<Fleet>,
        calendar: std::sync::Arc<Calendar>,
    ) -> Option<Predictive> {
        let service = &scenario.service;
        let spec = service.predictive.as_ref().filter(|_| service.enabled)?;
        let desk = ReviewDesk::new(
            spec,
            &service.failures,
            scenario.seed,
            fleet.machine_count() as u32,
            calendar.midnight_unix(0),
        );
        Some(Predictive {
            desk,
            calendar,
            fleet,
            visits: Vec::new(),
        })
    }

    /// The first review day after `day`: a span starting at `day` ends there at the latest.
    pub(super) fn next_review(&self, day: DayIndex) -> DayIndex {
        let weekday = self.calendar.info(day).weekday;
        let ahead = (REVIEW_WEEKDAY + 7 - weekday) % 7;
        day + if ahead == 0 { 7 } else { ahead as DayIndex }
    }

    /// If a review falls at the end of `day` (the next day is a review day within the run),
    /// the question for the engine and where its answer comes.
    pub(super) fn query_after(&self, day: DayIndex) -> Option<(HealthQuery, HealthAnswer)> {
        let next = day + 1;
        if next >= self.calendar.days() || self.calendar.info(next).weekday != REVIEW_WEEKDAY {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        let since = self.desk.since();
        Some((HealthQuery { since, reply }, answer))
    }

    /// The review at the start of `day` on the engine's answer: visits asked of the regions'
    /// organisations, then announced to the machines (before their next span's work).
    pub(super) async fn review(
        &mut self,
        day: DayIndex,
        answer: HealthAnswer,
        field: &mut Field,
        shops: &[ActorRef<ShopMsg>],
    ) -> Result<(), String> {
        let mut health = answer
            .await
            .map_err(|_| "the ingestion pipeline stopped before the desk's review".to_string())?
            .map_err(|e| format!("the desk's review of machine health: {e}"))?;
        // A report is the desk's if it comes from one of the fleet's machines at its own shop,
        // still installed (a removed machine's last warning needs no technician).
        let fleet = &self.fleet;
        health.retain(|h| {
            fleet.machine_shop.get(h.machine.0 as usize) == Some(&h.shop)
                && fleet.shops[h.shop.0 as usize].in_service.covers(day)
        });
        let at = self.calendar.midnight_unix(day);
        let requests = self.desk.review(at, &health);
        if requests.is_empty() {
            return Ok(());
        }
        let visits = field.prevent(requests).await?;
        self.desk.booked(&visits);
        for v in &visits {
            let r = &v.request;
            let visit = Visit {
                requested: r.time,
                on_site: v.on_site,
                done: v.done,
            };
            announce(shops, r.shop, ShopMsg::Prevent(r.machine, visit))?;
        }
        self.visits.extend(visits);
        Ok(())
    }
}

fn announce(shops: &[ActorRef<ShopMsg>], shop: ShopId, msg: ShopMsg) -> Result<(), String> {
    let actor = shops
        .get(shop.0 as usize)
        .ok_or_else(|| format!("a preventive visit for shop {} outside the fleet", shop.0))?;
    actor
        .cast(msg)
        .map_err(|e| format!("shop {} is gone: {e}", shop.0))
}
