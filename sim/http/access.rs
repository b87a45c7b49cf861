//! Who may do what on the server: tenants (a shop, or a shop network), their API keys, and the
//! machines bound to each tenant.
//!
//! Kept in its own SQLite file beside the metering store: the engine knows machines and shops,
//! not callers. Keys are random 256-bit secrets shown once, when minted; only their SHA-256
//! is stored, with a public id (`key_id`) by which the administrator lists and revokes them.
//! A revoked key stays in the file (when, by whom it was used is an audit question) and is
//! refused from the moment the revocation returns. Lookups during requests read in-memory maps
//! mirrored from the file.

use crate::event::{MachineId, ShopId};
use rand::TryRngCore;
use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    #[error("no tenant named {0:?}")]
    UnknownTenant(String),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
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
    // v2: the server's clock, when an administrator pinned it (no row: the wall clock).
    "CREATE TABLE clock(id INTEGER PRIMARY KEY CHECK(id = 0), pinned_at INTEGER NOT NULL);",
];

pub struct AccessStore {
    conn: Connection,
    path: PathBuf,
    tenants: HashMap<String, TenantId>,
    /// SHA-256 of each valid key → its tenant and id.
    keys: HashMap<String, (TenantId, KeyId)>,
    /// SHA-256 of each revoked key, to say why it is refused.
    revoked: std::collections::HashSet<String>,
    /// Machine → (tenant, shop).
    machines: HashMap<u32, (TenantId, ShopId)>,
}

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
        let mut store = AccessStore {
            conn,
            path: path.to_path_buf(),
            tenants: HashMap::new(),
            keys: HashMap::new(),
            revoked: Default::default(),
            machines: HashMap::new(),
        };
        store.load().map_err(err)?;
        Ok(store)
    }

    fn load(&mut self) -> rusqlite::Result<()> {
        let mut tenants = self.conn.prepare("SELECT name, id FROM tenants")?;
        self.tenants = tenants
            .query_map([], |r| Ok((r.get(0)?, TenantId(r.get(1)?))))?
            .collect::<Result<_, _>>()?;
        let mut keys = self
            .conn
            .prepare("SELECT sha256, tenant, rowid, revoked_at IS NOT NULL FROM api_keys")?;
        let rows = keys.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                TenantId(r.get(1)?),
                KeyId(r.get(2)?),
                r.get::<_, bool>(3)?,
            ))
        })?;
        self.keys.clear();
        self.revoked.clear();
        for row in rows {
            let (digest, tenant, id, revoked) = row?;
            if revoked {
                self.revoked.insert(digest);
            } else {
                self.keys.insert(digest, (tenant, id));
            }
        }
        let mut machines = self
            .conn
            .prepare("SELECT machine, tenant, shop FROM tenant_machines")?;
        self.machines = machines
            .query_map([], |r| {
                Ok((r.get(0)?, (TenantId(r.get(1)?), ShopId(r.get(2)?))))
            })?
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    fn store_err(&self, source: rusqlite::Error) -> AccessError {
        AccessError::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Creates the tenant if it does not exist; returns its id either way.
    pub fn ensure_tenant(&mut self, name: &str) -> Result<TenantId, AccessError> {
        if let Some(id) = self.tenants.get(name) {
            return Ok(*id);
        }
        self.conn
            .execute("INSERT INTO tenants(name) VALUES (?1)", params![name])
            .map_err(|e| self.store_err(e))?;
        let id = TenantId(self.conn.last_insert_rowid());
        self.tenants.insert(name.to_string(), id);
        Ok(id)
    }

    pub fn tenant(&self, name: &str) -> Result<TenantId, AccessError> {
        self.tenants
            .get(name)
            .copied()
            .ok_or_else(|| AccessError::UnknownTenant(name.to_string()))
    }

    /// A new key for the tenant: returned once (with its public id), stored only as its hash.
    pub fn mint_key(&mut self, tenant: TenantId) -> Result<(KeyId, String), AccessError> {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut secret)
            .map_err(|e| AccessError::Random(e.to_string()))?;
        let key = format!("fsk_{}", hex(&secret));
        self.conn
            .execute(
                "INSERT INTO api_keys(sha256, tenant, created_at) VALUES (?1, ?2, ?3)",
                params![digest(&key), tenant.0, unix_now()],
            )
            .map_err(|e| self.store_err(e))?;
        let id = KeyId(self.conn.last_insert_rowid());
        self.keys.insert(digest(&key), (tenant, id));
        Ok((id, key))
    }

    /// The tenant's keys, oldest first.
    pub fn keys_of(&self, tenant: TenantId) -> Result<Vec<KeyInfo>, AccessError> {
        let list = || -> rusqlite::Result<Vec<KeyInfo>> {
            let mut stmt = self.conn.prepare(
                "SELECT rowid, created_at, revoked_at FROM api_keys WHERE tenant = ?1 ORDER BY rowid",
            )?;
            let rows = stmt.query_map(params![tenant.0], |r| {
                Ok(KeyInfo {
                    key_id: r.get(0)?,
                    created_at: r.get(1)?,
                    revoked_at: r.get(2)?,
                })
            })?;
            rows.collect()
        };
        list().map_err(|e| self.store_err(e))
    }

    /// Revokes a key for good; `false` if there is no such key. Revoking twice is harmless
    /// (the first time is kept).
    pub fn revoke(&mut self, id: KeyId) -> Result<bool, AccessError> {
        let changed = self
            .conn
            .execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE rowid = ?1",
                params![id.0, unix_now()],
            )
            .map_err(|e| self.store_err(e))?;
        if changed == 0 {
            return Ok(false);
        }
        if let Some(digest) = self
            .keys
            .iter()
            .find(|(_, (_, k))| *k == id)
            .map(|(d, _)| d.clone())
        {
            self.keys.remove(&digest);
            self.revoked.insert(digest);
        }
        Ok(true)
    }

    /// Binds machines (each with its shop) to a tenant; rebinding moves them.
    pub fn bind(
        &mut self,
        machines: &[(MachineId, ShopId)],
        tenant: TenantId,
    ) -> Result<(), AccessError> {
        let tx = self.conn.transaction().map_err(|e| AccessError::Store {
            path: self.path.clone(),
            source: e,
        })?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO tenant_machines(machine, tenant, shop) VALUES (?1, ?2, ?3)
                     ON CONFLICT(machine) DO UPDATE SET tenant = excluded.tenant, shop = excluded.shop",
                )
                .map_err(|e| AccessError::Store { path: self.path.clone(), source: e })?;
            for (m, shop) in machines {
                stmt.execute(params![m.0, tenant.0, shop.0])
                    .map_err(|e| AccessError::Store {
                        path: self.path.clone(),
                        source: e,
                    })?;
            }
        }
        tx.commit().map_err(|e| AccessError::Store {
            path: self.path.clone(),
            source: e,
        })?;
        for (m, shop) in machines {
            self.machines.insert(m.0, (tenant, *shop));
        }
        Ok(())
    }

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

    /// The instant the server's clock is pinned to (Unix seconds); `None`: the wall clock.
    pub fn pinned_clock(&self) -> Result<Option<i64>, AccessError> {
        self.conn
            .query_row("SELECT MAX(pinned_at) FROM clock", [], |r| r.get(0))
            .map_err(|e| self.store_err(e))
    }

    /// Pins the server's clock (`Some`) or returns it to the wall clock (`None`), durably.
    pub fn set_pinned_clock(&mut self, at: Option<i64>) -> Result<(), AccessError> {
        let done = match at {
            Some(t) => self.conn.execute(
                "INSERT INTO clock(id, pinned_at) VALUES (0, ?1)
                 ON CONFLICT(id) DO UPDATE SET pinned_at = excluded.pinned_at",
                params![t],
            ),
            None => self.conn.execute("DELETE FROM clock", []),
        };
        done.map(drop).map_err(|e| self.store_err(e))
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

    #[test]
    fn keys_are_stored_hashed_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let mut store = AccessStore::open(&path).unwrap();
        let shop = store.ensure_tenant("S000001").unwrap();
        assert_eq!(store.ensure_tenant("S000001").unwrap(), shop, "idempotent");
        let (_, key) = store.mint_key(shop).unwrap();
        store.bind(&[(MachineId(4), ShopId(1))], shop).unwrap();
        drop(store);
        let store = AccessStore::open(&path).unwrap();
        assert_eq!(store.authenticate(&key), Some(shop));
        assert_eq!(store.authenticate("fsk_guess"), None);
        assert_eq!(store.tenant_of(MachineId(4)), Some(shop));
        assert!(store.shops_of(shop).contains(&ShopId(1)));
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
        let tenant = store.ensure_tenant("N1").unwrap();
        let (old_id, old) = store.mint_key(tenant).unwrap();
        let (new_id, new) = store.mint_key(tenant).unwrap();
        assert_eq!(store.check_key(&old), KeyCheck::Valid(tenant, old_id));
        assert!(store.revoke(old_id).unwrap());
        assert!(store.revoke(old_id).unwrap(), "revoking again is harmless");
        assert!(!store.revoke(KeyId(999)).unwrap(), "no such key");
        assert_eq!(store.check_key(&old), KeyCheck::Revoked);
        assert_eq!(store.check_key(&new), KeyCheck::Valid(tenant, new_id));
        assert_eq!(store.check_key("fsk_guess"), KeyCheck::Unknown);
        drop(store);
        let store = AccessStore::open(&path).unwrap();
        assert_eq!(store.check_key(&old), KeyCheck::Revoked);
        assert_eq!(store.check_key(&new), KeyCheck::Valid(tenant, new_id));
        let keys = store.keys_of(tenant).unwrap();
        assert_eq!(
            keys.iter()
                .map(|k| (k.key_id, k.revoked_at.is_some()))
                .collect::<Vec<_>>(),
            vec![(old_id.0, true), (new_id.0, false)]
        );
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
    fn a_store_from_before_versions_keeps_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE tenants(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
             CREATE TABLE api_keys(sha256 TEXT PRIMARY KEY, tenant INTEGER NOT NULL);
             CREATE TABLE tenant_machines(machine INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, shop INTEGER NOT NULL);
             INSERT INTO tenants VALUES (1, 'N1');",
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
            store.check_key("fsk_old"),
            KeyCheck::Valid(TenantId(1), KeyId(1))
        );
        assert_eq!(store.keys_of(TenantId(1)).unwrap()[0].created_at, None);
    }
}
