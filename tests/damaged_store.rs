//! Issue 10 item 5: `fleetsim serve --db` on a damaged, foreign or non-SQLite file exits 1 with
//! a message naming what is wrong (for a damaged store: the table and the row), within seconds,
//! never a panic (exit 101) or a hang.

#[path = "common/server.rs"]
mod server;

use fleetsim::event::{EventBody, Frame, MachineId, Material, ShopId, UsageEvent};
use fleetsim::metering::sqlite::SqliteEngine;
use fleetsim::metering::MeteringEngine;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `fleetsim serve --db DB` until it exits (at most 20 s): its exit code and stderr.
fn serve(db: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fleetsim serve");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status.code(), err);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!(
                "fleetsim serve --db {} did not exit: it served a bad store",
                db.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A store holding a few events past its last checkpoint (so opening it decodes them).
fn store_with_events(path: &Path) {
    let mut e = SqliteEngine::open(path).unwrap();
    e.provision(&[(MachineId(0), ShopId(0))]).unwrap();
    let events: Vec<UsageEvent> = (1..=5)
        .map(|seq| UsageEvent {
            machine: MachineId(0),
            seq,
            time: 1_704_186_000 + seq as i64,
            shop: ShopId(0),
            body: EventBody::Mounting {
                frame: Frame::Grooved,
                material: Material::Mineral,
                remake: false,
            },
        })
        .collect();
    e.ingest(&events).unwrap();
    e.commit().unwrap();
}

#[test]
fn a_damaged_store_exits_1_naming_the_table_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    store_with_events(&db);
    // Sound, it serves (the banner comes), and a kill leaves it as it was.
    drop(server::Server::start(&db, "t", &[]));
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("UPDATE events SET attrs = 15 WHERE rowid = 3")
        .unwrap();
    drop(conn);
    let (code, err) = serve(&db);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("m.sqlite")
            && err.contains("table `events`, row 3")
            && err.contains("attrs = 15"),
        "{err}"
    );
}

#[test]
fn a_foreign_database_or_a_text_file_exits_1_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("crm.sqlite");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)")
        .unwrap();
    let (code, err) = serve(&foreign);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not a fleetsim metering store"), "{err}");
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "minutes of the meeting: nothing decided, as usual.\n".repeat(40),
    )
    .unwrap();
    let (code, err) = serve(&text);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("notes.txt") && err.contains("not a database"),
        "{err}"
    );
}
