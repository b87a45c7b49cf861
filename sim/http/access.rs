//! Who may do what on the server: tenants (a shop, or a shop network), their API keys, and the
//! machines bound to each tenant.
//!
//! Kept in its own SQLite file beside the metering store: the engine knows machines and shops,
//! not callers. Keys are random 256-bit secrets shown once, when minted; only their SHA-256
//! is stored, with a public id (`key_id`) by which the administrator lists and revokes them.
//! A revoked key stays in the file (when, by whom it was used is an audit question) and is
//! refused from the moment the revocation returns. Lookups during requests read in-memory maps
//! mirrored from the file (`AccessView`); only the access thread (`access_thread`) touches
//! the file.
//!
//! A binding is written before the engine is provisioned with it and marked provisioned after:
//! a machine the engine knows is always bound to a tenant, and a binding whose provisioning
//! failed or was cut short is completed when the server starts (`unprovisioned`).

use crate::event::{MachineId, ShopId};
use crate::metering::ErrorClass;
use rand::TryRngCore;
use rusqlite::{params, Connection, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A tenant, by its row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TenantId(pub i64);

/// An API key's public id (its row in `api_keys`): safe to show, log and pass in URLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub i64);

/// What the administrator may see of a key: never the key, nor its hash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyInfo {
    pub key_id: i64,
    /// Unix seconds; absent for keys minted before fleetsim recorded it.
    pub created_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// How a presented key fares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    Valid(TenantId, KeyId),
    Revoked,
    Unknown,
}

/// Who is calling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The administrator token: provisioning, and every tenant's data.
    Admin,
    Tenant(TenantId),
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("access store {path}: {source}")]
    Store {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error("the access store's thread has stopped")]
    Stopped,
}

impl AccessError {
    /// Who can make the call succeed (`MeteringError::class`'s rule, for this store).
    pub fn class(&self) -> ErrorClass {
        match self {
            AccessError::Store { source, .. } => ErrorClass::of_sqlite(source),
            AccessError::Random(_) | AccessError::Stopped => ErrorClass::Internal,
        }
    }
}

/// Versioned like the metering store (`PRAGMA user_version`): entry i brings version i to
/// i + 1. Version 0's tables were created with `IF NOT EXISTS` before versions were counted,
/// so the first entry is safe on a new file and on one from then.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tenants(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
     CREATE TABLE IF NOT EXISTS api_keys(sha256 TEXT PRIMARY KEY, tenant INTEGER NOT NULL REFERENCES tenants(id));
     CREATE TABLE IF NOT EXISTS tenant_machines(
        machine INTEGER PRIMARY KEY, tenant INTEGER NOT NULL REFERENCES tenants(id), shop INTEGER NOT NULL);
     ALTER TABLE api_keys ADD COLUMN created_at INTEGER;
     ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;",
    // Whether the engine is known to have the binding's machine and shop (0 from binding to
    // provisioning; bindings from before were provisioned first).
    "ALTER TABLE tenant_machines ADD COLUMN provisioned INTEGER NOT NULL DEFAULT 1;",
    // v3: the server's clock, when an administrator pinned it (no row: the wall clock).
    "CREATE TABLE clock(id INTEGER PRIMARY KEY CHECK(id = 0), pinned_at INTEGER NOT NULL);",
];

/// What requests read on every call: tenants, valid and revoked keys (by SHA-256), and the
/// machines bound to each tenant, mirrored from the file after each commit. Never touches
/// SQLite, so a request's authentication never waits on a disk.
#[derive(Default)]
pub struct AccessView {
    tenants: HashMap<String, TenantId>,
    /// SHA-256 of each valid key → its tenant and id.
    keys: HashMap<String, (TenantId, KeyId)>,
    /// SHA-256 of each revoked key, to say why it is refused.
    revoked: HashSet<String>,
    /// Machine → (tenant, shop).
    machines: HashMap<u32, (TenantId, ShopId)>,
}

impl AccessView {
    /// The tenant whose key this is.
    pub fn authenticate(&self, key: &str) -> Option<TenantId> {
        match self.check_key(key) {
            KeyCheck::Valid(tenant, _) => Some(tenant),
            _ => None,
        }
    }

