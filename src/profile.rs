//! The Unified Customer Profile's Stripe side: every profile (a `customers` row, keyed by
//! the SSO uuid) gets exactly one Stripe customer, profile changes follow to Stripe, and the
//! profile's lifecycle dates follow Stripe's subscription events.
//!
//! Guarantees:
//! - **One Stripe customer per profile.** [`ProfileSync::ensure`] reads the profile through
//!   Hasura, answers its linked customer if it has one, else finds the Stripe customer whose
//!   `metadata.sso` is the uuid (Stripe search), else creates one with the
//!   [`ensure_key`] `Idempotency-Key` derived from the uuid. Stripe's search lags writes by up
//!   to a minute, so two racing calls may both miss it; they then send the same key with the
//!   same parameters and Stripe creates one customer and answers both with it. The link is
//!   written back through Hasura as the narrow `stripe_sync` role, only while the profile has
//!   no Stripe customer, and clears `temporary_subscription_plan`.
//! - **Redelivered Hasura events create nothing new**: an insert event runs
//!   [`ProfileSync::ensure`] (idempotent as above); an update event's Stripe write carries a
//!   key derived from the event id, so a redelivery is answered from Stripe's record.
//! - **Lifecycle dates are order-independent or older-loses** ([`lifecycle_changes`]):
//!   `activationDate` is the earliest time a subscription became active, `plan_change_date`
//!   the latest time one changed prices (both kept by the `where` of their update, so any
//!   delivery order gives the same result and a replay changes nothing); `delinquency_date`
//!   is set when a subscription turns `past_due`/`unpaid` and cleared when it recovers, and
//!   `stripe_status_event_at` records the newest status event applied, so an older event
//!   that arrives late changes nothing.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::{
    cache::StripeCache,
    hasura::{self, HasuraClient, HasuraError, LifecycleChange, Profile},
    ids::{IdKind, StripeId},
    stripe::{
        models::Customer,
        request::ListRequest,
        write::{Form, IdempotencyKey, Write},
        StripeError,
    },
    webhook::Event,
};

/// Why a profile could not be synchronised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// No profile has this uuid.
    #[error("no customer profile has sso_id {0}")]
    NoProfile(Uuid),
    /// The profile names a Stripe customer that Stripe does not have (deleted).
    #[error(
        "the profile is linked to Stripe customer {0}, which does not exist (deleted in Stripe?)"
    )]
    LinkedToMissing(String),
    /// Another Stripe customer was linked to the profile meanwhile.
    #[error("the profile was linked to Stripe customer {linked} while this call created or found {found}")]
    LinkedElsewhere {
        /// The customer now linked.
        linked: String,
        /// The customer this call had.
        found: String,
    },
    /// Hasura failed or refused.
    #[error(transparent)]
    Hasura(#[from] HasuraError),
    /// Stripe failed or refused.
    #[error(transparent)]
    Stripe(#[from] StripeError),
}

impl SyncError {
    /// Whether the failure clears on its own (Hasura or Stripe unreachable, failing or rate
    /// limiting), so the event should simply come again; otherwise Stripe or Hasura refused,
    /// or the profile needs a person.
    pub fn clears_on_its_own(&self) -> bool {
        match self {
            SyncError::Stripe(e) => e.is_transient(),
            SyncError::Hasura(e) => e.is_transient(),
            SyncError::NoProfile(_)
            | SyncError::LinkedToMissing(_)
            | SyncError::LinkedElsewhere { .. } => false,
        }
    }
}

/// The name the product gives a profile's Stripe customer: first and last name joined by a
/// space, either alone when the other is empty, `-` when both are (Stripe shows the name in
/// the Dashboard and on invoices; a blank one reads as missing data).
pub fn display_name(first: Option<&str>, last: Option<&str>) -> String {
    let parts: Vec<&str> = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The `Idempotency-Key` of the Stripe customer created for profile `sso_id`: the same for
/// every call about that profile, so racing creates make one customer.
pub fn ensure_key(sso_id: &Uuid) -> IdempotencyKey {
    IdempotencyKey::parse(&format!("profile-customer-{sso_id}")).expect("a valid key")
}

/// The Stripe search query for customers whose `metadata[key]` is `sso_id`. The key is a
/// validated metadata key (no quotes) and the uuid is hyphenated hex.
pub fn sso_search_query(key: &str, sso_id: &Uuid) -> String {
    format!("metadata['{key}']:'{sso_id}'")
}

/// What [`ProfileSync::ensure`] did.
#[derive(Debug, Clone)]
pub struct Ensured {
    /// The profile's Stripe customer.
    pub customer: Arc<Customer>,
    /// `linked`: the profile already named it; `found`: found by search and linked;
    /// `created`: created and linked.
    pub outcome: &'static str,
}

/// A Hasura event trigger delivery for `public.customers` (the fields read).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ProfileEvent {
    /// The delivery's event id (the same on redelivery).
    pub id: String,
    /// When Hasura logged the change, as Hasura writes it: a timestamp that may carry no zone
    /// designator, which is UTC ([`hasura::parse_timestamp`]); only logged.
    #[serde(default)]
    pub created_at: Option<String>,
    /// The table.
    pub table: EventTable,
    /// The change.
    pub event: EventBody,
}

impl ProfileEvent {
    /// Reads a delivery of the `customers_stripe_sync` trigger: a Hasura event trigger
    /// payload on `public.customers`, else why not.
    pub fn parse(body: &[u8]) -> Result<ProfileEvent, String> {
        let event: ProfileEvent = serde_json::from_slice(body)
            .map_err(|e| format!("the body is not a Hasura event trigger payload: {e}"))?;
        if (event.table.schema.as_str(), event.table.name.as_str()) != ("public", "customers") {
            return Err("only events on public.customers are handled here".to_owned());
        }
        Ok(event)
    }

    /// When Hasura logged the change (Unix seconds), when it says so readably.
    pub fn created_at(&self) -> Option<i64> {
        self.created_at.as_deref().and_then(hasura::parse_timestamp)
    }
}

/// Where the event happened.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct EventTable {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
}

