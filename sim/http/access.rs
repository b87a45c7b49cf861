//! Who may do what on the server: tenants (a shop, or a shop network), their API keys, and the
//! machines bound to each tenant.
//!
//! Kept in its own SQLite file beside the metering store: the engine knows machines and shops,
//! not callers. Keys are random 256-bit secrets shown once, when minted; only their SHA-256
//! is stored. Lookups during requests read in-memory maps mirrored from the file.

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

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS tenants(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE IF NOT EXISTS api_keys(sha256 TEXT PRIMARY KEY, tenant INTEGER NOT NULL REFERENCES tenants(id));
    CREATE TABLE IF NOT EXISTS tenant_machines(
        machine INTEGER PRIMARY KEY, tenant INTEGER NOT NULL REFERENCES tenants(id), shop INTEGER NOT NULL);";

pub struct AccessStore {
    conn: Connection,
    path: PathBuf,
    tenants: HashMap<String, TenantId>,
    keys: HashMap<String, TenantId>,
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
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; {SCHEMA}"
        ))
        .map_err(err)?;
        let mut store = AccessStore {
            conn,
            path: path.to_path_buf(),
            tenants: HashMap::new(),
            keys: HashMap::new(),
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
        let mut keys = self.conn.prepare("SELECT sha256, tenant FROM api_keys")?;
        self.keys = keys
            .query_map([], |r| Ok((r.get(0)?, TenantId(r.get(1)?))))?
            .collect::<Result<_, _>>()?;
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

    /// A new key for the tenant: returned once, stored only as its hash.
    pub fn mint_key(&mut self, tenant: TenantId) -> Result<String, AccessError> {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut secret)
            .map_err(|e| AccessError::Random(e.to_string()))?;
        let key = format!("fsk_{}", hex(&secret));
        self.conn
            .execute(
                "INSERT INTO api_keys(sha256, tenant) VALUES (?1, ?2)",
                params![digest(&key), tenant.0],
            )
            .map_err(|e| self.store_err(e))?;
        self.keys.insert(digest(&key), tenant);
        Ok(key)
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
        self.keys.get(&digest(key)).copied()
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
        let key = store.mint_key(shop).unwrap();
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
}
