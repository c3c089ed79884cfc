//! Idempotent writes, as Stripe keeps them: the answers of POSTs sent with an
//! `Idempotency-Key` header, by key.
//!
//! - A POST whose key was seen **with the same method, path and parameters** gets the stored
//!   status and body again, exactly, with an `Idempotent-Replayed: true` header; nothing is
//!   written a second time and no event is sent.
//! - The same key **with other parameters, or on another endpoint**, is 400
//!   `idempotency_error` (worded as Stripe words it); the store is not touched.
//! - **Only writes that were applied are stored** (their 200). A request refused before it
//!   changed anything (unknown or invalid parameter, missing object, no payment method, an
//!   injected fault answered instead of the route) is not stored, so it may be retried with
//!   the same key, as on Stripe.
//! - Parameters are compared as decoded `name=value` pairs in name order, so raw and
//!   percent-encoded brackets, or another parameter order, are the same request.
//! - Keys live in memory, per sandbox, the newest [`KEY_CAPACITY`] of them; the oldest is
//!   forgotten first (Stripe prunes keys after 24 hours), and a forgotten key is new again.
//! - Keys are 1–255 characters (Stripe's limit); others are refused with 400 before anything
//!   is written ([`check_key`]). DELETE and GET take no key: a key sent with them is ignored.

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Value};

use crate::error::ApiError;

/// How many keys a sandbox remembers.
pub const KEY_CAPACITY: usize = 10_000;

/// The longest key Stripe takes.
pub const MAX_KEY_LEN: usize = 255;

/// The request a key was first used for, and its answer.
#[derive(Debug, Clone)]
struct Stored {
    method: String,
    path: String,
    params: Vec<(String, String)>,
    status: u16,
    body: Value,
}

/// What a key says about a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// Not seen (or forgotten): run the request.
    New,
    /// The same request was answered with this status and body.
    Replay(u16, Value),
    /// The key was used for another request.
    Conflict(ApiError),
}

/// The remembered keys.
#[derive(Debug)]
pub struct Keys {
    stored: HashMap<String, Stored>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Keys {
    /// No keys, remembering at most `capacity`.
    pub fn new(capacity: usize) -> Keys {
        Keys {
            stored: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// What `key` says about a request of `method` to `path` with `params` (decoded pairs,
    /// any order).
    pub fn check(&self, key: &str, method: &str, path: &str, params: &[(String, String)]) -> Seen {
        let Some(stored) = self.stored.get(key) else {
            return Seen::New;
        };
        if stored.method != method || stored.path != path {
            return Seen::Conflict(conflict(format!(
                "Keys for idempotent requests can only be used for the same endpoint they were first used for ('{} {}' vs '{method} {path}'). Try using a key other than '{key}' if you meant to execute a different request.",
                stored.method, stored.path
            )));
        }
        if stored.params != sorted(params) {
            return Seen::Conflict(conflict(format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            )));
        }
        Seen::Replay(stored.status, stored.body.clone())
    }

    /// Stores the answer of a request under `key`, forgetting the oldest key when full.
    pub fn remember(
        &mut self,
        key: &str,
        method: &str,
        path: &str,
        params: &[(String, String)],
        status: u16,
        body: Value,
    ) {
        if self.capacity == 0 {
            return;
        }
        let stored = Stored {
            method: method.to_owned(),
            path: path.to_owned(),
            params: sorted(params),
            status,
            body,
        };
        if self.stored.insert(key.to_owned(), stored).is_none() {
            self.order.push_back(key.to_owned());
        }
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.stored.remove(&oldest);
            }
        }
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.stored.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.stored.is_empty()
    }
}

fn sorted(params: &[(String, String)]) -> Vec<(String, String)> {
    let mut params = params.to_vec();
    params.sort();
    params
}

fn conflict(message: String) -> ApiError {
    ApiError {
        status: 400,
        body: json!({"error": {"type": "idempotency_error", "message": message}}),
    }
}

/// Refuses a key Stripe would refuse: empty, longer than [`MAX_KEY_LEN`], or not printable
/// ASCII.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return Err(ApiError {
            status: 400,
            body: json!({"error": {
                "type": "invalid_request_error",
                "message": format!("Invalid Idempotency-Key: it must be 1 to {MAX_KEY_LEN} printable ASCII characters."),
            }}),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_same_request_is_replayed_whatever_the_parameter_order() {
        let mut keys = Keys::new(10);
        let body = json!({"id": "cus_1"});
        keys.remember(
            "k",
            "POST",
            "/v1/customers",
            &p(&[("name", "A"), ("email", "e")]),
            200,
            body.clone(),
        );
        assert_eq!(
            keys.check(
                "k",
                "POST",
                "/v1/customers",
                &p(&[("email", "e"), ("name", "A")])
            ),
            Seen::Replay(200, body)
        );
        assert_eq!(keys.check("other", "POST", "/v1/customers", &[]), Seen::New);
    }

    #[test]
    fn the_same_key_with_other_parameters_or_another_endpoint_is_an_idempotency_error() {
        let mut keys = Keys::new(10);
        keys.remember(
            "k",
            "POST",
            "/v1/customers",
            &p(&[("name", "A")]),
            200,
            json!({}),
        );
        for seen in [
            keys.check("k", "POST", "/v1/customers", &p(&[("name", "B")])),
            keys.check("k", "POST", "/v1/subscriptions", &p(&[("name", "A")])),
        ] {
            let Seen::Conflict(err) = seen else {
                panic!("a conflict: {seen:?}")
            };
            assert_eq!(err.status, 400);
            assert_eq!(err.body["error"]["type"], json!("idempotency_error"));
            assert!(err.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Try using a key other than 'k'"));
        }
    }

    #[test]
    fn the_oldest_keys_are_forgotten_past_the_capacity() {
        let mut keys = Keys::new(2);
        for k in ["a", "b", "c"] {
            keys.remember(k, "POST", "/v1/customers", &[], 200, json!(k));
        }
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.check("a", "POST", "/v1/customers", &[]), Seen::New);
        assert_eq!(
            keys.check("c", "POST", "/v1/customers", &[]),
            Seen::Replay(200, json!("c"))
        );
    }

    #[test]
    fn keys_stripe_would_refuse_are_refused() {
        assert!(check_key("7f0c6a9e-2b1d-4c3e-8f4a-5b6c7d8e9f00").is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_LEN)).is_ok());
        for bad in [
            String::new(),
            "k".repeat(MAX_KEY_LEN + 1),
            "tab\there".into(),
        ] {
            assert_eq!(check_key(&bad).unwrap_err().status, 400, "{bad:?}");
        }
    }
}