/// The change an event trigger reports.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct EventBody {
    /// `INSERT`, `UPDATE`, `DELETE` or `MANUAL`.
    pub op: String,
    /// The row before and after.
    pub data: EventData,
}

/// Rows before and after.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct EventData {
    /// Before (null on insert).
    pub old: Option<Value>,
    /// After (null on delete).
    pub new: Option<Value>,
}

/// The profile side of Stripe: Hasura for the profile, the cache (and its client) for Stripe.
#[derive(Clone)]
pub struct ProfileSync {
    hasura: HasuraClient,
    cache: StripeCache,
    metadata_key: String,
}

impl ProfileSync {
    /// Syncs through `hasura` and `cache`; the uuid is kept under `metadata[metadata_key]`.
    pub fn new(hasura: HasuraClient, cache: StripeCache, metadata_key: String) -> ProfileSync {
        ProfileSync {
            hasura,
            cache,
            metadata_key,
        }
    }

    /// The profile's Stripe customer, found or created and linked (see the module docs).
    pub async fn ensure(&self, sso_id: &Uuid) -> Result<Ensured, SyncError> {
        let profile = self
            .hasura
            .profile(sso_id)
            .await?
            .ok_or(SyncError::NoProfile(*sso_id))?;
        if let Some(linked) = &profile.stripe_customer_id {
            let id = StripeId::parse(IdKind::Customer, linked)
                .map_err(|_| SyncError::LinkedToMissing(linked.clone()))?;
            let customer = self
                .cache
                .customer(&id, false)
                .await?
                .ok_or_else(|| SyncError::LinkedToMissing(linked.clone()))?;
            return Ok(Ensured {
                customer,
                outcome: "linked",
            });
        }
        let (customer, outcome) = match self.find(sso_id).await? {
            Some(found) => (found, "found"),
            None => (self.create(sso_id, &profile).await?, "created"),
        };
        if !self.hasura.link(sso_id, &customer.id).await? {
            // Linked meanwhile (a racing call) or gone: read what it is now.
            match self.hasura.profile(sso_id).await? {
                None => return Err(SyncError::NoProfile(*sso_id)),
                Some(now) if now.stripe_customer_id.as_deref() == Some(&customer.id) => {}
                Some(now) => {
                    return Err(SyncError::LinkedElsewhere {
                        linked: now.stripe_customer_id.unwrap_or_default(),
                        found: customer.id.clone(),
                    })
                }
            }
        }
        tracing::info!(%sso_id, customer = %customer.id, outcome, "profile linked to its stripe customer");
        Ok(Ensured { customer, outcome })
    }

