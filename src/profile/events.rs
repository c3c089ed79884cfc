//! Hasura's `customers_stripe_sync` event trigger (`POST /hasura/events`): a profile's changes
//! follow to its Stripe customer.
//!
//! Every delivery (an insert, an update of the watched columns, a manual run) does two things:
//!
//! 1. **The phone in E.164** ([`phone_change`]): `phone_e164`, the form duplicates are
//!    compared in, follows `phone` and `country` (or `PHONE_DEFAULT_REGION`), written as the
//!    narrow `stripe_phone` role. When the event's own row already agrees, no call is made;
//!    otherwise the row is read as it is now (events for one row may come out of order) and
//!    written only while it still has the phone the value was computed from.
//! 2. **The Stripe customer**: an insert (or a manual run, or an update of a profile without
//!    one) ensures it ([`ProfileSync::ensure`]); an update of a linked profile's names or
//!    email sends them to Stripe, and a new or moved link makes its `metadata.sso` name the
//!    profile.
//!
//! **Redelivered events create nothing new**: ensuring is idempotent; an update's Stripe
//! write carries a key derived from the event id, so a redelivery is answered from Stripe's
//! record; the phone is written only when it differs. Handling an event never writes a column
//! the trigger watches, so the server's own write-backs end here (no loop). Hasura delivers at
//! least once, possibly out of order, and its `created_at` may carry no zone (UTC).

use serde_json::Value;
use uuid::Uuid;

use super::{
    display_name,
    hasura::{self, PhoneRow},
    phone::{self, Region},
    ProfileSync, SyncError,
};
use crate::{
    clock,
    ids::{IdKind, StripeId},
    stripe::{
        models::Customer,
        write::{Form, IdempotencyKey, Write},
    },
};

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

impl ProfileSync {
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
        let age_s = event.created_at().map(|at| clock::unix_now() - at);
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
        if matches!(event.event.op.as_str(), "INSERT" | "UPDATE" | "MANUAL") {
            self.keep_phone(&sso, new).await?;
        }
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
}

impl ProfileSync {
    /// Brings the profile's `phone_e164` in step with its phone and country (see the module
    /// docs). `row` is the event's new row: when its own columns already agree, nothing is
    /// asked of Hasura.
    async fn keep_phone(&self, sso: &Uuid, row: Option<&Value>) -> Result<(), SyncError> {
        let text = |name: &str| row.and_then(|r| r.get(name)).and_then(Value::as_str);
        let seen = PhoneRow {
            phone: text("phone").map(str::to_owned),
            country: text("country").map(str::to_owned),
            phone_e164: text("phone_e164").map(str::to_owned),
        };
        if phone_change(&seen, self.phone_region) == PhoneChange::Keep {
            return Ok(());
        }
        let Some(now) = self.hasura.phone(sso).await? else {
            return Ok(());
        };
        let written = match phone_change(&now, self.phone_region) {
            PhoneChange::Keep => return Ok(()),
            PhoneChange::Set(e164) => {
                let phone = now.phone.as_deref().unwrap_or_default();
                self.hasura.set_phone_e164(sso, phone, &e164).await?
            }
            PhoneChange::Clear => {
                let phone = now.phone.as_deref().unwrap_or_default();
                self.hasura.clear_phone_e164(sso, phone).await?
            }
        };
        tracing::info!(%sso, written, "profile phone_e164 kept in step");
        Ok(())
    }
}

/// What a profile's `phone_e164` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneChange {
    /// It is what its phone and country make.
    Keep,
    /// It must become this.
    Set(String),
    /// It must be cleared: the phone is gone or not a valid number.
    Clear,
}

/// The pure decision: the E.164 of the row's phone, read in its country (else
/// `default_region`), against the `phone_e164` it holds.
pub fn phone_change(row: &PhoneRow, default_region: Option<Region>) -> PhoneChange {
    let wanted = row
        .phone
        .as_deref()
        .and_then(|raw| phone::e164(raw, row.country.as_deref(), default_region));
    match (wanted, row.phone_e164.as_deref()) {
        (Some(wanted), Some(held)) if wanted == held => PhoneChange::Keep,
        (Some(wanted), _) => PhoneChange::Set(wanted),
        (None, Some(_)) => PhoneChange::Clear,
        (None, None) => PhoneChange::Keep,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(phone: Option<&str>, country: Option<&str>, e164: Option<&str>) -> PhoneRow {
        PhoneRow {
            phone: phone.map(str::to_owned),
            country: country.map(str::to_owned),
            phone_e164: e164.map(str::to_owned),
        }
    }

    #[test]
    fn the_phone_e164_follows_the_phone_read_in_the_profiles_country_or_the_default_region() {
        let us = Region::parse("US").ok();
        let set = |e: &str| PhoneChange::Set(e.to_owned());
        // Written in full, read in the profile's country, or in the default region.
        assert_eq!(
            phone_change(&row(Some("+1 (415) 555-0101"), None, None), None),
            set("+14155550101")
        );
        assert_eq!(
            phone_change(&row(Some("415-555-0101"), Some("US"), None), None),
            set("+14155550101")
        );
        assert_eq!(
            phone_change(&row(Some("415-555-0101"), None, None), us),
            set("+14155550101")
        );
        assert_eq!(
            phone_change(&row(Some("020 7946 0958"), Some("GB"), None), us),
            set("+442079460958")
        );
        // A national number with no region to read it in, or not a number: nothing to hold.
        assert_eq!(
            phone_change(&row(Some("415-555-0101"), None, None), None),
            PhoneChange::Keep
        );
        assert_eq!(
            phone_change(&row(Some("call me"), Some("US"), None), us),
            PhoneChange::Keep
        );
        assert_eq!(
            phone_change(&row(None, Some("US"), None), us),
            PhoneChange::Keep
        );
        // What it holds is kept when right, replaced when not, cleared when it names nothing.
        let held = Some("+14155550101");
        assert_eq!(
            phone_change(&row(Some("(415) 555-0101"), Some("US"), held), None),
            PhoneChange::Keep
        );
        assert_eq!(
            phone_change(&row(Some("(415) 555-0102"), Some("US"), held), None),
            set("+14155550102")
        );
        assert_eq!(
            phone_change(&row(Some("not a phone"), Some("US"), held), None),
            PhoneChange::Clear
        );
        assert_eq!(
            phone_change(&row(None, None, held), None),
            PhoneChange::Clear
        );
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
