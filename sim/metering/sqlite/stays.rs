//! Where each machine is installed, and when: its *stays*. A stay is the time a machine spends
//! at one shop, from its installation (`since`, or since ever when provisioned without a time)
//! to its removal read (`until`, the time of the final read at that shop). A machine that is
//! never moved has one stay, open-ended; a loaner has one per shop it visited, the last one
//! open-ended.
//!
//! An event belongs to the stay whose `[since, until]` holds its time (both ends included; the
//! current stay has no end) and is accepted only if its shop is that stay's shop. Outside
//! every stay (before the first, or between a removal read and the next installation: the
//! machine in transit) no shop is bound, and the event is refused `WrongShop`.
//!
//! Kept in `machines` (the current stay: `shop`, `since`) and `ended_stays` (every earlier
//! one), both written by `provision` in one transaction, so a restart reads the same history.

use super::rows::At;
use super::*;

/// One stay of a machine at a shop: `[since, until]`, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stay {
    pub shop: ShopId,
    /// Installation time; `i64::MIN` for a machine provisioned without one (since ever).
    pub since: i64,
    /// The removal read's time; `None` for the current stay.
    pub until: Option<i64>,
}

impl Stay {
    fn holds(&self, time: i64) -> bool {
        self.since <= time && self.until.is_none_or(|until| time <= until)
    }
}

/// Every machine's stays, indexed by machine id. The current stay is apart (`current`,
/// `since`): the ingestion path reads only it unless an event is older than it.
#[derive(Default)]
pub(super) struct Stays {
    current: Vec<Option<ShopId>>,
    since: Vec<i64>,
    /// The ended stays of machines that moved, oldest first (stays 0, 1, …).
    ended: BTreeMap<u32, Vec<Stay>>,
}

impl Stays {
    /// One past the highest machine id provisioned.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    /// The shop a machine is installed at now.
    pub fn current_shop(&self, machine: usize) -> Option<ShopId> {
        self.current.get(machine).copied().flatten()
    }

    /// The number of a machine's current stay.
    pub fn current_stay(&self, machine: u32) -> u32 {
        self.ended.get(&machine).map_or(0, |e| e.len() as u32)
    }

    /// The machine's current stay, if it is provisioned.
    pub fn current(&self, machine: u32) -> Option<Stay> {
        Some(Stay {
            shop: self.current_shop(machine as usize)?,
            since: self.since[machine as usize],
            until: None,
        })
    }

    /// The stay holding `time` (its number and shop), or `Err` with why the event is refused.
    pub fn stay_at(&self, machine: u32, time: i64) -> Result<(u32, ShopId), RejectReason> {
        let shop = self
            .current_shop(machine as usize)
            .ok_or(RejectReason::UnknownMachine)?;
        if time >= self.since[machine as usize] {
            return Ok((self.current_stay(machine), shop));
        }
        let ended = self.ended.get(&machine).map_or(&[][..], |e| &e[..]);
        let i = ended.partition_point(|s| s.since <= time);
        match i.checked_sub(1).map(|i| (i, ended[i])) {
            Some((i, stay)) if stay.holds(time) => Ok((i as u32, stay.shop)),
            _ => Err(RejectReason::WrongShop),
        }
    }

    /// The stay a stored reading is validated in: the one holding its time, else the last
    /// one begun by then (an accepted reading always lies in a stay; this only keeps a replay
    /// total over a store edited behind the engine's back).
    pub fn stay_index_at(&self, machine: u32, time: i64) -> u32 {
        match self.stay_at(machine, time) {
            Ok((stay, _)) => stay,
            Err(_) => {
                let ended = self.ended.get(&machine).map_or(&[][..], |e| &e[..]);
                ended.partition_point(|s| s.since <= time).saturating_sub(1) as u32
            }
        }
    }

    /// The shop of one stay of a machine.
    pub fn shop_of(&self, machine: usize, stay: u32) -> Option<ShopId> {
        let m = u32::try_from(machine).ok()?;
        match self.ended.get(&m).and_then(|e| e.get(stay as usize)) {
            Some(ended) => Some(ended.shop),
            None if stay == self.current_stay(m) => self.current_shop(machine),
            None => None,
        }
    }

    /// One past the largest shop id any stay is at.
    pub fn max_shop(&self) -> usize {
        let ended = self.ended.values().flatten().map(|s| s.shop);
        self.current
            .iter()
            .flatten()
            .copied()
            .chain(ended)
            .map(|s| s.0 as usize + 1)
            .max()
            .unwrap_or(0)
    }
}

/// What provisioning one machine does to its stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// Already installed there: nothing.
    Same,
    /// A machine the store did not know: its first stay.
    Install { since: i64 },
    /// Not removed, provisioned without a time: the current stay's shop is corrected (what
    /// provisioning always did).
    Rebind,
    /// Removed from its shop at `until`: that stay ends there and a new one begins at `since`.
    Move { ended: Stay, since: i64 },
}

