//! Serde models of the Stripe objects this server reads, which are also the GraphQL object
//! types (`StripeCustomer`, `StripeSubscription`, …).
//!
//! Each model derives `Deserialize` for Stripe's JSON and `SimpleObject` for GraphQL: a field's
//! doc comment is its GraphQL description, and a field that GraphQL shows under another name
//! (`customer` → `customerId`) or not at all says so in its `#[graphql]` attribute. Fields that
//! need a Stripe call or a computation (`StripeCustomer.subscriptions`,
//! `StripeSubscription.items`, `StripePrice.product`, …) are `#[ComplexObject]` resolvers in
//! the domain modules of [`crate::graphql`].
//!
//! The models target API version `2026-07-29.dahlia` and stay readable on other versions:
//! unknown fields are ignored, every field that some version lacks is optional, and renamed
//! fields carry their old name as an alias (`account_balance` → `balance`). After decoding,
//! [`StripeObject::normalize`] fills what older or newer versions put elsewhere, in one place:
//!
//! - **Current period** (moved from the subscription to its items in `2025-03-31.basil`): an
//!   item without its own period takes the subscription's; a subscription without one gets
//!   [`derived_current_period`] of its items.
//! - **Subscription `plan` and `quantity`** (dropped from the typed API in `2020-08-27`): set
//!   from the only item when the subscription has exactly one, as Stripe used to.
//! - **Item `price`** (missing on pre-2018 shapes such as localstripe's): synthesized from the
//!   item's plan, which is the legacy view of the same price.

use std::sync::Arc;

use async_graphql::{Json, SimpleObject};
use serde::{Deserialize, Deserializer, Serialize};

use super::scalars::{StripeAmount, StripeCount, UnixTimestamp};

/// Free-form key/value metadata. Stripe sends strings; other JSON values are kept as sent.
pub use super::metadata::Metadata;

/// Behaviour shared by every top-level Stripe object this server reads.
pub trait StripeObject: for<'de> Deserialize<'de> + Send + Sync + 'static {
    /// Stripe's `object` value, e.g. `"customer"`: an answer with another value is not this
    /// object (the client refuses it).
    const OBJECT: &'static str;
    /// The object's id.
    fn id(&self) -> &str;
    /// Fills fields that other API versions put elsewhere (see the module docs).
    fn normalize(&mut self) {}
}

/// A page of a Stripe list: `{object: "list", data, has_more, url}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct List<T> {
    /// The objects on this page, in Stripe's order (newest first for most lists).
    pub data: Vec<Arc<T>>,
    /// Whether Stripe has more objects after the last one in `data`.
    #[serde(default)]
    pub has_more: bool,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            data: Vec::new(),
            has_more: false,
        }
    }
}

impl<T: StripeObject + Clone> List<T> {
    /// Normalizes every object of the page.
    pub fn normalize(&mut self) {
        for item in &mut self.data {
            Arc::make_mut(item).normalize();
        }
    }
}

/// A postal address.
#[derive(Debug, Clone, Deserialize, Serialize, Default, SimpleObject)]
#[graphql(name = "StripeAddress")]
pub struct Address {
    /// City, district, suburb, town, or village.
    pub city: Option<String>,
    /// Two-letter country code (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Address line 1 (street, PO box, or company name).
    pub line1: Option<String>,
    /// Address line 2 (apartment, suite, unit, or building).
    pub line2: Option<String>,
    /// ZIP or postal code.
    pub postal_code: Option<String>,
    /// State, county, province, or region.
    pub state: Option<String>,
}

/// `invoice_settings` of a customer (only what the schema exposes).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct InvoiceSettings {
    /// Default payment method for invoices (an id, or the object when expanded).
    #[serde(default, deserialize_with = "expandable_id_opt")]
    pub default_payment_method: Option<String>,
}

/// A Stripe customer (`cus_…`).
#[derive(Debug, Clone, Deserialize, Serialize, SimpleObject)]
#[graphql(name = "StripeCustomer", complex)]
pub struct Customer {
    /// Unique identifier (`cus_…`).
    pub id: String,
    /// Billing address.
    pub address: Option<Box<Address>>,
    /// Current balance in the smallest currency unit, applied to the next invoice. Negative
    /// is a credit to the customer; positive is an amount owed.
    #[serde(default, alias = "account_balance")]
    pub balance: StripeAmount,
    /// Business name (Stripe API 2025-09-30.clover and later).
    pub business_name: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created: UnixTimestamp,
    /// Three-letter ISO currency code the customer is billed in, lowercase.
    pub currency: Option<String>,
    /// Whether the customer's latest invoice is past due (or, for cards, a charge failed).
    pub delinquent: Option<bool>,
    /// Arbitrary description.
    pub description: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Individual's name (Stripe API 2025-09-30.clover and later).
    pub individual_name: Option<String>,
    /// Prefix of the customer's invoice numbers.
    pub invoice_prefix: Option<String>,
    /// Invoice settings (GraphQL shows `defaultPaymentMethodId` from them).
    #[graphql(skip)]
    pub invoice_settings: Option<InvoiceSettings>,
    /// True in live mode, false in test mode.
    #[serde(default)]
    pub livemode: bool,
    /// Key/value metadata, as a JSON object (`{}` when empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Json<Metadata>,
    /// Full name or business name.
    pub name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Preferred locales, most preferred first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub preferred_locales: Vec<String>,
    /// Tax exemption: `none`, `exempt` or `reverse` (Stripe may add values).
    pub tax_exempt: Option<String>,
}