    /// Whether a presented key is valid (and whose, which one), revoked or unknown.
    pub fn check_key(&self, key: &str) -> KeyCheck {
        let digest = digest(key);
        match self.keys.get(&digest) {
            Some(&(tenant, id)) => KeyCheck::Valid(tenant, id),
            None if self.revoked.contains(&digest) => KeyCheck::Revoked,
            None => KeyCheck::Unknown,
        }
    }

    pub fn tenant_of(&self, machine: MachineId) -> Option<TenantId> {
        self.machines.get(&machine.0).map(|(t, _)| *t)
    }

    /// Shops of the machines bound to the tenant.
    pub fn shops_of(&self, tenant: TenantId) -> BTreeSet<ShopId> {
        self.machines
            .values()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, s)| *s)
            .collect()
    }
}

/// The access file and its mirror. Every write is one SQLite transaction, committed with
/// `synchronous=FULL` (a minted key, a revocation, a binding survive a power cut), and only
/// then applied to the view. Owned by one thread (`access_thread`): requests read the view.
pub struct AccessStore {
    conn: Connection,
    path: PathBuf,
    view: Arc<RwLock<AccessView>>,
}

/// Machines to bind, by the name of their tenant.
pub type TenantBindings = Vec<(String, Vec<(MachineId, ShopId)>)>;

impl AccessStore {
    /// The access file that goes with a metering store: `store.sqlite` → `store.access.sqlite`.
    pub fn path_for(db: &Path) -> PathBuf {
        db.with_extension("access.sqlite")
    }

