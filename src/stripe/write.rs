//! The Stripe writes this server makes, as typed values: which method and path, which form
//! parameters, and which `Idempotency-Key`.
//!
//! Guarantees:
//! - a [`Write`] can only be built here, from validated ids ([`StripeId`]) and a [`Form`];
//!   the path is one of a fixed set (see [`Write::endpoint`]), so no input can send a write
//!   to another Stripe path;
//! - every `POST` carries an [`IdempotencyKey`]: the caller's, or a fresh UUID v4 made once
//!   per [`Write`], which the client's retries reuse; `DELETE`s carry none (Stripe ignores
//!   keys on them: deleting is idempotent by definition);
//! - parameters are sent as Stripe reads them: `application/x-www-form-urlencoded`, nested
//!   keys in brackets (`metadata[plan]`, `items[0][price]`), in the order they were set.

use url::Url;

use super::request::collection_of;
use crate::ids::{IdKind, StripeId};

/// Longest `Idempotency-Key` Stripe accepts.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A validated `Idempotency-Key`: 1 to 255 printable ASCII characters (no spaces, so it is
/// a valid header value and reads back exactly).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why an idempotency key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`idempotencyKey` must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters without spaces")]
pub struct IdempotencyKeyError;

impl IdempotencyKey {
    /// Validates a key chosen by the caller.
    pub fn parse(raw: &str) -> Result<IdempotencyKey, IdempotencyKeyError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_IDEMPOTENCY_KEY_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(IdempotencyKey(raw.to_owned()))
        } else {
            Err(IdempotencyKeyError)
        }
    }

    /// A fresh random key (UUID v4), for a write whose caller chose none.
    pub fn generate() -> IdempotencyKey {
        IdempotencyKey(uuid::Uuid::new_v4().to_string())
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Form parameters in the order they were set, encoded as Stripe reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// An empty form.
    pub fn new() -> Form {
        Form::default()
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Form {
        self.0.push((key.into(), value.into()));
        self
    }

    /// Sets `key` to `value` when there is one.
    pub fn set_opt(&mut self, key: &str, value: Option<impl Into<String>>) -> &mut Form {
        if let Some(value) = value {
            self.set(key, value);
        }
        self
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameters, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// `application/x-www-form-urlencoded`, brackets percent-encoded (Stripe accepts them
    /// encoded or not).
    pub fn encode(&self) -> String {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.0 {
            serializer.append_pair(key, value);
        }
        serializer.finish()
    }
}

/// The HTTP method of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Creates or changes; carries a form body and an `Idempotency-Key`.
    Post,
    /// Deletes (a customer) or cancels (a subscription); parameters in the query string.
    Delete,
}

/// What a write is applied to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `/v1/<collection>` (creates).
    Collection(IdKind),
    /// `/v1/<collection>/<id>`.
    Object(StripeId),
    /// `/v1/<collection>/<id>/<action>`.
    Action(StripeId, &'static str),
}

/// One Stripe write (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    method: Method,
    target: Target,
    form: Form,
    idempotency_key: Option<IdempotencyKey>,
}

impl Write {
    /// `POST /v1/customers` or `POST /v1/subscriptions`: creates an object of `kind`.
    /// `key`: the caller's key, or `None` for a fresh one.
    pub fn create(kind: IdKind, form: Form, key: Option<IdempotencyKey>) -> Write {
        Write::post(Target::Collection(kind), form, key)
    }

    /// `POST /v1/<collection>/<id>`: changes the object.
    pub fn update(id: StripeId, form: Form, key: Option<IdempotencyKey>) -> Write {
        Write::post(Target::Object(id), form, key)
    }

    /// `POST /v1/subscriptions/<id>/resume`: resumes a `paused` subscription.
    pub fn resume(id: StripeId, form: Form, key: Option<IdempotencyKey>) -> Write {
        Write::post(Target::Action(id, "resume"), form, key)
    }

    /// `DELETE /v1/<collection>/<id>`, `params` in the query string: deletes a customer,
    /// cancels a subscription.
    pub fn delete(id: StripeId, params: Form) -> Write {
        Write {
            method: Method::Delete,
            target: Target::Object(id),
            form: params,
            idempotency_key: None,
        }
    }

    fn post(target: Target, form: Form, key: Option<IdempotencyKey>) -> Write {
        Write {
            method: Method::Post,
            target,
            form,
            idempotency_key: Some(key.unwrap_or_else(IdempotencyKey::generate)),
        }
    }

    /// Whether it creates an object (`POST /v1/<collection>`).
    pub fn creates(&self) -> bool {
        matches!(self.target, Target::Collection(_))
    }

    /// The HTTP method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The parameters.
    pub fn form(&self) -> &Form {
        &self.form
    }

    /// The `Idempotency-Key` (every `POST` has one; a `DELETE` none).
    pub fn idempotency_key(&self) -> Option<&IdempotencyKey> {
        self.idempotency_key.as_ref()
    }

