//! A recorded fake of Hasura's GraphQL endpoint (`POST /v1/graphql`) for the server's writes
//! to the profile database (issue 10): an actix-web server on 127.0.0.1, port 0, holding an
//! in-memory `customers` table.
//!
//! It answers exactly the contract's operations, chosen by `operationName` (or, without one,
//! by the name in the document), and refuses a document that differs from the contract's
//! (whitespace and commas aside), so a test passing against it proves the server sends the
//! agreed documents:
//!
//! | operation | answer |
//! |---|---|
//! | `StripeSyncProfile($sso)` | `{"data": {"customers_by_pk": {sso_id, firstName, lastName, email, stripe_customer_id} \| null}}` |
//! | `StripeSyncLink($sso, $customer)` | `{"data": {"update_customers": {"affected_rows": n}}}` |
//! | `StripeActivation`, `StripeRecovered`, `StripePlanChange` (`$customer`, `$at`) | the same |
//! | `StripeDelinquent($customer, $at)` | `{"data": {"first": {"affected_rows": n}, "seen": {"affected_rows": n}}}` |
//! | `PhoneE164Profile($sso)` | `{"data": {"customers_by_pk": {sso_id, phone, country, phone_e164} \| null}}` |
//! | `PhoneE164Set($sso, $phone, $e164)`, `PhoneE164Clear($sso, $phone)` | `{"data": {"update_customers": {"affected_rows": n}}}` |
//!
//! The phone operations' contract is the file the Hasura suite runs on PostgreSQL
//! (`hasura/server_documents/phone_e164.graphql`), sent whole with the operation's name.
//!
//! Each document's `where` and `_set` are applied to the table as written in the contract,
//! AND-ed with the role's permission filter (`stripe_sync`: `stripe_customer_id IS NULL`;
//! `stripe_lifecycle`: `stripe_customer_id IS NOT NULL`; `stripe_phone`: none). A request runs under one lock, so
//! `StripeDelinquent`'s two root fields run one after the other with nothing in between, as
//! in Hasura's single transaction.
//!
//! Like Hasura, with the admin secret set:
//!
//! - a missing or wrong `x-hasura-admin-secret` is HTTP 200 with an `access-denied` error (and
//!   changes nothing);
//! - `x-hasura-role` selects the permissions; without it the request is `admin` (no filter).
//!   A role running an operation outside its permissions, an unknown role, an unknown
//!   operation, a document other than the contract's or a missing variable is HTTP 200 with a
//!   `validation-failed` error; a `$sso` that is not a uuid or an `$at` that is not a
//!   timestamp is a `data-exception` error.
//!
//! **Timestamps**: [`Profile`] keeps `timestamptz` columns as `Option<i64>`, seconds since
//! the Unix epoch (what Stripe's `created` is), so tests compare them with event times
//! directly. Over the wire they are ISO 8601 strings as Hasura uses them: `$at` is parsed
//! from `2026-11-27T05:00:00Z`, `…+00:00`, `…+01:00`, with or without fractional seconds
//! (fractions are dropped: the fake keeps whole seconds), and values are answered as
//! `2026-11-27T05:00:00+00:00`.
//!
//! Knobs: [`FakeHasura::fail_next`] answers the next requests with an HTTP error instead;
//! [`FakeHasura::hold`] parks requests (after they are recorded) until
//! [`FakeHasura::release`], and [`FakeHasura::wait_until_held`] waits for a number of them
//! to be parked, so tests make concurrent calls overlap on an explicit signal.

use std::{
    collections::BTreeMap,
    net::TcpListener,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use actix_web::{dev::ServerHandle, web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use tokio::sync::watch;

/// One row of `public.customers`, the columns the contract touches. Timestamps are seconds
/// since the Unix epoch (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// `sso_id` (uuid), as text; matched case-insensitively like a uuid.
    pub sso_id: String,
    /// `firstName`.
    pub first_name: Option<String>,
    /// `lastName`.
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub stripe_customer_id: Option<String>,
    pub temporary_subscription_plan: Option<String>,
    /// `activationDate`.
    pub activation_date: Option<i64>,
    pub delinquency_date: Option<i64>,
    pub plan_change_date: Option<i64>,
    pub stripe_status_event_at: Option<i64>,
    pub phone: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub phone_e164: Option<String>,
}

impl Profile {
    /// A profile with only its id, names and email set.
    pub fn new(sso_id: &str, first_name: &str, last_name: &str, email: &str) -> Profile {
        Profile {
            sso_id: sso_id.to_owned(),
            first_name: Some(first_name.to_owned()),
            last_name: Some(last_name.to_owned()),
            email: Some(email.to_owned()),
            ..Profile::default()
        }
    }
}

/// One request as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// `operationName` of the body (None when absent).
    pub operation_name: Option<String>,
    /// `variables` of the body (`null` when absent).
    pub variables: Value,
    /// `query` of the body (empty when absent).
    pub query: String,
    /// The `x-hasura-role` header.
    pub role: Option<String>,
    /// Whether `x-hasura-admin-secret` was the configured secret.
    pub admin_secret_ok: bool,
}

