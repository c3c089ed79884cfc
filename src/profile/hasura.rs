//! The server's own calls to Hasura's GraphQL API: the profile write-back of the Unified
//! Customer Profile ([`crate::profile`]).
//!
//! Guarantees:
//! - every call carries `x-hasura-admin-secret` (marked sensitive: never in `Debug` output or
//!   logs) **and** `x-hasura-role`, so Hasura applies that role's permissions, not admin's:
//!   [`SYNC_ROLE`] may only set `stripe_customer_id` and `temporary_subscription_plan` on a
//!   profile whose `stripe_customer_id` is still null, and [`LIFECYCLE_ROLE`] only the three
//!   lifecycle dates and their ordering column, on linked profiles, and [`PHONE_ROLE`] only
//!   `phone_e164`. The server holds the admin secret, but nothing it sends can write another
//!   column;
//! - the documents are fixed strings (no document is built from input), here or, for the
//!   phone role, in `hasura/server_documents/` beside the suite that runs them; values travel
//!   as variables;
//! - each call is bounded by the timeout and runs on the Stripe I/O runtime (so a worker's
//!   shutdown cannot cut a connection another request is using);
//! - a GraphQL `errors` answer is an error ([`HasuraError::Refused`]) carrying Hasura's code,
//!   never a silent success.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use url::Url;

use super::phone::Region;
use crate::secret::SecretString;

/// The role the profile link is written as.
pub const SYNC_ROLE: &str = "stripe_sync";
/// The role the lifecycle dates are written as.
pub const LIFECYCLE_ROLE: &str = "stripe_lifecycle";
/// The role a profile's `phone_e164` is written as.
pub const PHONE_ROLE: &str = "stripe_phone";

/// The documents of the phone role, one file with three named operations, shared with the
/// Hasura suite, which runs each on PostgreSQL as that role (`hasura/server_documents/`). Sent
/// whole, with the operation's name.
pub const PHONE_DOCUMENTS: &str = include_str!("../../hasura/server_documents/phone_e164.graphql");

/// The profile write-back's settings: where Hasura is and how to call it
/// (`HASURA_GRAPHQL_URL`, `HASURA_ADMIN_SECRET`), and how phones are read
/// (`PHONE_DEFAULT_REGION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HasuraSettings {
    /// The GraphQL endpoint, e.g. `http://hasura:8080/v1/graphql`.
    pub url: Url,
    /// Hasura's admin secret (sent with a role, see the module docs).
    pub admin_secret: SecretString,
    /// Bound on each call.
    pub timeout: Duration,
    /// The region of a national phone number on a profile without a country.
    pub phone_default_region: Option<Region>,
}

/// A profile's phone columns, as the phone role reads them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PhoneRow {
    /// The phone as the customer typed it.
    pub phone: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// The E.164 form duplicates are compared in, as last written.
    pub phone_e164: Option<String>,
}

/// Why a Hasura call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HasuraError {
    /// No answer: connection refused, timeout, DNS.
    #[error("Hasura is unreachable at HASURA_GRAPHQL_URL")]
    Unreachable,
    /// An HTTP status other than 200.
    #[error("Hasura answered HTTP {0}")]
    Status(u16),
    /// Hasura answered with GraphQL errors (wrong secret, a permission, a constraint).
    #[error("Hasura refused the {operation} call ({code}): {message}")]
    Refused {
        /// The operation name.
        operation: &'static str,
        /// Hasura's `extensions.code`, e.g. `access-denied`, `permission-error`.
        code: String,
        /// Hasura's message, shortened.
        message: String,
    },
    /// A 200 whose body is not the expected shape.
    #[error("Hasura sent an answer this server cannot read")]
    BadResponse,
    /// The HTTP client could not be built, or Hasura is not configured.
    #[error("Hasura is not configured: set HASURA_GRAPHQL_URL and HASURA_ADMIN_SECRET")]
    NotConfigured,
}