    /// The route template, for metrics and logs (a fixed set of labels, never an id).
    pub fn endpoint(&self) -> &'static str {
        use IdKind::{Customer, Subscription};
        match (self.method, &self.target) {
            (Method::Post, Target::Collection(Customer)) => "POST /v1/customers",
            (Method::Post, Target::Collection(Subscription)) => "POST /v1/subscriptions",
            (Method::Post, Target::Object(id)) if id.kind() == Customer => {
                "POST /v1/customers/{id}"
            }
            (Method::Post, Target::Object(id)) if id.kind() == Subscription => {
                "POST /v1/subscriptions/{id}"
            }
            (Method::Delete, Target::Object(id)) if id.kind() == Customer => {
                "DELETE /v1/customers/{id}"
            }
            (Method::Delete, Target::Object(id)) if id.kind() == Subscription => {
                "DELETE /v1/subscriptions/{id}"
            }
            (Method::Post, Target::Action(id, "resume")) if id.kind() == Subscription => {
                "POST /v1/subscriptions/{id}/resume"
            }
            (Method::Post, _) => "POST /v1/other",
            (Method::Delete, _) => "DELETE /v1/other",
        }
    }

    /// The URL under `base`; for a `DELETE`, with its parameters in the query string.
    /// `None` only for a base that cannot have a path.
    pub fn url(&self, base: &Url) -> Option<Url> {
        let mut url = base.clone();
        {
            let mut segments = url.path_segments_mut().ok()?;
            segments.pop_if_empty().push("v1");
            match &self.target {
                Target::Collection(kind) => {
                    segments.push(collection_of(*kind));
                }
                Target::Object(id) => {
                    segments.extend([collection_of(id.kind()), id.as_str()]);
                }
                Target::Action(id, action) => {
                    segments.extend([collection_of(id.kind()), id.as_str(), action]);
                }
            }
        }
        if self.method == Method::Delete && !self.form.is_empty() {
            url.set_query(Some(&self.form.encode()));
        }
        Some(url)
    }

    /// The request body: the encoded form for a `POST`, none for a `DELETE`.
    pub fn body(&self) -> Option<String> {
        (self.method == Method::Post).then(|| self.form.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: IdKind, raw: &str) -> StripeId {
        StripeId::parse(kind, raw).unwrap()
    }

    #[test]
    fn a_form_encodes_nested_keys_in_order_with_brackets_escaped() {
        let mut form = Form::new();
        form.set("items[0][price]", "price_1")
            .set("metadata[plan]", "gold & co")
            .set("phone", "+49 30 1");
        assert_eq!(
            form.encode(),
            "items%5B0%5D%5Bprice%5D=price_1&metadata%5Bplan%5D=gold+%26+co&phone=%2B49+30+1"
        );
    }

    #[test]
    fn every_post_carries_a_key_and_a_delete_none() {
        let created = Write::create(IdKind::Customer, Form::new(), None);
        let key = created.idempotency_key().expect("a POST has a key");
        assert!(uuid::Uuid::parse_str(key.as_str()).is_ok());
        let other = Write::create(IdKind::Customer, Form::new(), None);
        assert_ne!(other.idempotency_key(), created.idempotency_key());
        let chosen = IdempotencyKey::parse("order-42").unwrap();
        let update = Write::update(
            id(IdKind::Customer, "cus_1"),
            Form::new(),
            Some(chosen.clone()),
        );
        assert_eq!(update.idempotency_key(), Some(&chosen));
        let delete = Write::delete(id(IdKind::Subscription, "sub_1"), Form::new());
        assert_eq!(delete.idempotency_key(), None);
        assert_eq!(delete.body(), None);
    }

    #[test]
    fn writes_reach_only_their_own_paths() {
        let base: Url = "https://api.stripe.com/proxy".parse().unwrap();
        let customer = id(IdKind::Customer, "cus_1");
        let subscription = id(IdKind::Subscription, "sub_1");
        let mut cancel = Form::new();
        cancel.set("invoice_now", "true");
        let cases = [
            (
                Write::create(IdKind::Customer, Form::new(), None),
                "POST /v1/customers",
                "https://api.stripe.com/proxy/v1/customers",
            ),
            (
                Write::update(customer.clone(), Form::new(), None),
                "POST /v1/customers/{id}",
                "https://api.stripe.com/proxy/v1/customers/cus_1",
            ),
            (
                Write::delete(customer, Form::new()),
                "DELETE /v1/customers/{id}",
                "https://api.stripe.com/proxy/v1/customers/cus_1",
            ),
            (
                Write::create(IdKind::Subscription, Form::new(), None),
                "POST /v1/subscriptions",
                "https://api.stripe.com/proxy/v1/subscriptions",
            ),
            (
                Write::delete(subscription.clone(), cancel),
                "DELETE /v1/subscriptions/{id}",
                "https://api.stripe.com/proxy/v1/subscriptions/sub_1?invoice_now=true",
            ),
            (
                Write::resume(subscription, Form::new(), None),
                "POST /v1/subscriptions/{id}/resume",
                "https://api.stripe.com/proxy/v1/subscriptions/sub_1/resume",
            ),
        ];
        for (write, endpoint, url) in cases {
            assert_eq!(write.endpoint(), endpoint);
            assert_eq!(write.url(&base).unwrap().as_str(), url);
        }
    }

    #[test]
    fn idempotency_keys_are_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "has space", "new\nline", "ünï", &"k".repeat(256)] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(IdempotencyKeyError),
                "{bad:?}"
            );
        }
    }
}
