//! Talking to the target outside the timed run: health, provisioning the generator's
//! machines, minting a tenant key, and reading usage back for the verification.

use super::events::{EventPlan, Tally};
use super::LoadError;
use crate::event::ShopId;
use std::time::Duration;

/// Bindings per provisioning request: well under the server's default body limit (8 MiB).
const BINDINGS_PER_REQUEST: usize = 10_000;
const CONTROL_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Control {
    agent: ureq::Agent,
    url: String,
    /// Static headers (`--header`), on every request.
    headers: Vec<(String, String)>,
}

#[derive(serde::Serialize)]
struct MachinesBody<'a> {
    machines: Vec<Binding<'a>>,
}

#[derive(serde::Serialize)]
struct Binding<'a> {
    machine: String,
    shop: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
}

#[derive(serde::Deserialize)]
struct KeyBody {
    key: String,
}

#[derive(serde::Deserialize)]
struct UsageBody {
    shops: Vec<UsageRow>,
}

#[derive(serde::Deserialize)]
struct UsageRow {
    shop: String,
    billable_mountings: u64,
    trace_only: u64,
}

/// Whether `headers` already carry credentials.
pub fn has_authorization(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
}

/// The static headers plus `Authorization: Bearer token`, which replaces a static one.
pub fn with_bearer(headers: &[(String, String)], token: Option<&str>) -> Vec<(String, String)> {
    let Some(token) = token else {
        return headers.to_vec();
    };
    headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("authorization"))
        .cloned()
        .chain([("Authorization".to_string(), format!("Bearer {token}"))])
        .collect()
}

impl Control {
    pub fn new(url: &str, headers: &[(String, String)]) -> Control {
        Control {
            agent: crate::http::client::blocking_agent(CONTROL_TIMEOUT, 1),
            url: url.to_string(),
            headers: headers.to_vec(),
        }
    }

    fn remote(&self, what: &str, message: impl std::fmt::Display) -> LoadError {
        LoadError::Remote {
            url: self.url.clone(),
            what: what.to_string(),
            message: message.to_string(),
        }
    }

    /// Sends a request; `Ok` with the body on 2xx.
    fn call(
        &self,
        what: &str,
        request: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, LoadError> {
        let mut response = request.map_err(|e| self.remote(what, e))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(self.remote(what, format!("HTTP {status}: {body}")))
    }

    /// Checks that the target answers at all: any HTTP status will do (a foreign endpoint
    /// may have no /healthz); only a failure to connect stops the run before it starts.
    pub fn reachable(&self) -> Result<(), LoadError> {
        self.agent
            .get(format!("{}/healthz", self.url))
            .call()
            .map(|mut r| drop(r.body_mut().read_to_string()))
            .map_err(|e| self.remote("GET /healthz", e))
    }

    fn post_json(&self, path: &str, body: &[u8], token: &str) -> Result<String, LoadError> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json");
        for (name, value) in with_bearer(&self.headers, Some(token)) {
            request = request.header(name, value);
        }
        self.call(&format!("POST {path}"), request.send(body))
    }

    /// Binds the plan's machines to their shops, under `tenant` if given (else each shop is
    /// its own tenant). Provisioning is idempotent, so a re-run may repeat it.
    pub fn provision(
        &self,
        plan: &EventPlan,
        tenant: Option<&str>,
        admin_token: &str,
    ) -> Result<(), LoadError> {
        let bindings: Vec<Binding> = plan
            .bindings()
            .map(|(machine, shop)| Binding {
                machine: machine.to_string(),
                shop: shop.to_string(),
                tenant,
            })
            .collect();
        let mut chunks = bindings.into_iter().peekable();
        while chunks.peek().is_some() {
            let machines: Vec<Binding> = chunks.by_ref().take(BINDINGS_PER_REQUEST).collect();
            let body = serde_json::to_vec(&MachinesBody { machines })
                .map_err(|e| self.remote("provisioning", e))?;
            self.post_json("/v1/admin/machines", &body, admin_token)?;
        }
        Ok(())
    }

    pub fn mint_key(&self, tenant: &str, admin_token: &str) -> Result<String, LoadError> {
        let path = format!("/v1/admin/tenants/{tenant}/keys");
        let text = self.post_json(&path, b"{}", admin_token)?;
        serde_json::from_str::<KeyBody>(&text)
            .map(|k| k.key)
            .map_err(|e| self.remote("minting a key", format!("unexpected answer {text:?}: {e}")))
    }

    /// The plan's shops' usage in its period, as the server reports it, read with `token`
    /// (or the static headers' credentials).
    pub fn usage(&self, plan: &EventPlan, token: Option<&str>) -> Result<Tally, LoadError> {
        let mut request = self
            .agent
            .get(format!("{}/v1/usage", self.url))
            .query("period", plan.period.to_string());
        for (name, value) in with_bearer(&self.headers, token) {
            request = request.header(name, value);
        }
        let text = self.call("GET /v1/usage", request.call())?;
        let body: UsageBody = serde_json::from_str(&text)
            .map_err(|e| self.remote("GET /v1/usage", format!("unexpected answer: {e}")))?;
        let mut tally = Tally::default();
        for row in body.shops {
            if ShopId::parse(&row.shop).is_some_and(|s| s.0 < plan.machines) {
                tally.add(Tally {
                    billable_mountings: row.billable_mountings,
                    trace_only: row.trace_only,
                });
            }
        }
        Ok(tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_bearer_token_replaces_static_credentials() {
        let statics = headers(&[("authorization", "Bearer old"), ("X-Trace", "1")]);
        assert!(has_authorization(&statics));
        assert_eq!(
            with_bearer(&statics, Some("new")),
            headers(&[("X-Trace", "1"), ("Authorization", "Bearer new")])
        );
        assert_eq!(with_bearer(&statics, None), statics);
    }
}
