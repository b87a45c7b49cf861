//! The coordinator: owns the virtual clock, advances it one day at a time behind a barrier,
//! gathers each day's events in machine order, tallies the ground truth, plays the transport
//! (outages delay delivery, retries duplicate events), and hands the day's batch to the
//! ingestion pipeline (with back-pressure).

use super::desk::{HealthQuery, Predictive};
use super::faults::{FaultTally, Links, Resends};
use super::field::Field;
use super::loaner::{LoanerDay, Loaners, Stay};
use super::shop::{ShopActor, ShopArgs, ShopMsg};
use super::DayBoard;
use crate::calendar::{Calendar, DayIndex, DayInfo};
use crate::demand::DemandModel;
use crate::event::UsageEvent;
use crate::fleet::Fleet;
use crate::progress::Progress;
use crate::scenario::Scenario;
use crate::truth::{Activity, Truth};
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The events delivered on simulated day `day`, in (machine, seq) order with any re-sent
/// duplicates at the end. A machine back from an outage delivers its backlog (earlier days'
/// events, with their own times) before the day's events. `commit` asks the engine to make
/// everything durable.
pub struct IngestBatch {
    pub day: DayIndex,
    pub events: Vec<UsageEvent>,
    pub commit: bool,
    /// On the last day of a `[quote]` audit: every shop's activity over the audit's months
    /// (by shop id), for the calculator to price the months that follow.
    pub audit: Option<Vec<Activity>>,
    /// `[service]`: repairs the service organisations decided since the last batch (with the
    /// span's first batch: before any period they fall in closes).
    pub repairs: Vec<crate::service::Repair>,
    /// `[service]`: loaners installed today, (loaner, shop, unix seconds): provisioned at that
    /// time before the batch's events (which include theirs).
    pub installs: Vec<(crate::event::MachineId, crate::event::ShopId, i64)>,
    /// `[service.predictive]`: on the day before a review, the desk's question to the engine.
    pub health: Option<HealthQuery>,
}

/// What the simulation produced besides the events.
#[derive(Debug)]
pub struct SimOutcome {
    pub truth: Truth,
    /// Distinct events the machines emitted; by the end of the run every one was delivered
    /// exactly once (plus `duplicates_sent`).
    pub events_emitted: u64,
    /// Extra copies the transport re-sent (fault injection).
    pub duplicates_sent: u64,
    /// Field faults injected into the data (counters, reads, delivery).
    pub faults: FaultTally,
    /// Per shop: mountings done after each machine's last reading that was sent, which the
    /// counters have therefore not shown by the end of the run.
    pub unread_mountings: Vec<u64>,
    /// `[service]`: every repair, in dispatch order per region (regions in order).
    pub repairs: Vec<crate::service::Repair>,
    /// `[service.predictive]`: every preventive visit booked, review by review.
    pub preventive: Vec<crate::service::dispatch::Preventive>,
}

// Local only: never crosses nodes (ractor's `cluster` feature needs the impl).
#[derive(ractor_cluster::RactorMessage)]
pub enum CoordinatorMsg {
    Tick,
    DayDone,
}

struct Args {
    scenario: Arc<Scenario>,
    fleet: Arc<Fleet>,
    calendar: Arc<Calendar>,
    ingest: mpsc::Sender<IngestBatch>,
    progress: Arc<dyn Progress>,
    done: oneshot::Sender<Result<SimOutcome, String>>,
}