    /// The oldest live Stripe customer whose metadata names this profile, if Stripe's search
    /// finds one.
    async fn find(&self, sso_id: &Uuid) -> Result<Option<Arc<Customer>>, SyncError> {
        let query = sso_search_query(&self.metadata_key, sso_id);
        let mut found = self.cache.search_customers(&query).await?;
        let uuid = sso_id.to_string();
        found.retain(|c| c.metadata.get(&self.metadata_key).and_then(Value::as_str) == Some(&uuid));
        if found.len() > 1 {
            tracing::warn!(%sso_id, count = found.len(), "several stripe customers name this profile; linking the oldest (see duplicateStripeCustomers)");
        }
        Ok(found
            .into_iter()
            .min_by_key(|c| (c.created.0, c.id.clone())))
    }

    async fn create(&self, sso_id: &Uuid, profile: &Profile) -> Result<Arc<Customer>, SyncError> {
        let mut form = Form::new();
        form.set(
            "name",
            display_name(profile.first_name.as_deref(), profile.last_name.as_deref()),
        );
        if let Some(email) = profile
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            form.set("email", email);
        }
        form.set(
            format!("metadata[{}]", self.metadata_key),
            sso_id.to_string(),
        );
        let write = Write::create(IdKind::Customer, form, Some(ensure_key(sso_id)));
        Ok(self.cache.write::<Customer>(&write).await?)
    }

    /// Acts on one Hasura event trigger delivery for `public.customers`: an insert (or a
    /// manual run) ensures the profile's Stripe customer; an update of the email or names
    /// of a linked profile sends them to Stripe (key derived from the event id); an update
    /// that links the profile (the write-back, or a merge moving a link here) makes the
    /// customer's `metadata.sso` name this profile if it does not; an update of an unlinked
    /// profile ensures it; anything else is ignored. Handling an update never writes the
    /// profile, so the write-back's own event ends here (no loop). Returns the outcome and
    /// the Stripe customer id.
    pub async fn on_profile_event(
        &self,
        event: &ProfileEvent,
    ) -> Result<(&'static str, Option<String>), SyncError> {
        let answer = self.apply_profile_event(event).await;
        let age_s = event.created_at().map(|at| crate::webhook::unix_now() - at);
        match &answer {
            Ok((outcome, _)) => {
                tracing::info!(event_id = %event.id, op = %event.event.op, outcome, age_s, "hasura profile event")
            }
            Err(SyncError::NoProfile(_)) => {
                tracing::info!(event_id = %event.id, op = %event.event.op, outcome = "no_profile", age_s, "hasura profile event")
            }
            Err(e @ (SyncError::LinkedToMissing(_) | SyncError::LinkedElsewhere { .. })) => {
                tracing::warn!(event_id = %event.id, error = %e, age_s, "hasura profile event needs a person")
            }
            Err(e) => {
                tracing::warn!(event_id = %event.id, error = %e, age_s, "hasura profile event failed; hasura will deliver it again")
            }
        }
        answer
    }

    async fn apply_profile_event(
        &self,
        event: &ProfileEvent,
    ) -> Result<(&'static str, Option<String>), SyncError> {
        let new = event.event.data.new.as_ref();
        let sso = new
            .and_then(|row| row.get("sso_id"))
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok());
        let Some(sso) = sso else {
            return Ok(("ignored", None));
        };
        let linked = new
            .and_then(|row| row.get("stripe_customer_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match (event.event.op.as_str(), linked) {
            ("INSERT" | "MANUAL", _) | ("UPDATE", None) => {
                let ensured = self.ensure(&sso).await?;
                Ok((ensured.outcome, Some(ensured.customer.id.clone())))
            }
            ("UPDATE", Some(customer)) => {
                let old = event.event.data.old.as_ref();
                let mut form = profile_changes(old, new);
                let id = StripeId::parse(IdKind::Customer, &customer)
                    .map_err(|_| SyncError::LinkedToMissing(customer.clone()))?;
                let old_link = old
                    .and_then(|row| row.get("stripe_customer_id"))
                    .and_then(Value::as_str);
                if old_link != Some(customer.as_str()) {
                    // Linked just now, or moved here by a profile merge: the customer's
                    // metadata must name this profile (data scoping matches on it).
                    let current = self
                        .cache
                        .customer(&id, false)
                        .await?
                        .ok_or_else(|| SyncError::LinkedToMissing(customer.clone()))?;
                    let uuid = sso.to_string();
                    let named = current
                        .metadata
                        .get(&self.metadata_key)
                        .and_then(Value::as_str);
                    if named != Some(uuid.as_str()) {
                        form.set(format!("metadata[{}]", self.metadata_key), uuid);
                    }
                }
                if form.is_empty() {
                    return Ok(("unchanged", Some(customer)));
                }
                let key = IdempotencyKey::parse(&format!("profile-event-{}", event.id))
                    .unwrap_or_else(|_| IdempotencyKey::generate());
                let write = Write::update(id, form, Some(key));
                self.cache.write::<Customer>(&write).await?;
                Ok(("updated", Some(customer)))
            }
            _ => Ok(("ignored", None)),
        }
    }

    /// Applies a Stripe event's lifecycle changes to the linked profile ([`lifecycle_changes`]).
    /// Returns how many profile rows changed.
    pub async fn on_stripe_event(&self, event: &Event) -> Result<u64, SyncError> {
        let Some(plan) = lifecycle_changes(event) else {
            return Ok(0);
        };
        let mut changed = 0;
        for &change in &plan.changes {
            if change == LifecycleChange::Recovered
                && self.other_subscription_is_delinquent(&plan).await?
            {
                continue;
            }
            changed += self
                .hasura
                .lifecycle(&plan.customer, change, plan.at)
                .await?;
        }
        Ok(changed)
    }

    /// Whether another subscription of the customer is still `past_due` or `unpaid`: then
    /// one recovering does not end the customer's delinquency.
    async fn other_subscription_is_delinquent(
        &self,
        plan: &LifecyclePlan,
    ) -> Result<bool, SyncError> {
        let Ok(customer) = StripeId::parse(IdKind::Customer, &plan.customer) else {
            return Ok(false);
        };
        let page = self
            .cache
            .subscriptions(&ListRequest::of_customer(&customer))
            .await?;
        Ok(page.data.iter().any(|s| {
            s.id != plan.subscription && matches!(s.status.as_str(), "past_due" | "unpaid")
        }))
    }
}

