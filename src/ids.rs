//! Stripe id validation.
//!
//! Every id that reaches a Stripe URL (as a path segment or a query parameter) is a
//! [`StripeId`], and [`StripeId::parse`] is the only way to build one. The rules are
//! deliberately narrow:
//!
//! - 1 to 255 characters from `[A-Za-z0-9_-]`: no `/`, `.`, `%`, `?`, `#`, whitespace or
//!   anything else that could change which Stripe path a request reaches;
//! - the object's prefix where Stripe always generates the id (`cus_`, `sub_`, `si_`);
//!   prices, plans and products may carry ids chosen by the account (`plan_gold`, `basic`), so
//!   for them only the character rule applies, plus one exception: `search`, which would
//!   reach Stripe's search endpoint (`/v1/prices/search`, `/v1/products/search`) instead of
//!   an object.
//!
//! The Stripe client additionally percent-encodes the id into its own path segment, so even a
//! value that slipped past these rules could not leave it.

use std::fmt;

/// The kind of Stripe object an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// `cus_…`
    Customer,
    /// `sub_…`
    Subscription,
    /// `si_…`
    SubscriptionItem,
    /// `price_…`, or a custom id (a plan created with its own id is also a price)
    Price,
    /// `plan_…`, `price_…`, or a custom id
    Plan,
    /// `prod_…`, or a custom id
    Product,
}

impl IdKind {
    /// The prefix Stripe always uses for this kind, when there is one.
    pub fn required_prefix(self) -> Option<&'static str> {
        match self {
            IdKind::Customer => Some("cus_"),
            IdKind::Subscription => Some("sub_"),
            IdKind::SubscriptionItem => Some("si_"),
            IdKind::Price | IdKind::Plan | IdKind::Product => None,
        }
    }

    /// Human name used in error messages.
    pub fn noun(self) -> &'static str {
        match self {
            IdKind::Customer => "customer",
            IdKind::Subscription => "subscription",
            IdKind::SubscriptionItem => "subscription item",
            IdKind::Price => "price",
            IdKind::Plan => "plan",
            IdKind::Product => "product",
        }
    }
}

/// Longest id accepted. Stripe's own ids are far shorter; custom ids are capped well below this.
pub const MAX_ID_LEN: usize = 255;

/// Why an id was refused. The message never echoes more than the first characters of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty.
    #[error("{noun} id must not be empty")]
    Empty {
        /// kind of object
        noun: &'static str,
    },
    /// The id is longer than [`MAX_ID_LEN`].
    #[error("{noun} id is longer than {MAX_ID_LEN} characters")]
    TooLong {
        /// kind of object
        noun: &'static str,
    },
    /// The id lacks the prefix Stripe always uses for this kind.
    #[error("{noun} id must start with `{prefix}`")]
    WrongPrefix {
        /// kind of object
        noun: &'static str,
        /// expected prefix
        prefix: &'static str,
    },
    /// The id contains a character outside `[A-Za-z0-9_-]`.
    #[error("{noun} id may contain only letters, digits, `_` and `-`")]
    BadCharacter {
        /// kind of object
        noun: &'static str,
    },
    /// The id is a word Stripe routes to an endpoint, not to an object.
    #[error("`{word}` is not a {noun} id: it names a Stripe endpoint")]
    Reserved {
        /// kind of object
        noun: &'static str,
        /// the word
        word: &'static str,
    },
}

/// Path segments Stripe routes to an endpoint under an object collection
/// (`GET /v1/prices/search`), which a custom id must therefore not be.
const RESERVED: [&str; 1] = ["search"];

/// A validated Stripe id of a known kind. Construct it with [`StripeId::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StripeId {
    kind: IdKind,
    value: String,
}

impl StripeId {
    /// Validates `raw` as an id of `kind` (see the module docs for the rules).
    pub fn parse(kind: IdKind, raw: &str) -> Result<StripeId, IdError> {
        let noun = kind.noun();
        if raw.is_empty() {
            return Err(IdError::Empty { noun });
        }
        if raw.len() > MAX_ID_LEN {
            return Err(IdError::TooLong { noun });
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(IdError::BadCharacter { noun });
        }
        if let Some(prefix) = kind.required_prefix() {
            if !raw.starts_with(prefix) || raw.len() == prefix.len() {
                return Err(IdError::WrongPrefix { noun, prefix });
            }
        }
        if let Some(word) = RESERVED.iter().find(|w| w.eq_ignore_ascii_case(raw)) {
            return Err(IdError::Reserved { noun, word });
        }
        Ok(StripeId {
            kind,
            value: raw.to_owned(),
        })
    }