impl StripeObject for Customer {
    const OBJECT: &'static str = "customer";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Why and how a subscription was canceled.
#[derive(Debug, Clone, Deserialize, Serialize, Default, SimpleObject)]
#[graphql(name = "StripeCancellationDetails")]
pub struct CancellationDetails {
    /// Free-text comment from the customer.
    pub comment: Option<String>,
    /// The customer's feedback choice, e.g. `too_expensive` (Stripe may add values).
    pub feedback: Option<String>,
    /// Why it was canceled, e.g. `cancellation_requested` (Stripe may add values).
    pub reason: Option<String>,
}

/// Paused invoice collection.
#[derive(Debug, Clone, Deserialize, Serialize, Default, SimpleObject)]
#[graphql(name = "StripePauseCollection")]
pub struct PauseCollection {
    /// `keep_as_draft`, `mark_uncollectible` or `void` (Stripe may add values).
    pub behavior: Option<String>,
    /// When collection resumes.
    pub resumes_at: Option<UnixTimestamp>,
}

/// A Stripe subscription (`sub_…`): a customer's recurring charge for one or more prices.
#[derive(Debug, Clone, Deserialize, Serialize, SimpleObject)]
#[graphql(name = "StripeSubscription", complex)]
pub struct Subscription {
    /// Unique identifier (`sub_…`).
    pub id: String,
    /// Id of the customer (`cus_…`).
    #[serde(deserialize_with = "expandable_id")]
    #[graphql(name = "customerId")]
    pub customer: String,
    /// Status as Stripe sends it: `incomplete`, `incomplete_expired`, `trialing`, `active`,
    /// `past_due`, `canceled`, `unpaid` or `paused` today. A plain string, so a value Stripe
    /// adds later passes through instead of failing the query.
    pub status: String,
    /// The subscription's items as embedded (GraphQL's `items` completes a truncated list).
    #[serde(default)]
    #[graphql(skip)]
    pub items: List<SubscriptionItem>,
    /// Reference point for billing-cycle dates.
    pub billing_cycle_anchor: Option<UnixTimestamp>,
    /// When the subscription will be canceled (a scheduled cancellation), or was.
    pub cancel_at: Option<UnixTimestamp>,
    /// Whether the subscription cancels at the end of the current period.
    #[serde(default)]
    pub cancel_at_period_end: bool,
    /// When cancellation was requested (even if it takes effect later).
    pub canceled_at: Option<UnixTimestamp>,
    /// Why and how it was canceled.
    pub cancellation_details: Option<CancellationDetails>,
    /// `charge_automatically` or `send_invoice` (Stripe may add values).
    pub collection_method: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created: UnixTimestamp,
    /// Three-letter ISO currency code, lowercase.
    pub currency: Option<String>,
    /// Start of the current billing period. Stripe moved this field onto the items in API
    /// version 2025-03-31.basil; when the subscription itself has none, it is derived from
    /// the items: the **latest** item `currentPeriodStart`, so that with the end below it
    /// spans the period every item is in. With a single item (or classic billing, where all
    /// items share one period) this is exactly the value Stripe used to send.
    pub current_period_start: Option<UnixTimestamp>,
    /// End of the current billing period: the next renewal. When the subscription itself has
    /// none (API 2025-03-31.basil and later), derived as the **earliest** item
    /// `currentPeriodEnd`; see `currentPeriodStart`.
    pub current_period_end: Option<UnixTimestamp>,
    /// Days until an invoice is due (`send_invoice` only).
    pub days_until_due: Option<StripeCount>,
    /// Id of the default payment method.
    #[serde(default, deserialize_with = "expandable_id_opt")]
    #[graphql(name = "defaultPaymentMethodId")]
    pub default_payment_method: Option<String>,
    /// Description shown to the customer.
    pub description: Option<String>,
    /// When the subscription ended, if it has.
    pub ended_at: Option<UnixTimestamp>,
    /// Id of the most recent invoice.
    #[serde(default, deserialize_with = "expandable_id_opt")]
    #[graphql(name = "latestInvoiceId")]
    pub latest_invoice: Option<String>,
    /// True in live mode, false in test mode.
    #[serde(default)]
    pub livemode: bool,
    /// Key/value metadata, as a JSON object (`{}` when empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Json<Metadata>,
    /// Paused collection, if any.
    pub pause_collection: Option<PauseCollection>,
    /// The plan when the subscription has exactly one item (that item's plan), as Stripe's
    /// former subscription-level `plan` field; null when it has several items. Prefer
    /// `items { data { price } }`.
    pub plan: Option<Arc<Plan>>,
    /// The quantity when the subscription has exactly one item, as Stripe's former
    /// subscription-level `quantity`; null otherwise or for metered prices.
    pub quantity: Option<StripeCount>,
    /// When the subscription started (may precede `created` if backdated).
    pub start_date: Option<UnixTimestamp>,
    /// End of the trial, if any.
    pub trial_end: Option<UnixTimestamp>,
    /// Start of the trial, if any.
    pub trial_start: Option<UnixTimestamp>,
}

impl StripeObject for Subscription {
    const OBJECT: &'static str = "subscription";
    fn id(&self) -> &str {
        &self.id
    }