    pub fn open(path: &Path) -> Result<AccessStore, AccessError> {
        let err = |source| AccessError::Store {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(err)?;
        migrate(&conn).map_err(err)?;
        let view = load(&conn).map_err(err)?;
        Ok(AccessStore {
            conn,
            path: path.to_path_buf(),
            view: Arc::new(RwLock::new(view)),
        })
    }

    /// The view requests read; it follows every commit of this store.
    pub fn view(&self) -> Arc<RwLock<AccessView>> {
        self.view.clone()
    }

    pub fn read(&self) -> RwLockReadGuard<'_, AccessView> {
        self.view.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_view(&self) -> RwLockWriteGuard<'_, AccessView> {
        self.view.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one transaction (taking the write lock at once), committed before it returns.
    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&Transaction) -> rusqlite::Result<T>,
    ) -> Result<T, AccessError> {
        let run = |conn: &mut Connection| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let done = f(&tx)?;
            tx.commit()?;
            Ok(done)
        };
        run(&mut self.conn).map_err(|source| AccessError::Store {
            path: self.path.clone(),
            source,
        })
    }

    /// A new key for the tenant (created if new), in one transaction: returned once, with its
    /// public id, and stored only as its hash.
    pub fn mint_key(&mut self, tenant: &str) -> Result<(TenantId, KeyId, String), AccessError> {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut secret)
            .map_err(|e| AccessError::Random(e.to_string()))?;
        let key = format!("fsk_{}", hex(&secret));
        let hashed = digest(&key);
        let known = self.read().tenants.get(tenant).copied();
        let (tenant_id, key_id) = self.transaction(|tx| {
            let t = known.map_or_else(|| insert_tenant(tx, tenant), Ok)?;
            tx.execute(
                "INSERT INTO api_keys(sha256, tenant, created_at) VALUES (?1, ?2, ?3)",
                params![hashed, t.0, unix_now()],
            )?;
            Ok((t, KeyId(tx.last_insert_rowid())))
        })?;
        let mut view = self.write_view();
        view.tenants.insert(tenant.to_string(), tenant_id);
        view.keys.insert(hashed, (tenant_id, key_id));
        Ok((tenant_id, key_id, key))
    }

    /// The tenant's keys, oldest first; `None` if there is no such tenant.
    pub fn keys_of(&self, tenant: &str) -> Result<Option<Vec<KeyInfo>>, AccessError> {
        let Some(id) = self.read().tenants.get(tenant).copied() else {
            return Ok(None);
        };
        let list = || -> rusqlite::Result<Vec<KeyInfo>> {
            let mut stmt = self.conn.prepare(
                "SELECT rowid, created_at, revoked_at FROM api_keys WHERE tenant = ?1 ORDER BY rowid",
            )?;
            let rows = stmt.query_map(params![id.0], |r| {
                Ok(KeyInfo {
                    key_id: r.get(0)?,
                    created_at: r.get(1)?,
                    revoked_at: r.get(2)?,
                })
            })?;
            rows.collect()
        };
        list().map(Some).map_err(|source| AccessError::Store {
            path: self.path.clone(),
            source,
        })
    }

    /// Revokes a key for good; `false` if there is no such key. Revoking twice is harmless
    /// (the first time is kept).
    pub fn revoke(&mut self, id: KeyId) -> Result<bool, AccessError> {
        let changed = self.transaction(|tx| {
            tx.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE rowid = ?1",
                params![id.0, unix_now()],
            )
        })?;
        if changed == 0 {
            return Ok(false);
        }
        let mut view = self.write_view();
        if let Some(digest) = view
            .keys
            .iter()
            .find(|(_, (_, k))| *k == id)
            .map(|(d, _)| d.clone())
        {
            view.keys.remove(&digest);
            view.revoked.insert(digest);
        }
        Ok(true)
    }

    /// Binds machines (each with its shop) to their tenants (created if new), all in one
    /// transaction; rebinding moves them. Each binding is recorded as not provisioned yet:
    /// the server provisions the engine after this commits, then `mark_provisioned`.
    pub fn bind(&mut self, bindings: &TenantBindings) -> Result<(), AccessError> {
        let known: Vec<Option<TenantId>> = {
            let view = self.read();
            bindings
                .iter()
                .map(|(t, _)| view.tenants.get(t).copied())
                .collect()
        };
        let ids = self.transaction(|tx| {
            let mut stmt = tx.prepare(
                "INSERT INTO tenant_machines(machine, tenant, shop, provisioned) VALUES (?1, ?2, ?3, 0)
                 ON CONFLICT(machine) DO UPDATE
                 SET tenant = excluded.tenant, shop = excluded.shop, provisioned = 0",
            )?;
            let mut ids = Vec::with_capacity(bindings.len());
            for ((name, machines), known) in bindings.iter().zip(&known) {
                let t = known.map_or_else(|| insert_tenant(tx, name), Ok)?;
                for (m, shop) in machines {
                    stmt.execute(params![m.0, t.0, shop.0])?;
                }
                ids.push(t);
            }
            Ok(ids)
        })?;
        let mut view = self.write_view();
        for ((name, machines), t) in bindings.iter().zip(ids) {
            view.tenants.insert(name.clone(), t);
            for (m, shop) in machines {
                view.machines.insert(m.0, (t, *shop));
            }
        }
        Ok(())
    }

    /// The instant the administrator pinned the server's clock at; `None`: the wall clock.
    pub fn pinned_clock(&self) -> Result<Option<i64>, AccessError> {
        self.conn
            .query_row("SELECT MAX(pinned_at) FROM clock", [], |r| r.get(0))
            .map_err(|source| AccessError::Store {
                path: self.path.clone(),
                source,
            })
    }

    /// Pins the server's clock (`Some`) or returns it to the wall clock (`None`), durably.
    pub fn set_pinned_clock(&mut self, at: Option<i64>) -> Result<(), AccessError> {
        self.transaction(|tx| match at {
            Some(t) => tx
                .execute(
                    "INSERT INTO clock(id, pinned_at) VALUES (0, ?1)
                     ON CONFLICT(id) DO UPDATE SET pinned_at = excluded.pinned_at",
                    params![t],
                )
                .map(drop),
            None => tx.execute("DELETE FROM clock", []).map(drop),
        })
    }

    /// Bound machines the engine may not know yet: bound, and their provisioning not
    /// confirmed (it failed, or the server stopped in between). In machine order.
    pub fn unprovisioned(&self) -> Result<Vec<(MachineId, ShopId)>, AccessError> {
        let list = || -> rusqlite::Result<Vec<(MachineId, ShopId)>> {
            let mut stmt = self.conn.prepare(
                "SELECT machine, shop FROM tenant_machines WHERE provisioned = 0 ORDER BY machine",
            )?;
            let rows = stmt.query_map([], |r| Ok((MachineId(r.get(0)?), ShopId(r.get(1)?))))?;
            rows.collect()
        };
        list().map_err(|source| AccessError::Store {
            path: self.path.clone(),
            source,
        })
    }

    /// Records that the engine knows these machines with these shops.
    pub fn mark_provisioned(
        &mut self,
        machines: &[(MachineId, ShopId)],
    ) -> Result<(), AccessError> {
        self.transaction(|tx| {
            let mut stmt = tx.prepare(
                "UPDATE tenant_machines SET provisioned = 1 WHERE machine = ?1 AND shop = ?2",
            )?;
            for (m, shop) in machines {
                stmt.execute(params![m.0, shop.0])?;
            }
            Ok(())
        })
    }
}