/// A profile as the sync role reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Profile {
    /// The SSO uuid.
    pub sso_id: String,
    /// First name.
    #[serde(rename = "firstName")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(rename = "lastName")]
    pub last_name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// The linked Stripe customer, if any.
    pub stripe_customer_id: Option<String>,
}

const PROFILE: &str = "query StripeSyncProfile($sso: uuid!) { customers_by_pk(sso_id: $sso) { sso_id firstName lastName email stripe_customer_id } }";

const LINK: &str = "mutation StripeSyncLink($sso: uuid!, $customer: String!) { update_customers(where: {sso_id: {_eq: $sso}, stripe_customer_id: {_is_null: true}}, _set: {stripe_customer_id: $customer, temporary_subscription_plan: null}) { affected_rows } }";

const ACTIVATION: &str = "mutation StripeActivation($customer: String!, $at: timestamptz!) { update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{activationDate: {_is_null: true}}, {activationDate: {_gt: $at}}]}, _set: {activationDate: $at}) { affected_rows } }";

const DELINQUENT: &str = "mutation StripeDelinquent($customer: String!, $at: timestamptz!) { first: update_customers(where: {stripe_customer_id: {_eq: $customer}, delinquency_date: {_is_null: true}, _or: [{stripe_status_event_at: {_is_null: true}}, {stripe_status_event_at: {_lte: $at}}]}, _set: {delinquency_date: $at}) { affected_rows } seen: update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{stripe_status_event_at: {_is_null: true}}, {stripe_status_event_at: {_lt: $at}}]}, _set: {stripe_status_event_at: $at}) { affected_rows } }";

const RECOVERED: &str = "mutation StripeRecovered($customer: String!, $at: timestamptz!) { update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{stripe_status_event_at: {_is_null: true}}, {stripe_status_event_at: {_lte: $at}}]}, _set: {delinquency_date: null, stripe_status_event_at: $at}) { affected_rows } }";

const PLAN_CHANGE: &str = "mutation StripePlanChange($customer: String!, $at: timestamptz!) { update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{plan_change_date: {_is_null: true}}, {plan_change_date: {_lt: $at}}]}, _set: {plan_change_date: $at}) { affected_rows } }";

/// One change to a linked profile's lifecycle columns, taken from a Stripe event created at
/// `at` (Unix seconds). Each is written so that order does not matter or older loses:
/// see [`crate::profile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleChange {
    /// A subscription became active: `activationDate` becomes the earliest such time.
    Activated,
    /// A subscription turned `past_due` or `unpaid`: `delinquency_date` is set if unset,
    /// unless a newer status event was already applied.
    Delinquent,
    /// A subscription recovered to `active`: `delinquency_date` is cleared, unless a newer
    /// status event was already applied.
    Recovered,
    /// A subscription's prices changed: `plan_change_date` becomes the latest such time.
    PlanChanged,
}

impl LifecycleChange {
    fn document(self) -> (&'static str, &'static str) {
        match self {
            LifecycleChange::Activated => ("StripeActivation", ACTIVATION),
            LifecycleChange::Delinquent => ("StripeDelinquent", DELINQUENT),
            LifecycleChange::Recovered => ("StripeRecovered", RECOVERED),
            LifecycleChange::PlanChanged => ("StripePlanChange", PLAN_CHANGE),
        }
    }
}

/// The client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HasuraClient {
    http: reqwest::Client,
    url: Url,
}