/// The change provisioning `machine` at `shop` (installed at `at`, if given) makes, given the
/// time of the current stay's removal read (if its latest reading is one).
pub(super) fn change(
    stays: &Stays,
    machine: MachineId,
    shop: ShopId,
    at: Option<i64>,
    removed_at: Option<i64>,
) -> Result<Change, MeteringError> {
    let Some(current) = stays.current(machine.0) else {
        return Ok(Change::Install {
            since: at.unwrap_or(i64::MIN),
        });
    };
    if current.shop == shop {
        return Ok(Change::Same);
    }
    let Some(removal) = removed_at else {
        return match at {
            None => Ok(Change::Rebind),
            Some(_) => Err(MeteringError::Conflict(format!(
                "machine {machine} is still installed at shop {}: its latest accepted reading is \
                 not a removal read, so it cannot move to shop {shop} yet (send its removal read \
                 first)",
                current.shop
            ))),
        };
    };
    let since = at.unwrap_or(removal.saturating_add(1));
    if since <= removal {
        return Err(MeteringError::Conflict(format!(
            "machine {machine} left shop {} with its removal read at {}: its stay at shop {shop} \
             must begin after that, not at {}",
            current.shop,
            rfc3339(removal),
            rfc3339(since)
        )));
    }
    Ok(Change::Move {
        ended: Stay {
            until: Some(removal),
            ..current
        },
        since,
    })
}

/// Writes one machine's change into the open transaction.
pub(super) fn store_change(
    conn: &Connection,
    stays: &Stays,
    machine: MachineId,
    shop: ShopId,
    change: Change,
) -> Result<(), MeteringError> {
    let since = |s: i64| (s != i64::MIN).then_some(s);
    match change {
        Change::Same => {}
        Change::Install { since: s } => {
            conn.prepare_cached("INSERT INTO machines(id, shop, since) VALUES (?1, ?2, ?3)")?
                .execute(params![machine.0, shop.0, since(s)])?;
        }
        Change::Rebind => {
            conn.prepare_cached("UPDATE machines SET shop = ?2 WHERE id = ?1")?
                .execute(params![machine.0, shop.0])?;
        }
        Change::Move { ended, since: s } => {
            conn.prepare_cached(
                "INSERT INTO ended_stays(machine, stay, shop, since, until) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                machine.0,
                stays.current_stay(machine.0),
                ended.shop.0,
                since(ended.since),
                ended.until
            ])?;
            conn.prepare_cached("UPDATE machines SET shop = ?2, since = ?3 WHERE id = ?1")?
                .execute(params![machine.0, shop.0, since(s)])?;
        }
    }
    Ok(())
}

/// Reads every machine's stays, each value checked (ids, stay numbers 0, 1, … in order, each
/// stay ending before the next begins).
pub(super) fn load_stays(conn: &Connection) -> Result<Stays, MeteringError> {
    let mut stays = Stays::default();
    let mut stmt = conn.prepare("SELECT id, shop, since FROM machines ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    for row in rows {
        let (id, shop, since) = row?;
        let at = At::key("machines", format!("id {id}"));
        let (machine, shop) = (at.id("id", id)? as usize, at.id("shop", shop)?);
        // Ids are checked before they size the table.
        if stays.current.len() <= machine {
            stays.current.resize(machine + 1, None);
            stays.since.resize(machine + 1, i64::MIN);
        }
        stays.current[machine] = Some(ShopId(shop));
        stays.since[machine] = since.unwrap_or(i64::MIN);
    }
    let mut stmt = conn.prepare(
        "SELECT machine, stay, shop, since, until FROM ended_stays ORDER BY machine, stay",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (machine, stay, shop, since, until) = row?;
        let at = At::key("ended_stays", format!("(machine {machine}, stay {stay})"));
        let (machine, shop) = (at.id("machine", machine)?, at.id("shop", shop)?);
        let since = since.unwrap_or(i64::MIN);
        let list = stays.ended.entry(machine).or_default();
        if stay != list.len() as i64 {
            return Err(at.corrupt(
                "stay",
                stay,
                &format!("stays numbered 0, 1, … ({} next)", list.len()),
            ));
        }
        let after_previous = list.last().and_then(|s| s.until).is_none_or(|u| since > u);
        if until < since || !after_previous {
            return Err(at.corrupt(
                "until",
                until,
                "stays that end after they begin and before the next begins",
            ));
        }
        list.push(Stay {
            shop: ShopId(shop),
            since,
            until: Some(until),
        });
    }
    for (&machine, list) in &stays.ended {
        let current_since = stays.since.get(machine as usize).copied();
        let last_until = list.last().and_then(|s| s.until);
        if current_since.is_none_or(|s| last_until.is_some_and(|u| s <= u)) {
            let at = At::key("machines", format!("id {machine}"));
            return Err(at.corrupt(
                "since",
                current_since.map_or("absent".to_string(), |s| s.to_string()),
                "a current stay beginning after the machine's last removal read",
            ));
        }
    }
    Ok(stays)
}

/// A time as RFC 3339 (UTC, seconds), as events carry it; the raw number if out of range.
fn rfc3339(time: i64) -> String {
    chrono::DateTime::from_timestamp(time, 0).map_or(time.to_string(), |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}