/// The running fake. Stops when dropped.
pub struct FakeHasura {
    url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

struct State {
    admin_secret: String,
    table: Mutex<BTreeMap<String, Profile>>,
    requests: Mutex<Vec<Recorded>>,
    /// `(remaining, status)` of [`FakeHasura::fail_next`].
    failures: Mutex<(usize, u16)>,
    /// Whether requests are parked.
    holding: watch::Sender<bool>,
    /// How many requests are parked now.
    held: watch::Sender<usize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The uuid key of a row: lower case, as Postgres prints uuids.
fn key(sso_id: &str) -> String {
    sso_id.to_ascii_lowercase()
}

impl FakeHasura {
    /// Starts the fake on 127.0.0.1, port 0, accepting `admin_secret`. Needs a Tokio runtime
    /// (the server runs as a task on it).
    pub fn start(admin_secret: &str) -> FakeHasura {
        let (holding, _) = watch::channel(false);
        let (held, _) = watch::channel(0);
        let state = Arc::new(State {
            admin_secret: admin_secret.to_owned(),
            table: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(Vec::new()),
            failures: Mutex::new((0, 500)),
            holding,
            held,
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!(
            "http://{}/v1/graphql",
            listener.local_addr().expect("a local address")
        );
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/graphql", web::post().to(graphql))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("the fake listens")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeHasura { url, state, handle }
    }

    /// The endpoint to configure as `HASURA_GRAPHQL_URL` (`http://127.0.0.1:<port>/v1/graphql`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Inserts `profile`, replacing the row with the same `sso_id`.
    pub fn insert(&self, profile: Profile) {
        lock(&self.state.table).insert(key(&profile.sso_id), profile);
    }

    /// The row with `sso_id`, as it is now.
    pub fn profile(&self, sso_id: &str) -> Option<Profile> {
        lock(&self.state.table).get(&key(sso_id)).cloned()
    }

    /// Every request received so far, oldest first (failed, refused and held ones too).
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.requests).clone()
    }

    /// The requests received so far for `operation`.
    pub fn requests_for(&self, operation: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.operation_name.as_deref() == Some(operation))
            .collect()
    }

    /// Answers the next `n` requests with HTTP `status` and a Hasura-style error body
    /// instead of running them (they change nothing).
    pub fn fail_next(&self, n: usize, status: u16) {
        *lock(&self.state.failures) = (n, status);
    }

    /// Parks every request from now on (after recording it) until [`FakeHasura::release`].
    pub fn hold(&self) {
        self.state.holding.send_replace(true);
    }

    /// Lets the parked requests, and those to come, run.
    pub fn release(&self) {
        self.state.holding.send_replace(false);
    }