impl HasuraClient {
    /// A client for `settings`; `None` when the HTTP client cannot be built or the secret
    /// cannot be sent as a header.
    pub fn new(settings: &HasuraSettings) -> Result<HasuraClient, HasuraError> {
        let mut headers = HeaderMap::new();
        let mut secret = HeaderValue::from_str(settings.admin_secret.expose())
            .map_err(|_| HasuraError::NotConfigured)?;
        secret.set_sensitive(true);
        headers.insert("x-hasura-admin-secret", secret);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("stripe-graphql/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .build()
            .map_err(|_| HasuraError::NotConfigured)?;
        Ok(HasuraClient {
            http,
            url: settings.url.clone(),
        })
    }

    /// The profile with this SSO uuid, as the sync role sees it; `None` when there is none.
    pub async fn profile(&self, sso_id: &uuid::Uuid) -> Result<Option<Profile>, HasuraError> {
        let data = self
            .run(
                SYNC_ROLE,
                "StripeSyncProfile",
                PROFILE,
                json!({ "sso": sso_id.to_string() }),
            )
            .await?;
        match data.get("customers_by_pk") {
            Some(Value::Null) => Ok(None),
            Some(profile) => serde_json::from_value(profile.clone())
                .map(Some)
                .map_err(|_| HasuraError::BadResponse),
            None => Err(HasuraError::BadResponse),
        }
    }

    /// Links the profile to `customer` and clears its `temporary_subscription_plan`, only
    /// while it has no Stripe customer. Returns whether a row changed (`false`: already
    /// linked, or no such profile).
    pub async fn link(&self, sso_id: &uuid::Uuid, customer: &str) -> Result<bool, HasuraError> {
        let data = self
            .run(
                SYNC_ROLE,
                "StripeSyncLink",
                LINK,
                json!({ "sso": sso_id.to_string(), "customer": customer }),
            )
            .await?;
        affected(&data, "update_customers").map(|n| n > 0)
    }

    /// The phone columns of the profile with this SSO uuid, as the phone role sees them;
    /// `None` when there is none.
    pub async fn phone(&self, sso_id: &uuid::Uuid) -> Result<Option<PhoneRow>, HasuraError> {
        let data = self
            .run(
                PHONE_ROLE,
                "PhoneE164Profile",
                PHONE_DOCUMENTS,
                json!({ "sso": sso_id.to_string() }),
            )
            .await?;
        match data.get("customers_by_pk") {
            Some(Value::Null) => Ok(None),
            Some(row) => serde_json::from_value(row.clone())
                .map(Some)
                .map_err(|_| HasuraError::BadResponse),
            None => Err(HasuraError::BadResponse),
        }
    }

    /// Sets the profile's `phone_e164` to `e164`, only while its phone is still `phone` and
    /// its `phone_e164` differs. Returns whether a row changed.
    pub async fn set_phone_e164(
        &self,
        sso_id: &uuid::Uuid,
        phone: &str,
        e164: &str,
    ) -> Result<bool, HasuraError> {
        let variables = json!({ "sso": sso_id.to_string(), "phone": phone, "e164": e164 });
        let data = self
            .run(PHONE_ROLE, "PhoneE164Set", PHONE_DOCUMENTS, variables)
            .await?;
        affected(&data, "update_customers").map(|n| n > 0)
    }

    /// Clears the profile's `phone_e164`, only while its phone is still `phone` (or it has
    /// none: `phone` is then `""`). Returns whether a row changed.
    pub async fn clear_phone_e164(
        &self,
        sso_id: &uuid::Uuid,
        phone: &str,
    ) -> Result<bool, HasuraError> {
        let variables = json!({ "sso": sso_id.to_string(), "phone": phone });
        let data = self
            .run(PHONE_ROLE, "PhoneE164Clear", PHONE_DOCUMENTS, variables)
            .await?;
        affected(&data, "update_customers").map(|n| n > 0)
    }

    /// Applies one lifecycle change to the profile linked to `customer`, for an event created
    /// at `at` (Unix seconds). Returns how many rows changed (0: nothing to do, an older or
    /// replayed event, or no linked profile).
    pub async fn lifecycle(
        &self,
        customer: &str,
        change: LifecycleChange,
        at: i64,
    ) -> Result<u64, HasuraError> {
        let (operation, document) = change.document();
        let at = timestamptz(at).ok_or(HasuraError::BadResponse)?;
        let data = self
            .run(
                LIFECYCLE_ROLE,
                operation,
                document,
                json!({ "customer": customer, "at": at }),
            )
            .await?;
        let field = if change == LifecycleChange::Delinquent {
            "first"
        } else {
            "update_customers"
        };
        affected(&data, field)
    }

    async fn run(
        &self,
        role: &'static str,
        operation: &'static str,
        document: &'static str,
        variables: Value,
    ) -> Result<Value, HasuraError> {
        let request = self
            .http
            .post(self.url.clone())
            .header("x-hasura-role", role)
            .json(
                &json!({ "query": document, "operationName": operation, "variables": variables }),
            );
        let io = crate::runtime::io().map_err(|_| HasuraError::Unreachable)?;
        let answer = io
            .spawn(async move {
                let response = request.send().await.map_err(|e| {
                    tracing::warn!(error = %crate::stripe::error_chain(&e.without_url()), "hasura call failed");
                    HasuraError::Unreachable
                })?;
                let status = response.status().as_u16();
                if status != 200 {
                    return Err(HasuraError::Status(status));
                }
                response
                    .json::<Value>()
                    .await
                    .map_err(|_| HasuraError::BadResponse)
            })
            .await
            .unwrap_or(Err(HasuraError::Unreachable))?;
        if let Some(error) = answer.get("errors").and_then(|e| e.get(0)) {
            let code = error["extensions"]["code"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned();
            let message: String = error["message"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            tracing::warn!(operation, role, %code, %message, "hasura refused the call");
            return Err(HasuraError::Refused {
                operation,
                code,
                message,
            });
        }
        answer
            .get("data")
            .cloned()
            .filter(Value::is_object)
            .ok_or(HasuraError::BadResponse)
    }
}

fn affected(data: &Value, field: &str) -> Result<u64, HasuraError> {
    data.get(field)
        .and_then(|f| f.get("affected_rows"))
        .and_then(Value::as_u64)
        .ok_or(HasuraError::BadResponse)
}

impl HasuraError {
    /// Whether the failure clears on its own: Hasura unreachable, answering 5xx or 429, or
    /// an answer that cannot be read (a proxy's page). A GraphQL refusal (`errors`: a
    /// permission, the secret) and other statuses do not.
    pub fn is_transient(&self) -> bool {
        match self {
            HasuraError::Unreachable | HasuraError::BadResponse => true,
            HasuraError::Status(status) => *status >= 500 || *status == 429,
            HasuraError::Refused { .. } | HasuraError::NotConfigured => false,
        }
    }
}

/// Unix seconds as the ISO 8601 UTC timestamp Hasura takes for `timestamptz`
/// (`2026-11-18T11:06:40Z`), `None` outside years 0–9999.
pub fn timestamptz(unix: i64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A timestamp as Hasura writes one in an event payload (`created_at`) or a `timestamptz`:
/// `YYYY-MM-DD`, `T` or a space, `HH:MM:SS`, an optional fraction, then an optional zone
/// (`Z`, `±HH`, `±HHMM` or `±HH:MM`). Without a zone it is UTC: Hasura logs events in UTC and
/// may leave the designator out (its `Eventing` payload). Unix seconds, fractions dropped.
pub fn parse_timestamp(raw: &str) -> Option<i64> {
    use time::{macros::format_description, PrimitiveDateTime, UtcOffset};
    let raw = raw.trim();
    // The zone, if any, follows the seconds (position 19) and any fraction.
    let zone_at = raw
        .get(19..)?
        .find(['Z', 'z', '+', '-'])
        .map_or(raw.len(), |i| i + 19);
    let (local, zone) = raw.split_at(zone_at);
    let local = PrimitiveDateTime::parse(
        local,
        format_description!(
            version = 2,
            "[year]-[month]-[day][first [T][t][ ]][hour]:[minute]:[second][optional [.[subsecond]]]"
        ),
    )
    .ok()?;
    let offset = match zone {
        "" | "Z" | "z" => UtcOffset::UTC,
        _ => {
            let (sign, digits) = zone.split_at(1);
            let digits = digits.replace(':', "");
            if !(digits.len() == 2 || digits.len() == 4)
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let hours: i8 = digits[..2].parse().ok()?;
            let minutes: i8 = digits
                .get(2..)
                .filter(|m| !m.is_empty())
                .map_or(Some(0), |m| m.parse().ok())?;
            let sign = if sign == "-" { -1 } else { 1 };
            UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()?
        }
    };
    Some(local.assume_offset(offset).unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_times_are_sent_as_utc_timestamps() {
        assert_eq!(timestamptz(1_795_000_000).unwrap(), "2026-11-18T11:06:40Z");
        assert_eq!(timestamptz(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(timestamptz(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(timestamptz(i64::MAX / 2), None);
    }

    #[test]
    fn an_event_time_without_a_zone_is_utc() {
        let t = 1_795_000_000;
        for raw in [
            "2026-11-18T11:06:40",
            "2026-11-18T11:06:40.123456",
            "2026-11-18 11:06:40.5",
            "2026-11-18T11:06:40Z",
            "2026-11-18T11:06:40.999999Z",
            "2026-11-18T12:06:40+01:00",
            "2026-11-18T12:06:40+0100",
            "2026-11-18T12:06:40+01",
            "2026-11-18T06:06:40.25-05:00",
        ] {
            assert_eq!(parse_timestamp(raw), Some(t), "{raw}");
        }
        for bad in [
            "",
            "2026-11-18",
            "2026-11-18T11:06",
            "2026-13-18T11:06:40",
            "2026-02-30T11:06:40",
            "2026-11-18T11:06:40+1",
            "2026-11-18T11:06:40+01:0x",
            "2026-11-18T11:06:40 UTC",
            "yesterday",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_transient_hasura_failure_is_told_from_a_refusal() {
        assert!(HasuraError::Unreachable.is_transient());
        assert!(HasuraError::Status(502).is_transient());
        assert!(HasuraError::Status(429).is_transient());
        assert!(!HasuraError::Status(400).is_transient());
        assert!(!HasuraError::NotConfigured.is_transient());
        let refused = HasuraError::Refused {
            operation: "StripeSyncLink",
            code: "permission-error".into(),
            message: "no".into(),
        };
        assert!(!refused.is_transient());
    }

    #[test]
    fn the_documents_write_only_through_their_roles_columns() {
        for (document, allowed) in [
            (
                LINK,
                &["stripe_customer_id", "temporary_subscription_plan"][..],
            ),
            (ACTIVATION, &["activationDate"][..]),
            (
                DELINQUENT,
                &["delinquency_date", "stripe_status_event_at"][..],
            ),
            (
                RECOVERED,
                &["delinquency_date", "stripe_status_event_at"][..],
            ),
            (PLAN_CHANGE, &["plan_change_date"][..]),
            (PHONE_DOCUMENTS, &["phone_e164"][..]),
        ] {
            for set in document.split("_set: {").skip(1) {
                let fields = set.split('}').next().unwrap();
                for field in fields.split(',') {
                    let column = field.split(':').next().unwrap().trim();
                    assert!(allowed.contains(&column), "{column} in {document}");
                }
            }
        }
    }

    #[test]
    fn the_admin_secret_never_shows_in_debug_output() {
        let settings = HasuraSettings {
            url: "http://127.0.0.1:9/v1/graphql".parse().unwrap(),
            admin_secret: SecretString::new("hasura-admin-secret-xyz"),
            timeout: Duration::from_secs(1),
            phone_default_region: None,
        };
        let client = HasuraClient::new(&settings).unwrap();
        let shown = format!("{client:?} {settings:?}");
        assert!(!shown.contains("hasura-admin-secret-xyz"), "{shown}");
    }
}