struct State {
    shops: Vec<ActorRef<ShopMsg>>,
    board: Arc<DayBoard>,
    calendar: Arc<Calendar>,
    fleet: Arc<Fleet>,
    day: DayIndex,
    /// The current span's days in order, each with its slot on the board, or `None` when the
    /// scenario closes every shop that day (no actor is woken, nothing is collected).
    span: Vec<(DayIndex, Option<usize>)>,
    /// Weekdays (Monday first) on which the scenario closes every shop.
    closed_weekdays: [bool; 7],
    /// Days on which some shop's machines are removed: never skipped (a final read is due).
    removal_days: std::collections::BTreeSet<DayIndex>,
    commit_every: u32,
    /// Days simulated per round of messages (`engine.span_days`, a week by default): the
    /// coordinator hands the days to ingestion one by one. Any length gives the same output.
    span_days: u32,
    resends: Resends,
    links: Links,
    truth: Option<Truth>,
    /// `[quote]`: the audit's months and the day that follows them.
    audit: Option<(u32, DayIndex)>,
    events_emitted: u64,
    /// Distinct events handed to ingestion so far (the rest wait in outage buffers).
    events_delivered: u64,
    duplicates_sent: u64,
    /// The machines' faults, summed day by day (the transport's are in `links`).
    faults: FaultTally,
    /// Per machine: mountings since its last sent reading, as of its last open day.
    unread: Vec<u64>,
    /// `[service]`: the regions' service organisations and what they still have to do.
    field: Option<Field>,
    /// `[service]`: the end of the current span (unix seconds).
    span_end: i64,
    /// Repairs decided during the current span, for its first batch (incidents).
    span_repairs: Vec<crate::service::Repair>,
    /// `[service]`: the loaners, their stays and what they did on the day being collected.
    loaners: Option<Loaners>,
    loaner_day: LoanerDay,
    /// `[service.predictive]`: the service desk's weekly review.
    predictive: Option<Predictive>,
    ingest: mpsc::Sender<IngestBatch>,
    progress: Arc<dyn Progress>,
    done: Option<oneshot::Sender<Result<SimOutcome, String>>>,
}

struct Coordinator;