    fn normalize(&mut self) {
        for item in &mut self.items.data {
            let item = Arc::make_mut(item);
            if item.subscription.is_none() {
                item.subscription = Some(self.id.clone());
            }
            if item.current_period_start.is_none() && item.current_period_end.is_none() {
                item.current_period_start = self.current_period_start;
                item.current_period_end = self.current_period_end;
            }
            item.normalize();
        }
        if self.current_period_start.is_none() && self.current_period_end.is_none() {
            let (start, end) = derived_current_period(&self.items.data);
            self.current_period_start = start;
            self.current_period_end = end;
        }
        if let [only] = self.items.data.as_slice() {
            if self.plan.is_none() {
                self.plan = only.plan.clone();
            }
            if self.quantity.is_none() {
                self.quantity = only.quantity;
            }
        }
    }
}

/// The subscription's current period derived from its items, for API versions
/// (`2025-03-31.basil` and later) where only items carry one.
///
/// The rule: the intersection of the items' current periods, i.e. the **latest** item start
/// and the **earliest** item end. Under classic billing every item shares one period, so this
/// is exactly the value Stripe used to send on the subscription; with mixed intervals it is
/// the span every item is in, ending at the next renewal of any item. Items without a period
/// are ignored; with none left, both ends are `None`. The result does not depend on the items'
/// order. Stripe's items are all current, so their periods share an instant and the derived
/// period contains it; items whose periods share none (not something Stripe sends) would give
/// a start after the end.
pub fn derived_current_period(
    items: &[Arc<SubscriptionItem>],
) -> (Option<UnixTimestamp>, Option<UnixTimestamp>) {
    let start = items.iter().filter_map(|i| i.current_period_start).max();
    let end = items.iter().filter_map(|i| i.current_period_end).min();
    (start, end)
}

/// An item of a subscription (`si_…`): one price and its quantity.
#[derive(Debug, Clone, Deserialize, Serialize, SimpleObject)]
#[graphql(name = "StripeSubscriptionItem")]
pub struct SubscriptionItem {
    /// Unique identifier (`si_…`).
    pub id: String,
    /// Creation time.
    pub created: Option<UnixTimestamp>,
    /// Start of the item's current billing period (API 2025-03-31.basil and later; taken
    /// from the subscription on older versions).
    pub current_period_start: Option<UnixTimestamp>,
    /// End of the item's current billing period (API 2025-03-31.basil and later; taken
    /// from the subscription on older versions).
    pub current_period_end: Option<UnixTimestamp>,
    /// Key/value metadata, as a JSON object (`{}` when empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Json<Metadata>,
    /// The legacy plan view of the price (embedded; no Stripe call).
    pub plan: Option<Arc<Plan>>,
    /// The price (embedded; no Stripe call). On old API shapes that carry only a plan, the
    /// price is built from the plan, which is the legacy view of the same price.
    pub price: Option<Arc<Price>>,
    /// Quantity (null for metered prices).
    pub quantity: Option<StripeCount>,
    /// Id of the subscription the item belongs to.
    #[graphql(name = "subscriptionId")]
    pub subscription: Option<String>,
}

impl StripeObject for SubscriptionItem {
    const OBJECT: &'static str = "subscription_item";
    fn id(&self) -> &str {
        &self.id
    }

