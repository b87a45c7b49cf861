//! The store's tables, and the migrations that bring any earlier store to them.

use super::*;

pub(super) const SCHEMA_VERSION: i64 = 9;

pub(super) const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE machines(id INTEGER PRIMARY KEY, shop INTEGER NOT NULL);
     CREATE TABLE events(
        source INTEGER NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL,
        subject INTEGER NOT NULL, type INTEGER NOT NULL, attrs INTEGER NOT NULL);
     CREATE TABLE readings(
        source INTEGER NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL,
        subject INTEGER NOT NULL, total_cycles INTEGER NOT NULL,
        mountings INTEGER NOT NULL, trace_only INTEGER NOT NULL);
     CREATE TABLE seen(
        source INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
        PRIMARY KEY(source, lo)) WITHOUT ROWID;
     CREATE TABLE usage(
        period INTEGER NOT NULL, shop INTEGER NOT NULL,
        billable_mountings INTEGER NOT NULL, trace_only INTEGER NOT NULL,
        remakes INTEGER NOT NULL, counter_reads INTEGER NOT NULL,
        PRIMARY KEY(period, shop)) WITHOUT ROWID;",
    // v2: VEE beside each raw reading, contracts, period closes and invoices.
    "ALTER TABLE readings ADD COLUMN vee_code INTEGER;
     ALTER TABLE readings ADD COLUMN vee_period INTEGER;
     ALTER TABLE readings ADD COLUMN step_tc INTEGER;
     ALTER TABLE readings ADD COLUMN step_m INTEGER;
     ALTER TABLE readings ADD COLUMN step_t INTEGER;
     ALTER TABLE readings ADD COLUMN reversed_tc INTEGER;
     ALTER TABLE readings ADD COLUMN reversed_m INTEGER;
     ALTER TABLE readings ADD COLUMN reversed_t INTEGER;
     ALTER TABLE usage ADD COLUMN invoiced_mountings INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE usage ADD COLUMN invoiced_trace_only INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE contracts(
        shop INTEGER PRIMARY KEY, basis TEXT NOT NULL, price TEXT NOT NULL, currency TEXT NOT NULL);
     CREATE TABLE closes(period INTEGER PRIMARY KEY, readings_through INTEGER NOT NULL);
     CREATE TABLE counter_usage(
        period INTEGER NOT NULL, shop INTEGER NOT NULL,
        actual_tc INTEGER NOT NULL, actual_m INTEGER NOT NULL, actual_t INTEGER NOT NULL,
        estimate_tc INTEGER NOT NULL, estimate_m INTEGER NOT NULL, estimate_t INTEGER NOT NULL,
        reversed_tc INTEGER NOT NULL, reversed_m INTEGER NOT NULL, reversed_t INTEGER NOT NULL,
        estimated_machines INTEGER NOT NULL,
        PRIMARY KEY(period, shop)) WITHOUT ROWID;
     CREATE TABLE vee_notes(
        period INTEGER NOT NULL, machine INTEGER NOT NULL,
        estimate_tc INTEGER NOT NULL, estimate_m INTEGER NOT NULL, estimate_t INTEGER NOT NULL,
        notes TEXT NOT NULL, PRIMARY KEY(period, machine)) WITHOUT ROWID;
     CREATE INDEX vee_notes_by_machine ON vee_notes(machine);
     CREATE TABLE invoices(
        period INTEGER NOT NULL, shop INTEGER NOT NULL, basis TEXT NOT NULL,
        currency TEXT NOT NULL, total_cents INTEGER NOT NULL,
        PRIMARY KEY(period, shop)) WITHOUT ROWID;
     CREATE TABLE invoice_lines(
        period INTEGER NOT NULL, shop INTEGER NOT NULL, line INTEGER NOT NULL,
        kind TEXT NOT NULL, usage_period INTEGER NOT NULL, quantity INTEGER NOT NULL,
        unit_price TEXT NOT NULL, amount_cents INTEGER NOT NULL,
        PRIMARY KEY(period, shop, line)) WITHOUT ROWID;",
    // v3: `seen` and `usage` are written at checkpoints; they cover the logs through these
    // rowids (a v2 store wrote them at every commit, so they cover all of it).
    "CREATE TABLE checkpoint(
        id INTEGER PRIMARY KEY CHECK(id = 0),
        events_through INTEGER NOT NULL, readings_through INTEGER NOT NULL);
     INSERT INTO checkpoint VALUES (0,
        (SELECT COALESCE(MAX(rowid), 0) FROM events),
        (SELECT COALESCE(MAX(rowid), 0) FROM readings));",
    // v4: plan contracts (issue #4). The catalogue's TOML text is the `catalogue` setting; a
    // plan contract keeps its terms as JSON in `contracts.plan` (NULL: price per mounting);
    // `plan_billed` is what plan invoices billed per usage period (the base corrections are
    // re-rated from) and the estimate not reversed yet; notes and service incidents.
    "ALTER TABLE contracts ADD COLUMN plan TEXT;
     CREATE TABLE plan_billed(
        shop INTEGER NOT NULL, period INTEGER NOT NULL,
        mountings INTEGER NOT NULL, estimate_left INTEGER NOT NULL,
        PRIMARY KEY(shop, period)) WITHOUT ROWID;
     CREATE TABLE invoice_notes(
        period INTEGER NOT NULL, shop INTEGER NOT NULL, line INTEGER NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY(period, shop, line)) WITHOUT ROWID;
     CREATE TABLE incidents(
        period INTEGER NOT NULL, shop INTEGER NOT NULL, seq INTEGER NOT NULL,
        response_hours TEXT NOT NULL, repair_hours TEXT NOT NULL,
        labour_minutes INTEGER NOT NULL, visits INTEGER NOT NULL, parts_cost TEXT NOT NULL,
        PRIMARY KEY(period, shop, seq)) WITHOUT ROWID;",
    // v5: the removal flag of a counter reading (the final read when a machine leaves the
    // shop), kept in the log so a replay of VEE knows the machine is removed. Every reading
    // stored before was an end-of-day read.
    "ALTER TABLE readings ADD COLUMN removal INTEGER NOT NULL DEFAULT 0;",
    // v6: the health a reading reports (issue 11): the wheels' wear in permille, NULL when
    // the reading has none (every reading stored before), and the cause a warning foresees
    // (`Cause` as 0 to 5), NULL for none. The latest per machine is rebuilt from the log.
    "ALTER TABLE readings ADD COLUMN wheel_wear_permille INTEGER;
     ALTER TABLE readings ADD COLUMN warning INTEGER;",
    // v7: machines that move between shops (loaners). `machines.since` is when the current
    // stay began (NULL: since ever, as every machine stored before); `ended_stays` holds the
    // earlier stays, each ending at its removal read.
    "ALTER TABLE machines ADD COLUMN since INTEGER;
     CREATE TABLE ended_stays(
        machine INTEGER NOT NULL, stay INTEGER NOT NULL, shop INTEGER NOT NULL,
        since INTEGER, until INTEGER NOT NULL,
        PRIMARY KEY(machine, stay)) WITHOUT ROWID;",
    // v8: a close keeps what it handed billing (issue 12), so pricing alternatives can be rated
    // from the same metered usage: the event usage it took per shop and usage period
    // (`events_due`; counter usage and incidents were kept already). `closes.metered` is 1 for
    // a close that kept it, 0 for every close before.
    "ALTER TABLE closes ADD COLUMN metered INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE events_due(
        period INTEGER NOT NULL, shop INTEGER NOT NULL, usage_period INTEGER NOT NULL,
        mountings INTEGER NOT NULL, trace_only INTEGER NOT NULL,
        PRIMARY KEY(period, shop, usage_period)) WITHOUT ROWID;",
    // v9: checkpoints spread over commits (issue 13): each usage row keeps the log rowids it
    // holds the events through, so a replay after a crash mid-checkpoint counts only what a
    // row lacks. A row written before holds the logs through the checkpoint, as 0 says too.
    "ALTER TABLE usage ADD COLUMN events_through INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE usage ADD COLUMN readings_through INTEGER NOT NULL DEFAULT 0;",
];

pub(super) fn migrate(conn: &Connection) -> Result<(), MeteringError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(MeteringError::Open {
            path: conn.path().unwrap_or_default().to_string(),
            message: format!(
                "schema version {version} is newer than this fleetsim ({SCHEMA_VERSION})"
            ),
        });
    }
    if version == 0 {
        refuse_foreign(conn)?;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql} PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

/// A database without a schema version is a new store only if it holds no tables: one that
/// does belongs to something else, and migrating it would mix our tables into it.
fn refuse_foreign(conn: &Connection) -> Result<(), MeteringError> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if tables.is_empty() {
        return Ok(());
    }
    Err(MeteringError::Open {
        path: conn.path().unwrap_or_default().to_string(),
        message: format!(
            "not a fleetsim metering store: it holds tables ({}) but no fleetsim schema version; \
             give a new file, or a store fleetsim created",
            tables.join(", ")
        ),
    })
}