impl Actor for Coordinator {
    type Msg = CoordinatorMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<CoordinatorMsg>,
        a: Args,
    ) -> Result<State, ActorProcessingErr> {
        let board = Arc::new(DayBoard::new(a.fleet.machine_count()));
        let demand = Arc::new(DemandModel::new(&a.scenario.demand));
        let service = a
            .scenario
            .service
            .enabled
            .then(|| Arc::new(a.scenario.service.clone()));
        let mut shops = Vec::with_capacity(a.fleet.shops.len());
        for profile in &a.fleet.shops {
            let args = ShopArgs {
                profile: profile.clone(),
                seed: a.scenario.seed,
                faults: a.scenario.faults,
                demand: demand.clone(),
                board: board.clone(),
                service: service.clone(),
            };
            let (shop, _) = Actor::spawn_linked(None, ShopActor, args, myself.get_cell()).await?;
            shops.push(shop);
        }
        let s = &a.scenario;
        let machines = a.fleet.machine_count();
        let links = Links::new(
            &s.faults,
            s.seed,
            a.fleet.machine_count(),
            a.calendar.days(),
        );
        let removal_days = a
            .fleet
            .shops
            .iter()
            .filter_map(|shop| shop.in_service.removal_day())
            .collect();
        let field = match &service {
            Some(_) => {
                Some(crate::service::start::spawn_field(s, &a.fleet, myself.get_cell()).await?)
            }
            None => None,
        };
        let field = field.map(|(orgs, shops)| Field::new(orgs, shops));
        let predictive = Predictive::of(s, a.fleet.clone(), a.calendar.clone());
        let audit = s
            .quote
            .as_ref()
            .map(|q| (q.audit_months, a.calendar.first_day_of(q.audit_months)));
        Ok(State {
            shops,
            board,
            truth: Some({
                let truth = Truth::with_shop_days(
                    s.fleet.shops,
                    a.calendar.months(),
                    a.calendar.days(),
                    a.calendar.first_day_of(s.audit_window_months()),
                );
                if field.is_some() {
                    truth.with_field()
                } else {
                    truth
                }
            }),
            loaners: field.is_some().then(|| Loaners::new(s.faults, s.seed)),
            loaner_day: LoanerDay::default(),
            field,
            predictive,
            span_end: 0,
            span_repairs: Vec::new(),
            audit,
            calendar: a.calendar,
            fleet: a.fleet,
            day: 0,
            span: Vec::new(),
            closed_weekdays: s.closures.closed_weekdays,
            removal_days,
            commit_every: s.engine.commit_every_days,
            span_days: s.engine.span_days,
            resends: Resends::new(s.seed, s.faults.duplicate_share),
            links,
            events_emitted: 0,
            events_delivered: 0,
            duplicates_sent: 0,
            faults: FaultTally::default(),
            unread: vec![0; machines],
            ingest: a.ingest,
            progress: a.progress,
            done: Some(a.done),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<CoordinatorMsg>,
        msg: CoordinatorMsg,
        s: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CoordinatorMsg::Tick => s.start_span(myself),
            CoordinatorMsg::DayDone => match s.field_round(&myself).await {
                Ok(true) => Ok(()),
                Ok(false) => s.finish_span(myself).await,
                // The run ends with the organisation's reason rather than a lost coordinator.
                Err(e) => s.fail(myself, &format!("field service: {e}")),
            },
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<CoordinatorMsg>,
        evt: SupervisionEvent,
        s: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let why = match evt {
            SupervisionEvent::ActorFailed(_, err) => {
                format!("a shop or machine actor failed: {err}")
            }
            SupervisionEvent::ActorTerminated(_, _, reason) => {
                format!(
                    "a shop actor stopped before the end: {}",
                    reason.unwrap_or_else(|| "no reason given".into())
                )
            }
            _ => return Ok(()),
        };
        if let Some(done) = s.done.take() {
            let _ = done.send(Err(why));
            myself.stop(None);
        }
        Ok(())
    }
}

impl State {
    fn start_span(&mut self, myself: ActorRef<CoordinatorMsg>) -> Result<(), ActorProcessingErr> {
        let mut end = (self.day + self.span_days).min(self.calendar.days());
        if let Some(p) = &self.predictive {
            // Reviews fall between spans (`desk`).
            end = end.min(p.next_review(self.day));
        }
        self.span.clear();
        let mut woken = Vec::new();
        for day in self.day..end {
            // Time compression: a day on which the scenario closes every shop needs no actor.
            let info = self.calendar.info(day);
            let skipped = self.closed_weekdays[info.weekday] && !self.removal_days.contains(&day);
            self.span.push((day, (!skipped).then_some(woken.len())));
            if !skipped {
                woken.push(info);
            }
        }
        if woken.is_empty() {
            myself.cast(CoordinatorMsg::DayDone)?;
            return Ok(());
        }
        self.board.arm(woken.len());
        self.span_end = self.calendar.midnight_unix(end);
        let days: Arc<[DayInfo]> = woken.into();
        for shop in &self.shops {
            shop.cast(ShopMsg::Span(days.clone()))?;
        }
        self.when_round_done(myself);
        Ok(())
    }

    fn when_round_done(&self, myself: ActorRef<CoordinatorMsg>) {
        let board = self.board.clone();
        tokio::spawn(async move {
            board.wait().await;
            let _ = myself.cast(CoordinatorMsg::DayDone);
        });
    }

    /// `[service]`: hands the round's failures to the service organisations; if machines can
    /// then go on with their span, starts another round and returns `true`.
    async fn field_round(
        &mut self,
        myself: &ActorRef<CoordinatorMsg>,
    ) -> Result<bool, ActorProcessingErr> {
        let Some(field) = self.field.as_mut() else {
            return Ok(false);
        };
        let failures = self.board.take_failures();
        let before = field.repairs.len();
        let restores = field.after_round(failures, self.span_end).await?;
        let decided = &field.repairs[before..];
        if let Some(loaners) = self.loaners.as_mut() {
            book_loaners(loaners, decided, &self.fleet, &self.calendar);
        }
        self.span_repairs.extend_from_slice(decided);
        if restores.is_empty() {
            return Ok(false);
        }
        self.board.arm_round(restores.len());
        for (machine, restore) in restores {
            let shop = self.fleet.machine_shop[machine.0 as usize];
            self.shops[shop.0 as usize].cast(ShopMsg::Restore(machine, restore))?;
        }
        self.when_round_done(myself.clone());
        Ok(true)
    }

    /// Hands the span's days to ingestion one by one, in order.
    async fn finish_span(
        &mut self,
        myself: ActorRef<CoordinatorMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let span = std::mem::take(&mut self.span);
        for &(day, slot) in &span {
            debug_assert_eq!(day, self.day, "days are handed over in order");
            let last = day + 1 == self.calendar.days();
            let events = self.collect_day(slot, last);
            let commit = last || (day + 1) % self.commit_every == 0;
            let (health, answer) = self
                .predictive
                .as_ref()
                .and_then(|p| p.query_after(day))
                .unzip();
            let sent = events.len() as u64;
            let batch = IngestBatch {
                day,
                events,
                commit,
                audit: self.audit_snapshot(),
                repairs: std::mem::take(&mut self.span_repairs),
                installs: std::mem::take(&mut self.loaner_day.installs),
                health,
            };
            if self.ingest.send(batch).await.is_err() {
                return self.fail(
                    myself,
                    "the ingestion pipeline stopped (see the metering error)",
                );
            }
            self.progress.day_done(sent);
            self.day += 1;
            if let Some(answer) = answer {
                if let Err(e) = self.review(answer).await {
                    return self.fail(myself, &format!("predictive maintenance: {e}"));
                }
            }
        }
        self.span = span;
        if self.day < self.calendar.days() {
            myself.cast(CoordinatorMsg::Tick)?;
            return Ok(());
        }
        assert_eq!(
            self.events_delivered, self.events_emitted,
            "every emitted event is delivered by the end of the run"
        );
        let outcome = SimOutcome {
            truth: self.truth.take().expect("truth is taken once, at the end"),
            events_emitted: self.events_emitted,
            duplicates_sent: self.duplicates_sent,
            faults: self.faults_injected(),
            unread_mountings: self.unread_by_shop(),
            repairs: self
                .field
                .as_mut()
                .map(|f| std::mem::take(&mut f.repairs))
                .unwrap_or_default(),
            preventive: self
                .predictive
                .as_mut()
                .map(|p| std::mem::take(&mut p.visits))
                .unwrap_or_default(),
        };
        if let Some(done) = self.done.take() {
            let _ = done.send(Ok(outcome));
        }
        myself.stop(None);
        Ok(())
    }

    /// `[service.predictive]`: the desk's review at the start of `self.day` (a span boundary).
    async fn review(&mut self, answer: super::desk::HealthAnswer) -> Result<(), String> {
        let (Some(p), Some(field)) = (self.predictive.as_mut(), self.field.as_mut()) else {
            return Ok(());
        };
        p.review(self.day, answer, field, &self.shops).await
    }

    /// Every shop's audit, on the audit's last day.
    fn audit_snapshot(&self) -> Option<Vec<Activity>> {
        let (months, end) = self.audit?;
        if self.day + 1 != end {
            return None;
        }
        let truth = self.truth.as_ref()?;
        Some(
            (0..self.fleet.shops.len() as u32)
                .map(|shop| truth.activity(shop, 0..months, 0..end))
                .collect(),
        )
    }

    /// The machines' faults (summed day by day) and the transport's.
    fn faults_injected(&self) -> FaultTally {
        let mut all = self.faults;
        all.add(self.links.tally());
        all
    }

    /// The day's delivery: every machine's slot read in machine order (truth tallied by the
    /// day of use, events routed through the transport), then duplicates injected.
    fn collect_day(&mut self, slot: Option<usize>, last: bool) -> Vec<UsageEvent> {
        let mut events = Vec::new();
        match slot {
            // No machine worked, but the run's end still flushes every outage backlog.
            None if last => self.links.flush_all(self.day, &mut events),
            None => {}
            Some(k) => self.collect_slots(k, last, &mut events),
        }
        self.collect_loaners(slot, &mut events);
        self.events_delivered += events.len() as u64;
        self.duplicates_sent += self.resends.inject(&mut events);
        events
    }

    fn collect_slots(&mut self, k: usize, last: bool, events: &mut Vec<UsageEvent>) {
        let day = self.day;
        let period = self.calendar.period_of(day);
        let truth = self.truth.as_mut().expect("truth lives until the end");
        let mut last_shop = None;
        for m in 0..self.board.machines() {
            let shop = self.fleet.machine_shop[m].0;
            self.board.read(m, k, |slot| {
                if slot.open && last_shop != Some(shop) {
                    truth.record_open(shop, period, day);
                }
                truth.record(shop, period, day, &slot.tally, &slot.mix);
                truth.record_field(shop, period, &slot.field);
                assert_eq!(
                    slot.tally.events(),
                    (slot.events.len() + slot.loaner_jobs.len()) as u64,
                    "a machine's tally matches what it (and any loaner for it) edged today"
                );
                self.events_emitted += slot.events.len() as u64;
                if slot.open || slot.removed {
                    self.unread[m] = slot.unread_mountings;
                }
                self.faults.add(&slot.faults);
                // A removed machine hands over its backlog (the technician reads it out).
                self.links.route(
                    m,
                    day,
                    slot.open,
                    last || slot.removed,
                    &slot.events,
                    events,
                );
            });
            last_shop = Some(shop);
        }
    }

    /// `[service]`: the loaners' day (their jobs from the machines' slot `slot`), delivered
    /// as they happen, after the fleet's machines (loaner ids come after theirs).
    fn collect_loaners(&mut self, slot: Option<usize>, events: &mut Vec<UsageEvent>) {
        let Some(loaners) = self.loaners.as_mut() else {
            return;
        };
        let board = &self.board;
        let host = |m: crate::event::MachineId| match slot {
            Some(k) => board.read(m.0 as usize, k, |s| (s.open, s.loaner_jobs.clone())),
            None => (false, Vec::new()),
        };
        let out = &mut self.loaner_day;
        out.events.clear();
        out.reads.clear();
        out.rollovers = 0;
        loaners.day(self.calendar.midnight_unix(self.day), host, out);
        let period = self.calendar.period_of(self.day);
        let truth = self.truth.as_mut().expect("truth lives until the end");
        let read = crate::truth::Tally {
            counter_reads: 1,
            ..Default::default()
        };
        for shop in &out.reads {
            truth.record(shop.0, period, self.day, &read, &Default::default());
        }
        self.faults.rollovers += out.rollovers;
        self.events_emitted += out.events.len() as u64;
        events.extend_from_slice(&out.events);
    }

    fn unread_by_shop(&self) -> Vec<u64> {
        let mut by_shop = vec![0; self.fleet.shops.len()];
        for (m, unread) in self.unread.iter().enumerate() {
            by_shop[self.fleet.machine_shop[m].0 as usize] += unread;
        }
        for (shop, unread) in self.loaners.iter().flat_map(Loaners::unread) {
            by_shop[shop.0 as usize] += unread;
        }
        by_shop
    }

    fn fail(
        &mut self,
        myself: ActorRef<CoordinatorMsg>,
        why: &str,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(done) = self.done.take() {
            let _ = done.send(Err(why.to_string()));
        }
        myself.stop(None);
        Ok(())
    }
}

/// Runs the whole simulation on the current tokio runtime; returns once the last day's batch
/// has been handed to `ingest`.
pub async fn simulate(
    scenario: Arc<Scenario>,
    fleet: Arc<Fleet>,
    calendar: Arc<Calendar>,
    ingest: mpsc::Sender<IngestBatch>,
    progress: Arc<dyn Progress>,
) -> Result<SimOutcome, String> {
    let (done, outcome) = oneshot::channel();
    let args = Args {
        scenario,
        fleet,
        calendar,
        ingest,
        progress,
        done,
    };
    let (coordinator, handle) = Actor::spawn(None, Coordinator, args)
        .await
        .map_err(|e| format!("cannot start the coordinator: {e}"))?;
    coordinator
        .cast(CoordinatorMsg::Tick)
        .map_err(|e| e.to_string())?;
    let result = outcome
        .await
        .unwrap_or_else(|_| Err("the coordinator stopped without a result".into()));
    let _ = handle.await;
    result
}

/// The stays of the loaners in repairs just decided: installed when the shop could edge
/// again, removed when its own machine was back, or with the shop's machines when its
/// contract ends first (nothing of a shop is metered after its removal reads).
fn book_loaners(
    loaners: &mut Loaners,
    repairs: &[crate::service::Repair],
    fleet: &Fleet,
    calendar: &Calendar,
) {
    for r in repairs {
        let Some((loaner, from, returned)) = r.loan() else {
            continue;
        };
        let removal = fleet.shops[r.failure.shop.0 as usize]
            .in_service
            .removal_day()
            .map_or(i64::MAX, |day| {
                calendar.midnight_unix(day) + super::loaner::READ_AT
            });
        let until = returned.min(removal);
        if from < until {
            let stay = Stay {
                shop: r.failure.shop,
                host: r.failure.machine,
                from,
                until,
            };
            loaners.book(loaner, stay);
        }
    }
}