    /// Waits until at least `n` requests are parked by [`FakeHasura::hold`]; panics after 10
    /// seconds.
    pub async fn wait_until_held(&self, n: usize) {
        let mut held = self.state.held.subscribe();
        tokio::time::timeout(Duration::from_secs(10), held.wait_for(|h| *h >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} requests were not held within 10 s"))
            .expect("the fake is running");
    }
}

impl Drop for FakeHasura {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; the returned future only waits.
        drop(self.handle.stop(false));
    }
}

/// A GraphQL error answer with HTTP 200, as Hasura answers them.
fn error(code: &str, message: impl Into<String>) -> Value {
    json!({"errors": [{"message": message.into(), "extensions": {"code": code, "path": "$"}}]})
}

async fn graphql(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let secret = header("x-hasura-admin-secret");
    let role = header("x-hasura-role");
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let request = parsed.as_ref().ok();
    let text = |name: &str| request.and_then(|b| b[name].as_str()).map(str::to_owned);
    let query = text("query").unwrap_or_default();
    let recorded = Recorded {
        operation_name: text("operationName"),
        variables: request
            .map(|b| b["variables"].clone())
            .unwrap_or(Value::Null),
        query: query.clone(),
        role: role.clone(),
        admin_secret_ok: secret.as_deref() == Some(state.admin_secret.as_str()),
    };
    lock(&state.requests).push(recorded.clone());

    let mut holding = state.holding.subscribe();
    if *holding.borrow_and_update() {
        state.held.send_modify(|h| *h += 1);
        let _ = holding.wait_for(|h| !*h).await;
        state.held.send_modify(|h| *h -= 1);
    }

    {
        let mut failures = lock(&state.failures);
        if failures.0 > 0 {
            failures.0 -= 1;
            let status = actix_web::http::StatusCode::from_u16(failures.1)
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
            return HttpResponse::build(status).json(error(
                "unexpected",
                format!("fake_hasura: injected failure (HTTP {})", status.as_u16()),
            ));
        }
    }

    let answer = match (secret, parsed) {
        (None, _) => error(
            "access-denied",
            "x-hasura-admin-secret/x-hasura-access-key required, but not found",
        ),
        (Some(_), _) if !recorded.admin_secret_ok => error(
            "access-denied",
            "invalid x-hasura-admin-secret/x-hasura-access-key",
        ),
        (Some(_), Err(e)) => error("invalid-json", format!("invalid JSON body: {e}")),
        (Some(_), Ok(_)) => {
            let name = recorded
                .operation_name
                .clone()
                .or_else(|| operation_in(&query));
            match name {
                None => error(
                    "validation-failed",
                    "no operationName and no named operation",
                ),
                Some(name) => run(
                    &mut lock(&state.table),
                    &name,
                    &query,
                    role.as_deref(),
                    &recorded.variables,
                ),
            }
        }
    };
    HttpResponse::Ok().json(answer)
}

/// The name of the first operation in `document` (`query Name…` / `mutation Name…`).
fn operation_in(document: &str) -> Option<String> {
    let mut words = document.split(|c: char| c.is_whitespace() || c == '(' || c == '{');
    words.find(|w| matches!(*w, "query" | "mutation"))?;
    words.find(|w| !w.is_empty()).map(str::to_owned)
}

/// The phone role's documents, as the Hasura suite runs them.
const PHONE_DOCUMENTS: &str = include_str!("../../hasura/server_documents/phone_e164.graphql");

/// The contract's documents (docs/ issue 10, and the phone role's), by operation name.
const DOCUMENTS: &[(&str, &str)] = &[
    ("PhoneE164Profile", PHONE_DOCUMENTS),
    ("PhoneE164Set", PHONE_DOCUMENTS),
    ("PhoneE164Clear", PHONE_DOCUMENTS),
    (
        "StripeSyncProfile",
        "query StripeSyncProfile($sso: uuid!) { customers_by_pk(sso_id: $sso) { sso_id firstName lastName email stripe_customer_id } }",
    ),
    (
        "StripeSyncLink",
        "mutation StripeSyncLink($sso: uuid!, $customer: String!) {
           update_customers(where: {sso_id: {_eq: $sso}, stripe_customer_id: {_is_null: true}},
                            _set: {stripe_customer_id: $customer, temporary_subscription_plan: null}) { affected_rows }
         }",
    ),
    (
        "StripeActivation",
        "mutation StripeActivation($customer: String!, $at: timestamptz!) {
           update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{activationDate: {_is_null: true}}, {activationDate: {_gt: $at}}]},
                            _set: {activationDate: $at}) { affected_rows } }",
    ),
    (
        "StripeDelinquent",
        "mutation StripeDelinquent($customer: String!, $at: timestamptz!) {
           first: update_customers(where: {stripe_customer_id: {_eq: $customer}, delinquency_date: {_is_null: true}, _or: [{stripe_status_event_at: {_is_null: true}}, {stripe_status_event_at: {_lte: $at}}]},
                                   _set: {delinquency_date: $at}) { affected_rows }
           seen: update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{stripe_status_event_at: {_is_null: true}}, {stripe_status_event_at: {_lt: $at}}]},
                                  _set: {stripe_status_event_at: $at}) { affected_rows } }",
    ),
    (
        "StripeRecovered",
        "mutation StripeRecovered($customer: String!, $at: timestamptz!) {
           update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{stripe_status_event_at: {_is_null: true}}, {stripe_status_event_at: {_lte: $at}}]},
                            _set: {delinquency_date: null, stripe_status_event_at: $at}) { affected_rows } }",
    ),
    (
        "StripePlanChange",
        "mutation StripePlanChange($customer: String!, $at: timestamptz!) {
           update_customers(where: {stripe_customer_id: {_eq: $customer}, _or: [{plan_change_date: {_is_null: true}}, {plan_change_date: {_lt: $at}}]},
                            _set: {plan_change_date: $at}) { affected_rows } }",
    ),
];

/// A document without whitespace and commas (both insignificant in GraphQL here).
fn normalized(document: &str) -> String {
    document
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .collect()
}

/// What a role may do.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Admin,
    Sync,
    Lifecycle,
    Phone,
}