    fn normalize(&mut self) {
        if self.price.is_none() {
            self.price = self.plan.as_deref().map(|plan| Arc::new(plan.as_price()));
        }
    }
}

/// How a recurring price bills.
#[derive(Debug, Clone, Deserialize, Serialize, SimpleObject, PartialEq)]
#[graphql(name = "StripePriceRecurring")]
pub struct Recurring {
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    /// Number of intervals between billings (3 with `month` bills quarterly).
    #[serde(default = "one")]
    pub interval_count: StripeCount,
    /// `licensed` (billed by quantity) or `metered` (billed by usage).
    #[serde(default = "licensed")]
    pub usage_type: String,
    /// Billing meter id, for metered prices.
    pub meter: Option<String>,
    /// Default trial length in days for subscriptions to this price.
    pub trial_period_days: Option<StripeCount>,
    /// How metered usage was aggregated: `sum`, `last_during_period`, `last_ever` or `max`.
    /// Stripe removed this field in API version 2025-03-31.basil along with legacy usage
    /// records; it is null on that version and later and kept so older queries still run.
    #[graphql(
        deprecation = "Removed by Stripe in API version 2025-03-31.basil; always null on later versions."
    )]
    pub aggregate_usage: Option<String>,
}

/// A Stripe price (`price_…`): how much and how often to charge for a product.
#[derive(Debug, Clone, Deserialize, Serialize, SimpleObject, PartialEq)]
#[graphql(name = "StripePrice", complex)]
pub struct Price {
    /// Unique identifier.
    pub id: String,
    /// Whether the price can be used for new purchases.
    #[serde(default = "yes")]
    pub active: bool,
    /// `per_unit` or `tiered`.
    pub billing_scheme: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created: UnixTimestamp,
    /// Three-letter ISO currency code, lowercase.
    #[serde(default)]
    pub currency: String,
    /// True in live mode, false in test mode.
    #[serde(default)]
    pub livemode: bool,
    /// Lookup key, to retrieve prices dynamically from a static string.
    pub lookup_key: Option<String>,
    /// Key/value metadata, as a JSON object (`{}` when empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Json<Metadata>,
    /// Brief description, hidden from customers.
    pub nickname: Option<String>,
    /// Id of the product this price is for.
    #[serde(default, deserialize_with = "expandable_id_opt")]
    #[graphql(name = "productId")]
    pub product: Option<String>,
    /// Recurring components; null for one-time prices.
    pub recurring: Option<Recurring>,
    /// `exclusive`, `inclusive` or `unspecified`.
    pub tax_behavior: Option<String>,
    /// `graduated` or `volume`, for tiered prices.
    pub tiers_mode: Option<String>,
    /// `one_time` or `recurring`.
    #[serde(rename = "type")]
    #[graphql(name = "type")]
    pub kind: Option<String>,
    /// Unit amount in the smallest currency unit. Null for tiered prices and for amounts
    /// with fractions of the smallest unit (see `unitAmountDecimal`).
    pub unit_amount: Option<StripeAmount>,
    /// Unit amount in the smallest currency unit as an exact decimal string with up to 12
    /// decimal places, e.g. `"2000"` or `"0.5"`.
    #[serde(default, deserialize_with = "decimal_string_opt")]
    pub unit_amount_decimal: Option<String>,
}

impl StripeObject for Price {
    const OBJECT: &'static str = "price";
    fn id(&self) -> &str {
        &self.id
    }
}

/// A Stripe plan: the legacy view of a recurring price, kept by Stripe for compatibility.
#[derive(Debug, Clone, Deserialize, Serialize, SimpleObject, PartialEq)]
#[graphql(name = "StripePlan", complex)]
pub struct Plan {
    /// Unique identifier (often the `price_…` id of the same price).
    pub id: String,
    /// Whether the plan can be used for new purchases.
    #[serde(default = "yes")]
    pub active: bool,
    /// Amount in the smallest currency unit per period; null for tiered plans.
    pub amount: Option<StripeAmount>,
    /// Amount as an exact decimal string with up to 12 decimal places.
    #[serde(default, deserialize_with = "decimal_string_opt")]
    pub amount_decimal: Option<String>,
    /// `per_unit` or `tiered`.
    pub billing_scheme: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created: UnixTimestamp,
    /// Three-letter ISO currency code, lowercase.
    #[serde(default)]
    pub currency: String,
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    /// Number of intervals between billings.
    #[serde(default = "one")]
    pub interval_count: StripeCount,
    /// True in live mode, false in test mode.
    #[serde(default)]
    pub livemode: bool,
    /// Key/value metadata, as a JSON object (`{}` when empty, including when Stripe sends
    /// null, which it may for plans).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Json<Metadata>,
    /// Billing meter id, for metered plans.
    pub meter: Option<String>,
    /// Brief description, hidden from customers.
    pub nickname: Option<String>,
    /// Id of the product this plan is for.
    #[serde(default, deserialize_with = "expandable_id_opt")]
    #[graphql(name = "productId")]
    pub product: Option<String>,
    /// `graduated` or `volume`, for tiered plans.
    pub tiers_mode: Option<String>,
    /// Default trial length in days.
    pub trial_period_days: Option<StripeCount>,
    /// `licensed` or `metered`.
    #[serde(default = "licensed")]
    pub usage_type: String,
    /// How metered usage was aggregated. Removed by Stripe in API version 2025-03-31.basil;
    /// null on that version and later.
    #[graphql(
        deprecation = "Removed by Stripe in API version 2025-03-31.basil; always null on later versions."
    )]
    pub aggregate_usage: Option<String>,
}

