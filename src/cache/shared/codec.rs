//! How entries, keys and tags are written to Redis.
//!
//! A value is `<fetched at, Unix ms: 8 bytes big-endian><fill generation: 8 bytes><kind: one
//! byte><the object or page as JSON without its null fields>`. JSON because the models read
//! JSON (Stripe's own, any API version) and it needs no schema to evolve; nulls are left out
//! because most optional Stripe fields are null, and a missing optional field reads as null.
//! Sizes are measured in `tests` (a demo customer is about a third of Stripe's own JSON).

use std::{sync::Arc, time::SystemTime};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use super::super::{
    key::{Entry, Key},
    tags::Tag,
};
use crate::stripe::models::List;

/// The text of a key: `o:<collection>:<id>` or `l:<collection>?<parameters>`.
pub fn key_text(key: &Key) -> String {
    match key {
        Key::Object(id) => format!(
            "o:{}:{}",
            crate::stripe::request::collection_of(id.kind()),
            id.as_str()
        ),
        Key::List(query) => {
            let mut text = format!("l:{}?", query.collection());
            for (i, (name, value)) in query.params().iter().enumerate() {
                if i > 0 {
                    text.push('&');
                }
                text.push_str(name);
                text.push('=');
                // Values are ids, numbers, statuses or an email: `&` cannot be in an id, and
                // an email's is percent-encoded here so the text stays unambiguous.
                text.push_str(&value.replace('%', "%25").replace('&', "%26"));
            }
            text
        }
    }
}

/// The text of a tag: `o:<id>`, `s:<customer>` or `c:<collection>`.
pub fn tag_text(tag: &Tag) -> String {
    match tag {
        Tag::Object(id) => format!("o:{id}"),
        Tag::SubscriptionsOf(customer) => format!("s:{customer}"),
        Tag::Collection(collection) => format!("c:{collection}"),
    }
}

/// The tag a text names, as [`tag_text`] wrote it.
pub fn tag_of(text: &str) -> Option<Tag> {
    let (kind, rest) = text.split_once(':')?;
    match kind {
        "o" => Some(Tag::Object(rest.to_owned())),
        "s" => Some(Tag::SubscriptionsOf(rest.to_owned())),
        "c" => ["customers", "subscriptions", "prices", "subscription_items"]
            .into_iter()
            .find(|c| *c == rest)
            .map(Tag::Collection),
        _ => None,
    }
}

/// Unix milliseconds now, by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A stored value, read back.
pub struct Decoded {
    pub fetched_at_ms: u64,
    pub generation: u64,
    pub entry: Entry,
}

/// The value of `entry`, fetched at `fetched_at_ms` by a fill that started at `generation`.
pub fn encode(entry: &Entry, fetched_at_ms: u64, generation: u64) -> Option<Vec<u8>> {
    fn json<T: Serialize>(kind: u8, value: &T) -> Option<(u8, Vec<u8>)> {
        let mut value = serde_json::to_value(value).ok()?;
        strip_nulls(&mut value);
        Some((kind, serde_json::to_vec(&value).ok()?))
    }
    let (kind, body) = match entry {
        Entry::Missing => (b'-', Vec::new()),
        Entry::Customer(c) => json(b'C', &**c)?,
        Entry::Subscription(s) => json(b'S', &**s)?,
        Entry::Price(p) => json(b'P', &**p)?,
        Entry::Plan(p) => json(b'L', &**p)?,
        Entry::Product(p) => json(b'R', &**p)?,
        Entry::Customers(page) => json(b'c', &**page)?,
        Entry::Subscriptions(page) => json(b's', &**page)?,
        Entry::Prices(page) => json(b'p', &**page)?,
        Entry::Items(page) => json(b'i', &**page)?,
    };
    let mut bytes = Vec::with_capacity(17 + body.len());
    bytes.extend_from_slice(&fetched_at_ms.to_be_bytes());
    bytes.extend_from_slice(&generation.to_be_bytes());
    bytes.push(kind);
    bytes.extend_from_slice(&body);
    Some(bytes)
}