/// Runs operation `name` (with `document`) for `role` over `table`: the answer body.
fn run(
    table: &mut BTreeMap<String, Profile>,
    name: &str,
    document: &str,
    role: Option<&str>,
    variables: &Value,
) -> Value {
    let Some((_, contract)) = DOCUMENTS.iter().find(|(n, _)| *n == name) else {
        return error(
            "validation-failed",
            format!("fake_hasura: unknown operation {name:?}: not one of the issue 10 contract's"),
        );
    };
    if normalized(document) != normalized(contract) {
        return error(
            "validation-failed",
            format!(
                "fake_hasura: the document sent as {name} is not the contract's.\n sent:     {}\n contract: {}",
                normalized(document),
                normalized(contract)
            ),
        );
    }
    let role = match role {
        None | Some("admin") => Role::Admin,
        Some("stripe_sync") => Role::Sync,
        Some("stripe_lifecycle") => Role::Lifecycle,
        Some("stripe_phone") => Role::Phone,
        Some(_) => {
            let (field, root) = if name.ends_with("Profile") {
                ("customers_by_pk", "query_root")
            } else {
                ("update_customers", "mutation_root")
            };
            return error(
                "validation-failed",
                format!("field '{field}' not found in type: '{root}'"),
            );
        }
    };
    let phone_operation = name.starts_with("PhoneE164");
    let refused = match (name, role) {
        (_, Role::Admin) => None,
        (_, Role::Phone) if phone_operation => None,
        (_, _) if phone_operation => Some("field 'phone_e164' not found in type: 'customers'"),
        (_, Role::Phone) => Some("field 'stripe_customer_id' not found in type: 'customers'"),
        ("StripeSyncProfile" | "StripeSyncLink", Role::Sync) => None,
        ("StripeSyncProfile", _) => Some("field 'firstName' not found in type: 'customers'"),
        ("StripeSyncLink", _) => {
            Some("field 'stripe_customer_id' not found in type: 'customers_set_input'")
        }
        (_, Role::Lifecycle) => None,
        ("StripeActivation", _) => {
            Some("field 'activationDate' not found in type: 'customers_bool_exp'")
        }
        ("StripePlanChange", _) => {
            Some("field 'plan_change_date' not found in type: 'customers_bool_exp'")
        }
        _ => Some("field 'stripe_status_event_at' not found in type: 'customers_bool_exp'"),
    };
    if let Some(message) = refused {
        return error("validation-failed", message);
    }
    // The role's update filter.
    let permitted = |p: &Profile| match role {
        Role::Admin | Role::Phone => true,
        Role::Sync => p.stripe_customer_id.is_none(),
        Role::Lifecycle => p.stripe_customer_id.is_some(),
    };
    match run_checked(table, name, variables, &permitted) {
        Ok(data) => json!({ "data": data }),
        Err(errors) => errors,
    }
}