impl StripeObject for Plan {
    const OBJECT: &'static str = "plan";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Plan {
    /// The price this plan is a view of, for API shapes whose items carry only a plan.
    pub fn as_price(&self) -> Price {
        Price {
            id: self.id.clone(),
            active: self.active,
            billing_scheme: self.billing_scheme.clone(),
            created: self.created,
            currency: self.currency.clone(),
            livemode: self.livemode,
            lookup_key: None,
            metadata: self.metadata.clone(),
            nickname: self.nickname.clone(),
            product: self.product.clone(),
            recurring: Some(Recurring {
                interval: self.interval.clone(),
                interval_count: self.interval_count,
                usage_type: self.usage_type.clone(),
                meter: self.meter.clone(),
                trial_period_days: self.trial_period_days,
                aggregate_usage: self.aggregate_usage.clone(),
            }),
            tax_behavior: None,
            tiers_mode: self.tiers_mode.clone(),
            kind: Some("recurring".to_owned()),
            unit_amount: self.amount,
            unit_amount_decimal: self
                .amount_decimal
                .clone()
                .or_else(|| self.amount.map(|a| a.0.to_string())),
        }
    }
}

/// A Stripe product (`prod_…`): what is sold.
#[derive(Debug, Clone, Deserialize, Serialize, SimpleObject)]
#[graphql(name = "StripeProduct", complex)]
pub struct Product {
    /// Unique identifier.
    pub id: String,
    /// Whether the product can be purchased.
    #[serde(default = "yes")]
    pub active: bool,
    /// Creation time.
    #[serde(default)]
    pub created: UnixTimestamp,
    /// Id of the default price.
    #[serde(default, deserialize_with = "expandable_id_opt")]
    #[graphql(name = "defaultPriceId")]
    pub default_price: Option<String>,
    /// Description shown to customers.
    pub description: Option<String>,
    /// Image URLs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub images: Vec<String>,
    /// True in live mode, false in test mode.
    #[serde(default)]
    pub livemode: bool,
    /// Key/value metadata, as a JSON object (`{}` when empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Json<Metadata>,
    /// Name shown to customers.
    #[serde(default)]
    pub name: String,
    /// Whether the product is shipped (physical goods).
    pub shippable: Option<bool>,
    /// Statement descriptor.
    pub statement_descriptor: Option<String>,
    /// `good` or `service` (older API versions).
    #[serde(rename = "type")]
    #[graphql(name = "type")]
    pub kind: Option<String>,
    /// Unit label shown on receipts and invoices, e.g. `seat`.
    pub unit_label: Option<String>,
    /// Last update.
    pub updated: Option<UnixTimestamp>,
    /// Public URL of the product.
    pub url: Option<String>,
}

impl StripeObject for Product {
    const OBJECT: &'static str = "product";
    fn id(&self) -> &str {
        &self.id
    }
}

fn yes() -> bool {
    true
}

fn one() -> StripeCount {
    StripeCount(1)
}

fn licensed() -> String {
    "licensed".to_owned()
}

/// `null` becomes the type's default (`{}` metadata, empty lists).
fn null_as_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// The one id-or-object type: Stripe sends an expandable field as the id string, or, when
/// expanded, as the object carrying its `id`. Read through [`expandable_id`],
/// [`expandable_id_opt`] and [`expandable_id_nullable`], which keep only the id.
#[derive(Deserialize)]
#[serde(untagged)]
enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    fn into_id(self) -> String {
        match self {
            Expandable::Id(id) | Expandable::Object { id } => id,
        }
    }
}

/// An expandable field: the id string, or the expanded object's `id`.
pub fn expandable_id<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    Ok(Expandable::deserialize(de)?.into_id())
}

