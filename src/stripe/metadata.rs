//! Stripe's `metadata`: up to 50 keys with string values, on most objects.
//!
//! Held as one sorted allocation of pairs rather than `serde_json::Map` (a B-tree whose
//! smallest node is about 600 bytes): a mirrored customer carries three of them (its own and
//! its two subscriptions'), most with one key. It reads and writes as the JSON object Stripe
//! sends, keys in sorted order (as `serde_json::Map` wrote them).

use std::fmt;

use serde::{
    de::{MapAccess, Visitor},
    ser::SerializeMap,
    Deserialize, Deserializer, Serialize, Serializer,
};
use serde_json::Value;

/// An object's metadata, keys sorted (see the module docs).
#[derive(Clone, Default, PartialEq)]
pub struct Metadata(Box<[(Box<str>, Value)]>);

impl Metadata {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// The keys and values, keys sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// How many keys are set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, Value)> for Metadata {
    /// The pairs, sorted by key; of a key given twice, the last value.
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Metadata {
        let mut pairs: Vec<(Box<str>, Value)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into_boxed_str(), v))
            .collect();
        // Stable: of equal keys the last one given stays last, and is kept.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept: Vec<(Box<str>, Value)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match kept.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => kept.push(pair),
            }
        }
        Metadata(kept.into_boxed_slice())
    }
}

impl std::ops::Index<&str> for Metadata {
    type Output = Value;

    /// The value of `key`, or `null` when it is not set (as `serde_json::Map` indexes).
    fn index(&self, key: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(key).unwrap_or(&NULL)
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Metadata, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Metadata;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a metadata object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(50));
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    pairs.push((k, v));
                }
                Ok(pairs.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn it_reads_and_writes_the_object_stripe_sends_with_keys_sorted() {
        let metadata: Metadata =
            serde_json::from_value(json!({"sso": "u-1", "plan": "gold", "n": "3"})).unwrap();
        assert_eq!(metadata.get("sso"), Some(&json!("u-1")));
        assert_eq!(metadata["plan"], json!("gold"));
        assert_eq!(metadata["missing"], Value::Null);
        assert_eq!(metadata.get("missing"), None);
        assert_eq!(metadata.len(), 3);
        assert_eq!(
            serde_json::to_string(&metadata).unwrap(),
            r#"{"n":"3","plan":"gold","sso":"u-1"}"#
        );
        // The same text as serde_json's own map writes.
        let map: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"sso": "u-1", "plan": "gold", "n": "3"})).unwrap();
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            serde_json::to_string(&metadata).unwrap()
        );
        let empty: Metadata = serde_json::from_value(json!({})).unwrap();
        assert!(empty.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
        assert!(serde_json::from_value::<Metadata>(json!(["a"])).is_err());
    }

    #[test]
    fn a_key_given_twice_keeps_its_last_value() {
        let metadata: Metadata = serde_json::from_str(r#"{"a":"1","b":"2","a":"3"}"#).unwrap();
        assert_eq!(metadata["a"], json!("3"));
        assert_eq!(metadata.len(), 2);
    }
}