/// Runs a validated operation: `data`, or an error body.
fn run_checked(
    table: &mut BTreeMap<String, Profile>,
    name: &str,
    variables: &Value,
    permitted: &dyn Fn(&Profile) -> bool,
) -> Result<Value, Value> {
    let text = |var: &str| -> Result<String, Value> {
        match &variables[var] {
            Value::String(s) => Ok(s.clone()),
            Value::Null => Err(error(
                "validation-failed",
                format!("expecting a value for non-nullable variable: \"{var}\""),
            )),
            other => Err(error(
                "validation-failed",
                format!("variable \"{var}\" expected a string, got {other}"),
            )),
        }
    };
    let sso = || -> Result<String, Value> {
        let sso = text("sso")?;
        if uuid::Uuid::parse_str(&sso).is_err() {
            return Err(error(
                "data-exception",
                format!("invalid input syntax for type uuid: \"{sso}\""),
            ));
        }
        Ok(key(&sso))
    };
    let at = || -> Result<i64, Value> {
        let raw = text("at")?;
        parse_timestamp(&raw).ok_or_else(|| {
            error(
                "data-exception",
                format!("invalid input syntax for type timestamp with time zone: \"{raw}\""),
            )
        })
    };
    let affected = |n: usize| json!({ "affected_rows": n });
    if name == "PhoneE164Profile" {
        let row = table.get(&sso()?).map(|p| {
            json!({
                "sso_id": key(&p.sso_id), "phone": p.phone, "country": p.country,
                "phone_e164": p.phone_e164,
            })
        });
        return Ok(json!({ "customers_by_pk": row }));
    }
    if name == "StripeSyncProfile" {
        // Both roles' select permissions have no row filter.
        let row = table.get(&sso()?).map(|p| {
            json!({
                "sso_id": key(&p.sso_id), "firstName": p.first_name, "lastName": p.last_name,
                "email": p.email, "stripe_customer_id": p.stripe_customer_id,
            })
        });
        return Ok(json!({ "customers_by_pk": row }));
    }
    // Applies `change` to every row the role may update that matches `filter`: how many.
    let mut update = |filter: &dyn Fn(&Profile) -> bool, change: &dyn Fn(&mut Profile)| {
        let mut n = 0;
        for row in table.values_mut() {
            if permitted(row) && filter(row) {
                change(row);
                n += 1;
            }
        }
        n
    };
    // `_is_null: true` OR `column <op> $at`.
    let null_or = |v: Option<i64>, holds: &dyn Fn(i64) -> bool| v.is_none_or(holds);
    Ok(match name {
        "PhoneE164Set" => {
            let (sso, phone, e164) = (sso()?, text("phone")?, text("e164")?);
            let n = update(
                &|p| {
                    key(&p.sso_id) == sso
                        && p.phone.as_deref() == Some(&phone)
                        && p.phone_e164.as_deref() != Some(&e164)
                },
                &|p| p.phone_e164 = Some(e164.clone()),
            );
            json!({ "update_customers": affected(n) })
        }
        "PhoneE164Clear" => {
            let (sso, phone) = (sso()?, text("phone")?);
            let n = update(
                &|p| {
                    key(&p.sso_id) == sso
                        && p.phone_e164.is_some()
                        && p.phone.as_deref().is_none_or(|held| held == phone)
                },
                &|p| p.phone_e164 = None,
            );
            json!({ "update_customers": affected(n) })
        }
        "StripeSyncLink" => {
            let (sso, customer) = (sso()?, text("customer")?);
            let n = update(
                &|p| key(&p.sso_id) == sso && p.stripe_customer_id.is_none(),
                &|p| {
                    p.stripe_customer_id = Some(customer.clone());
                    p.temporary_subscription_plan = None;
                },
            );
            // The permission's check (`stripe_customer_id IS NOT NULL`) holds: `$customer`
            // is a non-null String.
            json!({ "update_customers": affected(n) })
        }
        _ => {
            let (customer, at) = (text("customer")?, at()?);
            let is_customer = |p: &Profile| p.stripe_customer_id.as_deref() == Some(&customer);
            match name {
                "StripeActivation" => {
                    let n = update(
                        &|p| is_customer(p) && null_or(p.activation_date, &|d| d > at),
                        &|p| p.activation_date = Some(at),
                    );
                    json!({ "update_customers": affected(n) })
                }
                "StripeDelinquent" => {
                    let first = update(
                        &|p| {
                            is_customer(p)
                                && p.delinquency_date.is_none()
                                && null_or(p.stripe_status_event_at, &|s| s <= at)
                        },
                        &|p| p.delinquency_date = Some(at),
                    );
                    let seen = update(
                        &|p| is_customer(p) && null_or(p.stripe_status_event_at, &|s| s < at),
                        &|p| p.stripe_status_event_at = Some(at),
                    );
                    json!({ "first": affected(first), "seen": affected(seen) })
                }
                "StripeRecovered" => {
                    let n = update(
                        &|p| is_customer(p) && null_or(p.stripe_status_event_at, &|s| s <= at),
                        &|p| {
                            p.delinquency_date = None;
                            p.stripe_status_event_at = Some(at);
                        },
                    );
                    json!({ "update_customers": affected(n) })
                }
                _ => {
                    let n = update(
                        &|p| is_customer(p) && null_or(p.plan_change_date, &|d| d < at),
                        &|p| p.plan_change_date = Some(at),
                    );
                    json!({ "update_customers": affected(n) })
                }
            }
        }
    })
}

/// Parses an ISO 8601 `timestamptz` (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH[[:]MM])`, `T` or a
/// space) into whole seconds since the epoch; fractions are dropped. Unlike an event's
/// `created_at`, a `timestamptz` value must carry its zone.
pub fn parse_timestamp(raw: &str) -> Option<i64> {
    let zoned = raw
        .get(19..)
        .is_some_and(|rest| rest.contains(['Z', 'z', '+', '-']));
    zoned
        .then(|| stripe_graphql::profile::hasura::parse_timestamp(raw))
        .flatten()
}