/// An optional expandable field (absent or `null`: `None`).
pub fn expandable_id_opt<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Expandable>::deserialize(de)?.map(Expandable::into_id))
}

/// An expandable field whose `null` means something (with `#[serde(default)]`: absent is
/// `None`, `null` is `Some(None)`, an id or object is `Some(Some(id))`).
pub fn expandable_id_nullable<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(
        Option::<Expandable>::deserialize(de)?.map(Expandable::into_id),
    ))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DecimalString {
    Text(String),
    Number(serde_json::Number),
}

/// Decimal strings (`"2000"`, `"0.5"`); a JSON number from a fake server is kept as its text.
fn decimal_string_opt<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<DecimalString>::deserialize(de)?.map(|d| match d {
        DecimalString::Text(s) => s,
        DecimalString::Number(n) => n.to_string(),
    }))
}

/// Decodes and normalizes one Stripe object from JSON.
pub fn decode<T: StripeObject>(value: serde_json::Value) -> Result<T, serde_json::Error> {
    let mut object: T = serde_json::from_value(value)?;
    object.normalize();
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn fixtures() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/stripe-fixtures-dahlia.json"
        );
        let text = std::fs::read_to_string(path).expect("read the dahlia fixtures");
        serde_json::from_str::<Value>(&text).unwrap()["resources"].clone()
    }

    #[test]
    fn every_dahlia_fixture_object_parses() {
        let f = fixtures();
        let customer: Customer = decode(f["customer"].clone()).unwrap();
        assert_eq!(customer.id, "cus_QXg1o8vcGmoR32");
        assert_eq!(customer.balance, StripeAmount(0));
        assert_eq!(customer.invoice_prefix.as_deref(), Some("7FE1103"));

        let sub: Subscription = decode(f["subscription"].clone()).unwrap();
        assert_eq!(sub.customer, "cus_QXg1o8vcGmoR32");
        assert_eq!(sub.items.data.len(), 1);
        let item = &sub.items.data[0];
        assert_eq!(
            item.price.as_ref().unwrap().unit_amount,
            Some(StripeAmount(2000))
        );
        assert_eq!(
            item.price.as_ref().unwrap().unit_amount_decimal.as_deref(),
            Some("2000")
        );

        let item: SubscriptionItem = decode(f["subscription_item"].clone()).unwrap();
        assert_eq!(
            item.subscription.as_deref(),
            Some("sub_1Pgc6xB7WZ01zgkWJMvZp5ja")
        );
        assert_eq!(item.current_period_end, Some(UnixTimestamp(976287773)));

        let plan: Plan = decode(f["plan"].clone()).unwrap();
        assert_eq!(plan.amount, Some(StripeAmount(2000)));
        assert_eq!(plan.product.as_deref(), Some("prod_QXg1hqf4jFNsqG"));

        let price: Price = decode(f["price"].clone()).unwrap();
        assert_eq!(price.recurring.as_ref().unwrap().usage_type, "licensed");
        assert_eq!(price.recurring.as_ref().unwrap().aggregate_usage, None);
        assert_eq!(price.kind.as_deref(), Some("recurring"));

        let product: Product = decode(f["product"].clone()).unwrap();
        assert_eq!(product.name, "T-shirt");
        assert_eq!(
            product.default_price.as_deref(),
            Some("price_1PgafmB7WZ01zgkW02Hf9z6c")
        );

        // The sample event carries an older plan shape that still has aggregate_usage.
        let event_plan: Plan = decode(f["event"]["data"]["object"].clone()).unwrap();
        assert_eq!(event_plan.interval, "month");

        for deleted in [
            "deleted_customer",
            "deleted_plan",
            "deleted_price",
            "deleted_product",
            "deleted_subscription_item",
        ] {
            assert_eq!(f[deleted]["deleted"], json!(true), "{deleted}");
        }
    }

    #[test]
    fn dahlia_subscription_gets_its_period_and_plan_from_its_single_item() {
        let sub: Subscription = decode(fixtures()["subscription"].clone()).unwrap();
        // The fixture's item has start 1896570518 and end 976287773 (synthetic values).
        assert_eq!(sub.current_period_start, Some(UnixTimestamp(1896570518)));
        assert_eq!(sub.current_period_end, Some(UnixTimestamp(976287773)));
        assert_eq!(sub.plan.as_ref().unwrap().id, "obj_123");
        assert_eq!(sub.quantity, Some(StripeCount(1)));
    }

    fn item(start: i64, end: i64) -> Arc<SubscriptionItem> {
        Arc::new(
            serde_json::from_value(json!({
                "id": "si_1", "current_period_start": start, "current_period_end": end
            }))
            .unwrap(),
        )
    }

    #[test]
    fn derived_period_is_the_intersection_of_item_periods() {
        let monthly = item(1_000, 2_000);
        let yearly = item(500, 30_000);
        assert_eq!(
            derived_current_period(&[monthly.clone(), yearly]),
            (Some(UnixTimestamp(1_000)), Some(UnixTimestamp(2_000)))
        );
        assert_eq!(
            derived_current_period(&[monthly]),
            (Some(UnixTimestamp(1_000)), Some(UnixTimestamp(2_000)))
        );
        assert_eq!(derived_current_period(&[]), (None, None));
    }

    #[test]
    fn multi_item_subscription_has_no_legacy_plan() {
        let sub: Subscription = decode(json!({
            "id": "sub_1", "customer": "cus_1", "status": "active",
            "items": {"data": [
                {"id": "si_1", "current_period_start": 10, "current_period_end": 20},
                {"id": "si_2", "current_period_start": 12, "current_period_end": 40}
            ], "has_more": false}
        }))
        .unwrap();
        assert!(sub.plan.is_none());
        assert_eq!(sub.current_period_start, Some(UnixTimestamp(12)));
        assert_eq!(sub.current_period_end, Some(UnixTimestamp(20)));
    }

    #[test]
    fn localstripe_shapes_parse_and_normalize() {
        // Shapes observed from localstripe 1.15.10 (pre-2019 API): account_balance, a
        // subscription-level plan and period, items with only a plan, tiers as strings.
        let customer: Customer = decode(json!({
            "account_balance": -500, "address": null, "business_vat_id": null,
            "created": 1795606942, "currency": "eur", "default_source": null,
            "delinquent": false, "description": null, "discount": null,
            "email": "jane@example.com", "id": "cus_zd3iJkIhnHuaO2",
            "invoice_settings": {"default_payment_method": null}, "livemode": false,
            "metadata": {"hasura_user_id": "u_42"}, "name": "Jane Doe", "object": "customer",
            "phone": null, "preferred_locales": null, "shipping": null,
            "subscriptions": {"data": [], "has_more": false, "object": "list", "total_count": 0,
                              "url": "/v1/customers/cus_zd3iJkIhnHuaO2/subscriptions"}
        }))
        .unwrap();
        assert_eq!(customer.balance, StripeAmount(-500));
        assert_eq!(customer.metadata["hasura_user_id"], json!("u_42"));

        let plan = json!({
            "active": true, "amount": 1000, "billing_scheme": "per_unit",
            "created": 1795606939, "currency": "usd", "id": "plan_basic_monthly",
            "interval": "month", "interval_count": 1, "livemode": false, "metadata": {},
            "name": "Basic", "nickname": "Basic monthly", "object": "plan",
            "product": "prod_basic", "statement_descriptor": null,
            "tiers": [{"up_to": "inf", "unit_amount": "500"}],
            "tiers_mode": null, "trial_period_days": null, "usage_type": "licensed"
        });
        let sub: Subscription = decode(json!({
            "application_fee_percent": null, "billing_cycle_anchor": null, "cancel_at": null,
            "cancel_at_period_end": false, "canceled_at": null, "created": 1795606950,
            "current_period_end": 1798198950, "current_period_start": 1795606950,
            "customer": "cus_zd3iJkIhnHuaO2", "default_tax_rates": null, "discount": null,
            "ended_at": null, "id": "sub_uORiPjPzlytVGx",
            "items": {"data": [{"created": 1795606950, "id": "si_XQZsVCBMAyHX1q",
                "invoice": "in_XXaNVLOEcbDk93", "livemode": false, "metadata": {},
                "object": "subscription_item", "plan": plan.clone(), "quantity": 2,
                "tax_rates": []}],
              "has_more": false, "object": "list", "total_count": 1,
              "url": "/v1/subscription_items?subscription=sub_uORiPjPzlytVGx"},
            "latest_invoice": "in_XXaNVLOEcbDk93", "livemode": false,
            "metadata": {"source": "test"}, "object": "subscription", "plan": plan,
            "quantity": 2, "start_date": 1795606950, "status": "active", "tax_percent": null,
            "trial_end": null, "trial_from_plan": false, "trial_period_days": null,
            "trial_start": null
        }))
        .unwrap();
        assert_eq!(sub.current_period_start, Some(UnixTimestamp(1795606950)));
        let item = &sub.items.data[0];
        assert_eq!(item.subscription.as_deref(), Some("sub_uORiPjPzlytVGx"));
        assert_eq!(item.current_period_end, Some(UnixTimestamp(1798198950)));
        let price = item
            .price
            .as_ref()
            .expect("price synthesized from the plan");
        assert_eq!(price.id, "plan_basic_monthly");
        assert_eq!(price.unit_amount, Some(StripeAmount(1000)));
        assert_eq!(price.unit_amount_decimal.as_deref(), Some("1000"));
        assert_eq!(price.recurring.as_ref().unwrap().interval, "month");
        assert_eq!(price.product.as_deref(), Some("prod_basic"));

        let product: Product = decode(json!({
            "active": true, "attributes": null, "caption": null, "created": 1795606935,
            "description": null, "id": "prod_basic", "livemode": false, "metadata": {},
            "name": "Basic", "object": "product", "shippable": true,
            "statement_descriptor": null, "type": "service", "url": null
        }))
        .unwrap();
        assert_eq!(product.kind.as_deref(), Some("service"));
        assert!(product.images.is_empty());
    }

    #[test]
    fn expanded_objects_keep_only_their_id() {
        let price: Price = decode(json!({
            "id": "price_1", "product": {"id": "prod_1", "object": "product", "name": "X"},
            "unit_amount_decimal": 12.5
        }))
        .unwrap();
        assert_eq!(price.product.as_deref(), Some("prod_1"));
        assert_eq!(price.unit_amount_decimal.as_deref(), Some("12.5"));
    }
}