/// The Stripe form for a profile update: `name` when a name changed, `email` when it changed.
fn profile_changes(old: Option<&Value>, new: Option<&Value>) -> Form {
    let field = |row: Option<&Value>, name: &str| {
        row.and_then(|r| r.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut form = Form::new();
    let names = |row| (field(row, "firstName"), field(row, "lastName"));
    if names(old) != names(new) {
        let (first, last) = names(new);
        form.set("name", display_name(first.as_deref(), last.as_deref()));
    }
    let email = field(new, "email");
    if field(old, "email") != email {
        form.set("email", email.unwrap_or_default().trim());
    }
    form
}

/// What one Stripe event changes on a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePlan {
    /// The Stripe customer whose profile changes.
    pub customer: String,
    /// The subscription the event is about.
    pub subscription: String,
    /// When the event was created (Unix seconds).
    pub at: i64,
    /// The changes, in order.
    pub changes: Vec<LifecycleChange>,
}

/// The lifecycle changes a Stripe event makes, a pure decision:
///
/// | event | condition | change |
/// |---|---|---|
/// | `customer.subscription.created`, `.updated`, `.resumed` | now `active`, and created so or `previous_attributes.status` differs | `Activated` |
/// | same | now `active`, previously `past_due` or `unpaid` | `Recovered` |
/// | `.created`, `.updated` | now `past_due` or `unpaid`, previously neither (or created so) | `Delinquent` |
/// | `.updated` | `previous_attributes.items` (or `.plan`) names other prices than the items now | `PlanChanged` |
///
/// `None` for other events, or one without `created`, a customer or a subscription id.
pub fn lifecycle_changes(event: &Event) -> Option<LifecyclePlan> {
    let action = event.event_type.strip_prefix("customer.subscription.")?;
    if !matches!(action, "created" | "updated" | "resumed") {
        return None;
    }
    let object = &event.object;
    let subscription = object.get("id")?.as_str()?.to_owned();
    let customer = match object.get("customer")? {
        Value::String(id) => id.clone(),
        expanded => expanded.get("id")?.as_str()?.to_owned(),
    };
    let at = event.created?;
    let status = object
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let previous = event.previous_attributes.as_ref();
    let previous_status = previous
        .and_then(|p| p.get("status"))
        .and_then(Value::as_str);
    let entered = action == "created" || previous_status.is_some_and(|p| p != status);
    let delinquent = |s: &str| matches!(s, "past_due" | "unpaid");
    let mut changes = Vec::new();
    if status == "active" && (entered || action == "resumed") {
        changes.push(LifecycleChange::Activated);
        if previous_status.is_some_and(delinquent) {
            changes.push(LifecycleChange::Recovered);
        }
    }
    if delinquent(status) && entered && !previous_status.is_some_and(delinquent) {
        changes.push(LifecycleChange::Delinquent);
    }
    if action == "updated" {
        if let Some(previous) = previous {
            let now = prices(object);
            let before = previous.get("items").map(prices).or_else(|| {
                previous
                    .get("plan")
                    .map(|plan| id_set(std::iter::once(plan)))
            });
            if before.is_some_and(|before| before != now) {
                changes.push(LifecycleChange::PlanChanged);
            }
        }
    }
    (!changes.is_empty()).then_some(LifecyclePlan {
        customer,
        subscription,
        at,
        changes,
    })
}

/// The price (or plan) ids of a subscription's or a previous `items` list's items.
fn prices(holder: &Value) -> Vec<String> {
    let items = holder
        .get("items")
        .and_then(|items| items.get("data"))
        .or_else(|| holder.get("data"))
        .and_then(Value::as_array);
    let Some(items) = items else {
        return Vec::new();
    };
    id_set(
        items
            .iter()
            .filter_map(|item| item.get("price").or_else(|| item.get("plan"))),
    )
}

fn id_set<'a>(values: impl Iterator<Item = &'a Value>) -> Vec<String> {
    let mut ids: Vec<String> = values
        .filter_map(|v| match v {
            Value::String(id) => Some(id.clone()),
            object => object.get("id").and_then(Value::as_str).map(str::to_owned),
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use LifecycleChange::*;

    #[test]
    fn the_name_rule_joins_first_and_last_and_falls_back_to_a_dash() {
        assert_eq!(display_name(Some("Jane"), Some("Doe")), "Jane Doe");
        assert_eq!(display_name(Some(" Jane "), Some("")), "Jane");
        assert_eq!(display_name(None, Some("Doe")), "Doe");
        assert_eq!(display_name(Some("  "), None), "-");
        assert_eq!(display_name(None, None), "-");
    }

    #[test]
    fn the_creation_key_is_the_same_for_every_call_about_a_profile() {
        let sso = Uuid::parse_str("6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60").unwrap();
        assert_eq!(ensure_key(&sso), ensure_key(&sso));
        assert_eq!(
            ensure_key(&sso).as_str(),
            "profile-customer-6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60"
        );
        assert_eq!(
            sso_search_query("sso", &sso),
            "metadata['sso']:'6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60'"
        );
    }

    fn event(kind: &str, object: Value, previous: Option<Value>) -> Event {
        Event {
            id: Some("evt_1".into()),
            event_type: kind.into(),
            object,
            created: Some(1_800_000_000),
            previous_attributes: previous,
        }
    }

    fn sub(status: &str, prices: &[&str]) -> Value {
        let items: Vec<Value> = prices
            .iter()
            .map(|p| json!({"id": format!("si_{p}"), "price": {"id": p}}))
            .collect();
        json!({"id": "sub_1", "customer": "cus_1", "status": status, "items": {"data": items}})
    }

    fn changes(event: &Event) -> Vec<LifecycleChange> {
        lifecycle_changes(event)
            .map(|p| p.changes)
            .unwrap_or_default()
    }

    #[test]
    fn becoming_active_activates_and_recovering_clears_delinquency() {
        let created = event(
            "customer.subscription.created",
            sub("active", &["p1"]),
            None,
        );
        let plan = lifecycle_changes(&created).unwrap();
        assert_eq!(plan.customer, "cus_1");
        assert_eq!(plan.subscription, "sub_1");
        assert_eq!(plan.at, 1_800_000_000);
        assert_eq!(plan.changes, [Activated]);
        let from_trial = event(
            "customer.subscription.updated",
            sub("active", &["p1"]),
            Some(json!({"status": "trialing"})),
        );
        assert_eq!(changes(&from_trial), [Activated]);
        let recovered = event(
            "customer.subscription.updated",
            sub("active", &["p1"]),
            Some(json!({"status": "past_due"})),
        );
        assert_eq!(changes(&recovered), [Activated, Recovered]);
        let resumed = event(
            "customer.subscription.resumed",
            sub("active", &["p1"]),
            None,
        );
        assert_eq!(changes(&resumed), [Activated]);
    }

    #[test]
    fn turning_past_due_or_unpaid_is_delinquency_once() {
        for status in ["past_due", "unpaid"] {
            let turned = event(
                "customer.subscription.updated",
                sub(status, &["p1"]),
                Some(json!({"status": "active"})),
            );
            assert_eq!(changes(&turned), [Delinquent], "{status}");
        }
        let still = event(
            "customer.subscription.updated",
            sub("unpaid", &["p1"]),
            Some(json!({"status": "past_due"})),
        );
        assert_eq!(changes(&still), []);
    }

    #[test]
    fn a_price_change_is_a_plan_change_and_a_quantity_change_is_not() {
        let swapped = event(
            "customer.subscription.updated",
            sub("active", &["p2"]),
            Some(json!({"items": {"data": [{"id": "si_p1", "price": {"id": "p1"}}]}})),
        );
        assert_eq!(changes(&swapped), [PlanChanged]);
        let quantity = event(
            "customer.subscription.updated",
            sub("active", &["p1"]),
            Some(
                json!({"items": {"data": [{"id": "si_p1", "price": {"id": "p1"}, "quantity": 1}]}}),
            ),
        );
        assert_eq!(changes(&quantity), []);
        let legacy = event(
            "customer.subscription.updated",
            sub("active", &["p2"]),
            Some(json!({"plan": {"id": "p1"}})),
        );
        assert_eq!(changes(&legacy), [PlanChanged]);
    }

    #[test]
    fn other_events_and_events_without_a_time_change_nothing() {
        assert_eq!(
            lifecycle_changes(&event("customer.updated", json!({"id": "cus_1"}), None)),
            None
        );
        assert_eq!(
            lifecycle_changes(&event(
                "customer.subscription.deleted",
                sub("canceled", &["p1"]),
                None
            )),
            None
        );
        let mut untimed = event(
            "customer.subscription.created",
            sub("active", &["p1"]),
            None,
        );
        untimed.created = None;
        assert_eq!(lifecycle_changes(&untimed), None);
        let metadata_only = event(
            "customer.subscription.updated",
            sub("active", &["p1"]),
            Some(json!({"metadata": {}})),
        );
        assert_eq!(lifecycle_changes(&metadata_only), None);
    }

    #[test]
    fn a_profile_update_sends_only_what_changed() {
        let old = json!({"firstName": "Jane", "lastName": "Doe", "email": "jane@example.com"});
        let renamed = json!({"firstName": "Jane", "lastName": "Roe", "email": "jane@example.com"});
        assert_eq!(
            profile_changes(Some(&old), Some(&renamed)).pairs(),
            [("name".to_owned(), "Jane Roe".to_owned())]
        );
        let moved = json!({"firstName": "Jane", "lastName": "Doe", "email": "jane@new.example"});
        assert_eq!(
            profile_changes(Some(&old), Some(&moved)).pairs(),
            [("email".to_owned(), "jane@new.example".to_owned())]
        );
        assert!(profile_changes(Some(&old), Some(&old)).is_empty());
    }
}