fn insert_tenant(tx: &Transaction, name: &str) -> rusqlite::Result<TenantId> {
    tx.execute("INSERT INTO tenants(name) VALUES (?1)", params![name])?;
    Ok(TenantId(tx.last_insert_rowid()))
}

/// The view of what the file holds.
fn load(conn: &Connection) -> rusqlite::Result<AccessView> {
    let mut view = AccessView::default();
    let mut tenants = conn.prepare("SELECT name, id FROM tenants")?;
    view.tenants = tenants
        .query_map([], |r| Ok((r.get(0)?, TenantId(r.get(1)?))))?
        .collect::<Result<_, _>>()?;
    let mut keys =
        conn.prepare("SELECT sha256, tenant, rowid, revoked_at IS NOT NULL FROM api_keys")?;
    let rows = keys.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            TenantId(r.get(1)?),
            KeyId(r.get(2)?),
            r.get::<_, bool>(3)?,
        ))
    })?;
    for row in rows {
        let (digest, tenant, id, revoked) = row?;
        if revoked {
            view.revoked.insert(digest);
        } else {
            view.keys.insert(digest, (tenant, id));
        }
    }
    let mut machines = conn.prepare("SELECT machine, tenant, shop FROM tenant_machines")?;
    view.machines = machines
        .query_map([], |r| {
            Ok((r.get(0)?, (TenantId(r.get(1)?), ShopId(r.get(2)?))))
        })?
        .collect::<Result<_, _>>()?;
    Ok(view)
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {sql} PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn digest(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Lower-case hex, without a `format!` per byte: this runs on every authenticated request.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bindings(tenant: &str, machines: &[(u32, u32)]) -> TenantBindings {
        let machines = machines
            .iter()
            .map(|&(m, s)| (MachineId(m), ShopId(s)))
            .collect();
        vec![(tenant.to_string(), machines)]
    }

    #[test]
    fn keys_are_stored_hashed_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let mut store = AccessStore::open(&path).unwrap();
        let (shop, _, key) = store.mint_key("S000001").unwrap();
        let (again, _, _) = store.mint_key("S000001").unwrap();
        assert_eq!(again, shop, "one tenant per name");
        store.bind(&bindings("S000001", &[(4, 1)])).unwrap();
        drop(store);
        let store = AccessStore::open(&path).unwrap();
        let view = store.read();
        assert_eq!(view.authenticate(&key), Some(shop));
        assert_eq!(view.authenticate("fsk_guess"), None);
        assert_eq!(view.tenant_of(MachineId(4)), Some(shop));
        assert!(view.shops_of(shop).contains(&ShopId(1)));
        assert_eq!(hex(&[0x00, 0x9f, 0xa5, 0xff]), "009fa5ff");
        let raw = std::fs::read(&path).unwrap();
        assert!(
            !raw.windows(key.len()).any(|w| w == key.as_bytes()),
            "the key itself is never written"
        );
    }

    #[test]
    fn a_revoked_key_is_refused_and_stays_revoked_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let mut store = AccessStore::open(&path).unwrap();
        let (tenant, old_id, old) = store.mint_key("N1").unwrap();
        let (_, new_id, new) = store.mint_key("N1").unwrap();
        assert_eq!(
            store.read().check_key(&old),
            KeyCheck::Valid(tenant, old_id)
        );
        assert!(store.revoke(old_id).unwrap());
        assert!(store.revoke(old_id).unwrap(), "revoking again is harmless");
        assert!(!store.revoke(KeyId(999)).unwrap(), "no such key");
        assert_eq!(store.read().check_key(&old), KeyCheck::Revoked);
        assert_eq!(
            store.read().check_key(&new),
            KeyCheck::Valid(tenant, new_id)
        );
        assert_eq!(store.read().check_key("fsk_guess"), KeyCheck::Unknown);
        drop(store);
        let store = AccessStore::open(&path).unwrap();
        assert_eq!(store.read().check_key(&old), KeyCheck::Revoked);
        assert_eq!(
            store.read().check_key(&new),
            KeyCheck::Valid(tenant, new_id)
        );
        let keys = store.keys_of("N1").unwrap().unwrap();
        assert_eq!(
            keys.iter()
                .map(|k| (k.key_id, k.revoked_at.is_some()))
                .collect::<Vec<_>>(),
            vec![(old_id.0, true), (new_id.0, false)]
        );
        assert_eq!(store.keys_of("N2").unwrap(), None, "no such tenant");
    }

    /// A binding waits to be provisioned from when it is written until it is marked, also
    /// across a restart; binding again (another shop) makes it wait again.
    #[test]
    fn a_binding_waits_for_its_provisioning_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let mut store = AccessStore::open(&path).unwrap();
        store.bind(&bindings("N1", &[(2, 20), (1, 10)])).unwrap();
        let pending = vec![(MachineId(1), ShopId(10)), (MachineId(2), ShopId(20))];
        assert_eq!(store.unprovisioned().unwrap(), pending);
        drop(store);
        let mut store = AccessStore::open(&path).unwrap();
        assert_eq!(store.unprovisioned().unwrap(), pending, "after a restart");
        store.mark_provisioned(&pending[..1]).unwrap();
        assert_eq!(store.unprovisioned().unwrap(), pending[1..]);
        store.bind(&bindings("N2", &[(1, 11)])).unwrap();
        assert_eq!(
            store.unprovisioned().unwrap(),
            vec![(MachineId(1), ShopId(11)), (MachineId(2), ShopId(20))]
        );
        let n2 = store.read().tenants["N2"];
        assert_eq!(store.read().tenant_of(MachineId(1)), Some(n2), "moved");
    }

    /// A write that cannot commit leaves the view as it was: no key that is not in the file.
    #[test]
    fn a_failed_write_changes_nothing_that_requests_see() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let mut store = AccessStore::open(&path).unwrap();
        store.conn.busy_timeout(std::time::Duration::ZERO).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let refused = store.mint_key("N1").unwrap_err();
        assert_eq!(refused.class(), ErrorClass::Transient, "{refused}");
        assert!(store.bind(&bindings("N1", &[(1, 1)])).is_err());
        assert!(store.read().tenants.is_empty() && store.read().machines.is_empty());
        holder.execute_batch("ROLLBACK").unwrap();
        let (tenant, id, key) = store.mint_key("N1").unwrap();
        assert_eq!(store.read().check_key(&key), KeyCheck::Valid(tenant, id));
    }

    #[test]
    fn a_pinned_clock_survives_a_restart_until_unpinned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let mut store = AccessStore::open(&path).unwrap();
        assert_eq!(
            store.pinned_clock().unwrap(),
            None,
            "the wall clock by default"
        );
        store.set_pinned_clock(Some(1_798_675_200)).unwrap();
        store.set_pinned_clock(Some(1_704_067_200)).unwrap();
        drop(store);
        let mut store = AccessStore::open(&path).unwrap();
        assert_eq!(store.pinned_clock().unwrap(), Some(1_704_067_200));
        store.set_pinned_clock(None).unwrap();
        drop(store);
        assert_eq!(
            AccessStore::open(&path).unwrap().pinned_clock().unwrap(),
            None
        );
    }

    #[test]
    fn a_store_from_before_versions_keeps_its_keys_and_bindings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE tenants(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
             CREATE TABLE api_keys(sha256 TEXT PRIMARY KEY, tenant INTEGER NOT NULL);
             CREATE TABLE tenant_machines(machine INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, shop INTEGER NOT NULL);
             INSERT INTO tenants VALUES (1, 'N1');
             INSERT INTO tenant_machines VALUES (7, 1, 3);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO api_keys VALUES (?1, 1)",
            params![digest("fsk_old")],
        )
        .unwrap();
        drop(conn);
        let store = AccessStore::open(&path).unwrap();
        assert_eq!(
            store.read().check_key("fsk_old"),
            KeyCheck::Valid(TenantId(1), KeyId(1))
        );
        assert_eq!(store.keys_of("N1").unwrap().unwrap()[0].created_at, None);
        assert_eq!(store.read().tenant_of(MachineId(7)), Some(TenantId(1)));
        assert_eq!(
            store.unprovisioned().unwrap(),
            vec![],
            "bound before provisioning was recorded: provisioned first"
        );
    }
}