/// Properties of [`derived_current_period`] over generated item periods (256 cases each): the
/// derived period is the intersection of the items' periods, whatever their order.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn item(start: Option<i64>, end: Option<i64>) -> Arc<SubscriptionItem> {
        Arc::new(
            serde_json::from_value(json!({
                "id": "si_1", "current_period_start": start, "current_period_end": end
            }))
            .unwrap(),
        )
    }

    /// Up to 6 items, each with a start, an end, both or neither (older shapes lack them).
    fn periods() -> impl Strategy<Value = Vec<(Option<i64>, Option<i64>)>> {
        proptest::collection::vec(
            (
                proptest::option::weighted(0.9, 0i64..4_000_000_000),
                proptest::option::weighted(0.9, 0i64..4_000_000_000),
            ),
            0..6,
        )
    }

    /// Items that are all current at `now`, as Stripe's items are: each period contains it.
    fn current_at() -> impl Strategy<Value = (i64, Vec<(i64, i64)>)> {
        (1_000_000_000i64..3_000_000_000).prop_flat_map(|now| {
            let period = (0i64..40_000_000, 1i64..40_000_000)
                .prop_map(move |(before, after)| (now - before, now + after));
            (Just(now), proptest::collection::vec(period, 1..6))
        })
    }

    fn items(periods: &[(Option<i64>, Option<i64>)]) -> Vec<Arc<SubscriptionItem>> {
        periods.iter().map(|&(s, e)| item(s, e)).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn each_end_is_the_tightest_item_bound_or_absent_without_one(periods in periods()) {
            let (start, end) = derived_current_period(&items(&periods));
            let starts: Vec<i64> = periods.iter().filter_map(|p| p.0).collect();
            let ends: Vec<i64> = periods.iter().filter_map(|p| p.1).collect();
            prop_assert_eq!(start.map(|t| t.0), starts.iter().copied().max());
            prop_assert_eq!(end.map(|t| t.0), ends.iter().copied().min());
            // So: no item starts after the derived start or ends before the derived end.
            prop_assert!(starts.iter().all(|s| Some(*s) <= start.map(|t| t.0)));
            prop_assert!(ends.iter().all(|e| end.map(|t| t.0) <= Some(*e)));
        }

        #[test]
        fn the_order_of_the_items_does_not_matter(
            (periods, shuffled) in periods().prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        ) {
            prop_assert_eq!(
                derived_current_period(&items(&periods)),
                derived_current_period(&items(&shuffled))
            );
        }

        #[test]
        fn items_current_at_an_instant_give_a_period_that_contains_it(
            (now, periods) in current_at(),
        ) {
            let optional: Vec<_> = periods.iter().map(|&(s, e)| (Some(s), Some(e))).collect();
            let (start, end) = derived_current_period(&items(&optional));
            let (start, end) = (start.unwrap().0, end.unwrap().0);
            prop_assert!(start <= now && now <= end, "{}..{} misses {}", start, end, now);
            // And it is inside every item's period: the span every item is in.
            for (s, e) in periods {
                prop_assert!(s <= start && end <= e);
            }
        }

        #[test]
        fn one_shared_period_is_derived_as_itself(
            start in 0i64..4_000_000_000,
            length in 1i64..40_000_000,
            count in 1usize..6,
        ) {
            let shared = vec![(Some(start), Some(start + length)); count];
            prop_assert_eq!(
                derived_current_period(&items(&shared)),
                (Some(UnixTimestamp(start)), Some(UnixTimestamp(start + length)))
            );
        }
    }
}
