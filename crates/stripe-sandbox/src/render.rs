//! How stored objects are answered (over HTTP and in events): a subscription embeds at most
//! [`EMBEDDED_ITEMS`] of its items, and the rest are read from `/v1/subscription_items`; every
//! other object is answered as stored.

use serde_json::{json, Value};

/// How many items a subscription embeds before its `items` list says `has_more` and the
/// rest must be read from `/v1/subscription_items`.
pub const EMBEDDED_ITEMS: usize = 10;

/// A subscription as answered: the embedded item list holds at most [`EMBEDDED_ITEMS`].
pub(crate) fn render_subscription(stored: &Value) -> Value {
    let mut sub = stored.clone();
    render_subscription_in_place(&mut sub);
    sub
}

/// [`render_subscription`] of a copy already made.
pub(crate) fn render_subscription_in_place(sub: &mut Value) {
    if let Some(items) = sub["items"]["data"].as_array_mut() {
        if items.len() > EMBEDDED_ITEMS {
            items.truncate(EMBEDDED_ITEMS);
            sub["items"]["has_more"] = json!(true);
        }
    }
}

/// A stored object as the API answers it (and as events carry it).
pub(crate) fn rendered(object: &str, stored: &Value) -> Value {
    match object {
        "subscription" => render_subscription(stored),
        _ => stored.clone(),
    }
}