/// A value [`encode`] wrote; `None` for anything else (another version's layout: a miss).
pub fn decode(bytes: &[u8]) -> Option<Decoded> {
    fn one<T: DeserializeOwned>(body: &[u8]) -> Option<Arc<T>> {
        serde_json::from_slice(body).ok().map(Arc::new)
    }
    fn page<T: DeserializeOwned>(body: &[u8]) -> Option<Arc<List<T>>> {
        serde_json::from_slice(body).ok().map(Arc::new)
    }
    if bytes.len() < 17 {
        return None;
    }
    let fetched_at_ms = u64::from_be_bytes(bytes[..8].try_into().ok()?);
    let generation = u64::from_be_bytes(bytes[8..16].try_into().ok()?);
    let body = &bytes[17..];
    let entry = match bytes[16] {
        b'-' => Entry::Missing,
        b'C' => Entry::Customer(one(body)?),
        b'S' => Entry::Subscription(one(body)?),
        b'P' => Entry::Price(one(body)?),
        b'L' => Entry::Plan(one(body)?),
        b'R' => Entry::Product(one(body)?),
        b'c' => Entry::Customers(page(body)?),
        b's' => Entry::Subscriptions(page(body)?),
        b'p' => Entry::Prices(page(body)?),
        b'i' => Entry::Items(page(body)?),
        _ => return None,
    };
    Some(Decoded {
        fetched_at_ms,
        generation,
        entry,
    })
}

/// Drops every `null` member of every object in `value`.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ids::{IdKind, StripeId},
        stripe::{
            models::{decode as decode_model, Customer, Subscription},
            request::ListRequest,
        },
    };

    fn fixture(name: &str) -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/stripe-fixtures-dahlia.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["resources"][name].clone()
    }

    #[test]
    fn an_entry_reads_back_as_it_was_written_with_its_time_and_generation() {
        let raw = fixture("customer");
        let customer: Customer = decode_model(raw.clone()).unwrap();
        let entry = Entry::Customer(Arc::new(customer.clone()));
        let bytes = encode(&entry, 1_795_000_000_123, 42).unwrap();
        let read = decode(&bytes).unwrap();
        assert_eq!(read.fetched_at_ms, 1_795_000_000_123);
        assert_eq!(read.generation, 42);
        let Entry::Customer(back) = read.entry else {
            panic!("a customer")
        };
        assert_eq!(format!("{back:?}"), format!("{customer:?}"));
        // Compact: Stripe's own JSON of the customer against what is stored.
        let stripe = serde_json::to_vec(&raw).unwrap().len();
        assert!(
            bytes.len() * 2 < stripe,
            "{} of {stripe} bytes",
            bytes.len()
        );

        let sub: Subscription = decode_model(fixture("subscription")).unwrap();
        let page = Entry::Subscriptions(Arc::new(List {
            data: vec![Arc::new(sub.clone())],
            has_more: true,
        }));
        let Entry::Subscriptions(back) = decode(&encode(&page, 1, 2).unwrap()).unwrap().entry
        else {
            panic!("a page")
        };
        assert!(back.has_more);
        assert_eq!(format!("{:?}", back.data[0]), format!("{sub:?}"));
        assert!(matches!(
            decode(&encode(&Entry::Missing, 1, 2).unwrap())
                .unwrap()
                .entry,
            Entry::Missing
        ));
        assert!(decode(b"short").is_none());
        assert!(decode(&[0; 17]).is_none(), "an unknown kind is a miss");
    }

    #[test]
    fn keys_and_tags_have_one_text_each() {
        let ava = StripeId::parse(IdKind::Customer, "cus_Ava").unwrap();
        assert_eq!(key_text(&Key::Object(ava.clone())), "o:customers:cus_Ava");
        let page = ListRequest::of_customer(&ava);
        assert_eq!(
            key_text(&Key::List(page.query().clone())),
            "l:subscriptions?customer=cus_Ava&limit=10"
        );
        let email =
            ListRequest::customers(Some("a&b@x.io"), &crate::stripe::request::Page::first(3));
        assert_eq!(
            key_text(&Key::List(email.query().clone())),
            "l:customers?email=a%26b@x.io&limit=3"
        );
        for tag in [
            Tag::Object("cus_1".into()),
            Tag::SubscriptionsOf("cus_1".into()),
            Tag::Collection("prices"),
        ] {
            assert_eq!(tag_of(&tag_text(&tag)), Some(tag));
        }
        assert_eq!(tag_of("c:nonsense"), None);
        assert_eq!(tag_of("x"), None);
    }
}