    /// The kind of object this id names.
    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// The id as Stripe spells it.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for StripeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ids_stripe_generates() {
        for (kind, id) in [
            (IdKind::Customer, "cus_QXg1o8vcGmoR32"),
            (IdKind::Subscription, "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"),
            (IdKind::SubscriptionItem, "si_QXhVnC2h0Jczwc"),
            (IdKind::Price, "price_1PgafmB7WZ01zgkW6dKueIc5"),
            (IdKind::Plan, "price_1PgafmB7WZ01zgkW6dKueIc5"),
            (IdKind::Product, "prod_QXg1hqf4jFNsqG"),
        ] {
            assert_eq!(StripeId::parse(kind, id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn accepts_custom_ids_where_stripe_allows_them() {
        assert!(StripeId::parse(IdKind::Plan, "gold-monthly").is_ok());
        assert!(StripeId::parse(IdKind::Product, "prod_basic").is_ok());
        assert!(StripeId::parse(IdKind::Price, "plan_basic_monthly").is_ok());
    }

    #[test]
    fn refuses_ids_that_name_a_stripe_endpoint() {
        for kind in [IdKind::Price, IdKind::Plan, IdKind::Product] {
            for word in ["search", "Search"] {
                assert_eq!(
                    StripeId::parse(kind, word),
                    Err(IdError::Reserved {
                        noun: kind.noun(),
                        word: "search"
                    })
                );
            }
        }
        assert!(StripeId::parse(IdKind::Product, "prod_search").is_ok());
        assert!(StripeId::parse(IdKind::Price, "searchable").is_ok());
    }

    #[test]
    fn refuses_path_traversal_and_url_syntax() {
        for bad in [
            "cus_1/../../v1/charges",
            "cus_1%2F..%2Fcharges",
            "cus_1?expand[]=x",
            "cus_1#x",
            "cus_..",
            "cus_1 2",
            "cus_1\n",
            "cus_ü",
        ] {
            assert_eq!(
                StripeId::parse(IdKind::Customer, bad),
                Err(IdError::BadCharacter { noun: "customer" }),
                "{bad:?}"
            );
        }
        assert!(StripeId::parse(IdKind::Product, "..").is_err());
    }

    #[test]
    fn refuses_wrong_prefix_empty_and_overlong_ids() {
        assert_eq!(
            StripeId::parse(IdKind::Customer, "sub_123"),
            Err(IdError::WrongPrefix {
                noun: "customer",
                prefix: "cus_"
            })
        );
        assert!(matches!(
            StripeId::parse(IdKind::Subscription, "sub_"),
            Err(IdError::WrongPrefix { .. })
        ));
        assert_eq!(
            StripeId::parse(IdKind::Price, ""),
            Err(IdError::Empty { noun: "price" })
        );
        let long = format!("cus_{}", "a".repeat(MAX_ID_LEN));
        assert_eq!(
            StripeId::parse(IdKind::Customer, &long),
            Err(IdError::TooLong { noun: "customer" })
        );
    }
}

/// Properties of [`StripeId::parse`] over generated input (256 cases each): what it accepts is
/// exactly the documented rule, whatever the string. The strategies are shared with the URL
/// properties in [`crate::stripe::request`].
#[cfg(test)]
pub(crate) mod properties {
    use proptest::prelude::*;

    use super::*;

    pub(crate) const KINDS: [IdKind; 6] = [
        IdKind::Customer,
        IdKind::Subscription,
        IdKind::SubscriptionItem,
        IdKind::Price,
        IdKind::Plan,
        IdKind::Product,
    ];

    pub(crate) fn kind() -> impl Strategy<Value = IdKind> {
        proptest::sample::select(KINDS.to_vec())
    }

    /// Strings that look like ids, almost-ids and URL tricks: a prefix from every kind (or
    /// none, or `search`), then characters that are allowed, URL syntax, dots, escapes,
    /// whitespace and non-ASCII; plus fully arbitrary strings and lengths around the limit.
    pub(crate) fn id_like() -> impl Strategy<Value = String> {
        let prefix = proptest::sample::select(vec![
            "", "cus_", "sub_", "si_", "price_", "plan_", "prod_", "search", "SEARCH", "..", "%2F",
        ]);
        let body = "[A-Za-z0-9_\\-./%?#:@ \\\\\t\n\u{e9}\u{fffd}]{0,12}";
        prop_oneof![
            4 => (prefix.clone(), body).prop_map(|(p, b)| format!("{p}{b}")),
            2 => (prefix, "[A-Za-z0-9_-]{1,20}").prop_map(|(p, b)| format!("{p}{b}")),
            2 => any::<String>(),
            1 => "(cus_|sub_)?[A-Za-z0-9_-]{250,260}",
        ]
    }

    /// The documented rule, restated independently of the implementation.
    fn allowed(kind: IdKind, raw: &str) -> bool {
        let charset = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let prefix = match kind.required_prefix() {
            Some(p) => raw.starts_with(p) && raw.len() > p.len(),
            None => true,
        };
        (1..=MAX_ID_LEN).contains(&raw.len())
            && charset
            && prefix
            && !raw.eq_ignore_ascii_case("search")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn an_id_is_accepted_exactly_when_the_documented_rule_allows_it(
            kind in kind(),
            raw in id_like(),
        ) {
            let parsed = StripeId::parse(kind, &raw);
            prop_assert_eq!(parsed.is_ok(), allowed(kind, &raw), "{:?} as {:?}: {:?}", raw, kind, parsed);
            if let Ok(id) = parsed {
                prop_assert_eq!(id.as_str(), raw.as_str());
                prop_assert_eq!(id.kind(), kind);
            }
        }

        #[test]
        fn a_refusal_names_the_first_rule_the_id_breaks(kind in kind(), raw in id_like()) {
            let noun = kind.noun();
            let bad_character = !raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let expected = if raw.is_empty() {
                Some(IdError::Empty { noun })
            } else if raw.len() > MAX_ID_LEN {
                Some(IdError::TooLong { noun })
            } else if bad_character {
                Some(IdError::BadCharacter { noun })
            } else if let Some(prefix) = kind
                .required_prefix()
                .filter(|p| !raw.starts_with(p) || raw.len() == p.len())
            {
                Some(IdError::WrongPrefix { noun, prefix })
            } else if raw.eq_ignore_ascii_case("search") {
                Some(IdError::Reserved { noun, word: "search" })
            } else {
                None
            };
            prop_assert_eq!(StripeId::parse(kind, &raw).err(), expected);
        }
    }
}