/// Formats seconds since the epoch as Hasura answers a `timestamptz`:
/// `2026-11-27T05:00:00+00:00`.
pub fn format_timestamp(seconds: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| at.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hasura-admin-secret-for-tests";
    const SSO: &str = "6f1c2d3e-4b5a-4c6d-8e7f-901234567890";

    fn contract(name: &str) -> &'static str {
        DOCUMENTS.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// Sends the contract's document `name` as `role` with the admin secret `secret`.
    async fn send_as(
        fake: &FakeHasura,
        secret: Option<&str>,
        role: Option<&str>,
        name: &str,
        variables: Value,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new().post(fake.url()).json(&json!({
            "query": contract(name), "operationName": name, "variables": variables,
        }));
        if let Some(secret) = secret {
            request = request.header("x-hasura-admin-secret", secret);
        }
        if let Some(role) = role {
            request = request.header("x-hasura-role", role);
        }
        let response = request.send().await.expect("the fake answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    async fn send(fake: &FakeHasura, role: &str, name: &str, variables: Value) -> Value {
        let (status, body) = send_as(fake, Some(SECRET), Some(role), name, variables).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    fn lifecycle(customer: &str, at: i64) -> Value {
        json!({"customer": customer, "at": format_timestamp(at)})
    }

    fn linked(sso: &str, customer: &str) -> Profile {
        Profile {
            stripe_customer_id: Some(customer.into()),
            ..Profile::new(sso, "Ada", "Lovelace", "ada@example.com")
        }
    }

    #[tokio::test]
    async fn the_link_fills_only_a_null_stripe_id_and_clears_the_temporary_plan() {
        let fake = FakeHasura::start(SECRET);
        fake.insert(Profile {
            temporary_subscription_plan: Some("pro".into()),
            ..Profile::new(&SSO.to_uppercase(), "Ada", "Lovelace", "ada@example.com")
        });
        let profile = send(
            &fake,
            "stripe_sync",
            "StripeSyncProfile",
            json!({ "sso": SSO }),
        )
        .await;
        assert_eq!(
            profile,
            json!({"data": {"customers_by_pk": {"sso_id": SSO, "firstName": "Ada",
                "lastName": "Lovelace", "email": "ada@example.com", "stripe_customer_id": null}}})
        );
        let link = |customer: &str| json!({"sso": SSO, "customer": customer});
        let first = send(&fake, "stripe_sync", "StripeSyncLink", link("cus_A")).await;
        assert_eq!(
            first,
            json!({"data": {"update_customers": {"affected_rows": 1}}})
        );
        let again = send(&fake, "stripe_sync", "StripeSyncLink", link("cus_B")).await;
        assert_eq!(again["data"]["update_customers"]["affected_rows"], json!(0));
        let row = fake.profile(SSO).unwrap();
        assert_eq!(row.stripe_customer_id.as_deref(), Some("cus_A"));
        assert_eq!(row.temporary_subscription_plan, None);
        // stripe_sync's select has no row filter: the linked profile still reads.
        let read = send(
            &fake,
            "stripe_sync",
            "StripeSyncProfile",
            json!({ "sso": SSO }),
        )
        .await;
        assert_eq!(
            read["data"]["customers_by_pk"]["stripe_customer_id"],
            json!("cus_A")
        );
        let missing = send(
            &fake,
            "stripe_sync",
            "StripeSyncProfile",
            json!({"sso": "00000000-0000-4000-8000-000000000000"}),
        )
        .await;
        assert_eq!(missing, json!({"data": {"customers_by_pk": null}}));
    }

    #[tokio::test]
    async fn a_missing_or_wrong_admin_secret_is_access_denied_and_changes_nothing() {
        let fake = FakeHasura::start(SECRET);
        fake.insert(Profile::new(SSO, "Ada", "Lovelace", "ada@example.com"));
        let vars = json!({"sso": SSO, "customer": "cus_A"});
        let (status, wrong) = send_as(
            &fake,
            Some("guess"),
            Some("stripe_sync"),
            "StripeSyncLink",
            vars.clone(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            wrong,
            json!({"errors": [{"message": "invalid x-hasura-admin-secret/x-hasura-access-key",
                               "extensions": {"code": "access-denied", "path": "$"}}]})
        );
        let (_, none) = send_as(&fake, None, Some("stripe_sync"), "StripeSyncLink", vars).await;
        assert_eq!(
            none["errors"][0]["extensions"]["code"],
            json!("access-denied")
        );
        assert_eq!(fake.profile(SSO).unwrap().stripe_customer_id, None);
        let recorded = fake.requests();
        assert_eq!(recorded.len(), 2);
        assert!(recorded.iter().all(|r| !r.admin_secret_ok));
        assert_eq!(recorded[0].role.as_deref(), Some("stripe_sync"));
        assert_eq!(
            recorded[0].operation_name.as_deref(),
            Some("StripeSyncLink")
        );
        assert_eq!(recorded[0].variables["customer"], json!("cus_A"));
    }

    #[tokio::test]
    async fn each_role_runs_only_its_own_operations_on_its_own_rows() {
        let fake = FakeHasura::start(SECRET);
        fake.insert(linked(SSO, "cus_A"));
        let at = lifecycle("cus_A", 1_800_000_000);
        for (role, name, vars) in [
            (
                "stripe_lifecycle",
                "StripeSyncProfile",
                json!({ "sso": SSO }),
            ),
            (
                "stripe_lifecycle",
                "StripeSyncLink",
                json!({"sso": SSO, "customer": "cus_B"}),
            ),
            ("stripe_sync", "StripeActivation", at.clone()),
            ("stripe_sync", "StripeDelinquent", at.clone()),
            ("stripe_sync", "StripeRecovered", at.clone()),
            ("stripe_sync", "StripePlanChange", at.clone()),
            ("user", "StripePlanChange", at.clone()),
        ] {
            let body = send(&fake, role, name, vars).await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"],
                json!("validation-failed"),
                "{role} {name}: {body}"
            );
        }
        assert_eq!(fake.profile(SSO).unwrap(), linked(SSO, "cus_A"));
        // stripe_sync's filter: a linked row is not updated even by the right customer.
        let relink = send(
            &fake,
            "stripe_sync",
            "StripeSyncLink",
            json!({"sso": SSO, "customer": "cus_A"}),
        )
        .await;
        assert_eq!(
            relink["data"]["update_customers"]["affected_rows"],
            json!(0)
        );
        // stripe_lifecycle's filter: a row without a Stripe id is never touched.
        let other = "11111111-2222-4333-8444-555555555555";
        fake.insert(Profile::new(other, "Ben", "Okafor", "ben@example.com"));
        let body = send(&fake, "stripe_lifecycle", "StripeActivation", at).await;
        assert_eq!(body["data"]["update_customers"]["affected_rows"], json!(1));
        assert_eq!(fake.profile(other).unwrap().activation_date, None);
    }

    #[tokio::test]
    async fn status_events_apply_in_stripe_order_whatever_the_delivery_order() {
        let fake = FakeHasura::start(SECRET);
        fake.insert(linked(SSO, "cus_A"));
        let (t1, t2, t3) = (1_800_000_000, 1_800_000_100, 1_800_000_200);
        let recovered = send(
            &fake,
            "stripe_lifecycle",
            "StripeRecovered",
            lifecycle("cus_A", t2),
        )
        .await;
        assert_eq!(
            recovered["data"]["update_customers"]["affected_rows"],
            json!(1)
        );
        // The older past_due event arrives late: it changes nothing.
        let late = send(
            &fake,
            "stripe_lifecycle",
            "StripeDelinquent",
            lifecycle("cus_A", t1),
        )
        .await;
        assert_eq!(
            late,
            json!({"data": {"first": {"affected_rows": 0}, "seen": {"affected_rows": 0}}})
        );
        let row = fake.profile(SSO).unwrap();
        assert_eq!(
            (row.delinquency_date, row.stripe_status_event_at),
            (None, Some(t2))
        );
        // A newer one sets both; its redelivery keeps the first date.
        for expected in [(1, 1), (0, 0)] {
            let body = send(
                &fake,
                "stripe_lifecycle",
                "StripeDelinquent",
                lifecycle("cus_A", t3),
            )
            .await;
            assert_eq!(
                (
                    body["data"]["first"]["affected_rows"].clone(),
                    body["data"]["seen"]["affected_rows"].clone()
                ),
                (json!(expected.0), json!(expected.1))
            );
        }
        let row = fake.profile(SSO).unwrap();
        assert_eq!(
            (row.delinquency_date, row.stripe_status_event_at),
            (Some(t3), Some(t3))
        );
    }

    #[tokio::test]
    async fn activation_keeps_the_earliest_date_and_plan_change_the_latest() {
        let fake = FakeHasura::start(SECRET);
        fake.insert(linked(SSO, "cus_A"));
        for at in [200, 100, 300] {
            for name in ["StripeActivation", "StripePlanChange"] {
                send(&fake, "stripe_lifecycle", name, lifecycle("cus_A", at)).await;
            }
        }
        let row = fake.profile(SSO).unwrap();
        assert_eq!(row.activation_date, Some(100));
        assert_eq!(row.plan_change_date, Some(300));
        let unknown = send(
            &fake,
            "stripe_lifecycle",
            "StripeActivation",
            lifecycle("cus_nobody", 50),
        )
        .await;
        assert_eq!(
            unknown["data"]["update_customers"]["affected_rows"],
            json!(0)
        );
    }

    #[tokio::test]
    async fn bad_variables_unknown_operations_and_other_documents_are_graphql_errors() {
        let fake = FakeHasura::start(SECRET);
        let code = |body: &Value| body["errors"][0]["extensions"]["code"].clone();
        let not_uuid = send(
            &fake,
            "stripe_sync",
            "StripeSyncProfile",
            json!({"sso": "x"}),
        )
        .await;
        assert_eq!(code(&not_uuid), json!("data-exception"));
        let no_at = send(
            &fake,
            "stripe_lifecycle",
            "StripeActivation",
            json!({"customer": "cus_A"}),
        )
        .await;
        assert_eq!(code(&no_at), json!("validation-failed"));
        let bad_at = send(
            &fake,
            "stripe_lifecycle",
            "StripeActivation",
            json!({"customer": "cus_A", "at": "yesterday"}),
        )
        .await;
        assert_eq!(code(&bad_at), json!("data-exception"));
        let client = reqwest::Client::new();
        for (name, query) in [
            ("DropTables", "mutation DropTables { x }"),
            (
                "StripeSyncProfile",
                "query StripeSyncProfile($sso: uuid!) { customers_by_pk(sso_id: $sso) { sso_id } }",
            ),
        ] {
            let body: Value = client
                .post(fake.url())
                .header("x-hasura-admin-secret", SECRET)
                .json(&json!({"query": query, "operationName": name, "variables": {"sso": SSO}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(code(&body), json!("validation-failed"), "{name}: {body}");
        }
        // The contract's document reformatted is still the contract's, and names itself.
        let reformatted = contract("StripeSyncProfile").replace(' ', "\n  ");
        let body: Value = client
            .post(fake.url())
            .header("x-hasura-admin-secret", SECRET)
            .json(&json!({"query": reformatted, "variables": {"sso": SSO}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body, json!({"data": {"customers_by_pk": null}}));
    }

    #[tokio::test]
    async fn fail_next_answers_http_errors_then_the_operations_run_again() {
        let fake = FakeHasura::start(SECRET);
        fake.insert(Profile::new(SSO, "Ada", "Lovelace", "ada@example.com"));
        fake.fail_next(2, 503);
        let vars = json!({"sso": SSO, "customer": "cus_A"});
        for _ in 0..2 {
            let (status, body) = send_as(
                &fake,
                Some(SECRET),
                Some("stripe_sync"),
                "StripeSyncLink",
                vars.clone(),
            )
            .await;
            assert_eq!(status, 503);
            assert!(body["errors"].is_array());
            assert_eq!(fake.profile(SSO).unwrap().stripe_customer_id, None);
        }
        let body = send(&fake, "stripe_sync", "StripeSyncLink", vars).await;
        assert_eq!(body["data"]["update_customers"]["affected_rows"], json!(1));
        assert_eq!(fake.requests_for("StripeSyncLink").len(), 3);
    }

    #[tokio::test]
    async fn held_requests_wait_for_release_and_then_all_run() {
        let fake = Arc::new(FakeHasura::start(SECRET));
        fake.insert(Profile::new(SSO, "Ada", "Lovelace", "ada@example.com"));
        fake.hold();
        let calls: Vec<_> = ["cus_A", "cus_B"]
            .into_iter()
            .map(|customer| {
                let fake = fake.clone();
                tokio::spawn(async move {
                    send(
                        &fake,
                        "stripe_sync",
                        "StripeSyncLink",
                        json!({"sso": SSO, "customer": customer}),
                    )
                    .await
                })
            })
            .collect();
        fake.wait_until_held(2).await;
        assert_eq!(fake.profile(SSO).unwrap().stripe_customer_id, None);
        fake.release();
        let mut affected = Vec::new();
        for call in calls {
            let body = call.await.unwrap();
            affected.push(body["data"]["update_customers"]["affected_rows"].clone());
        }
        affected.sort_by_key(|v| v.as_i64());
        assert_eq!(affected, [json!(0), json!(1)], "exactly one link wins");
    }

    #[test]
    fn timestamps_parse_iso_8601_with_offsets_and_format_as_hasura_does() {
        let t = 1_795_755_600; // 2026-11-27T05:00:00Z
        assert_eq!(format_timestamp(t), "2026-11-27T05:00:00+00:00");
        for raw in [
            "2026-11-27T05:00:00Z",
            "2026-11-27T05:00:00+00:00",
            "2026-11-27 06:00:00+01:00",
            "2026-11-27T00:30:00.999-0430",
            "2026-11-27T07:00:00+02",
        ] {
            assert_eq!(parse_timestamp(raw), Some(t), "{raw}");
        }
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T05:00:00",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-27T05:00:00.Z",
            "2026-11-27T05:00:00+0a:00",
            "1795842000",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(parse_timestamp("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00+00:00");
        for t in [-86_401, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_timestamp(&format_timestamp(t)), Some(t));
        }
    }
}
