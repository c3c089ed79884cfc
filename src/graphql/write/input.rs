//! The checks on a mutation's arguments, made before any Stripe call, and the form
//! parameters they become. A refusal is `BAD_USER_INPUT` with `extensions.argument` naming
//! the argument (or the metadata key, the item index) at fault; the limits are Stripe's
//! documented ones.

use async_graphql::{Error, ErrorExtensions, InputObject, Json};
use serde_json::Value;

use crate::{
    graphql::error::bad_input,
    ids::{IdKind, StripeId},
    stripe::write::{Form, IdempotencyKey},
};

/// Stripe's metadata limits: keys per object, key length, value length.
pub const MAX_METADATA_KEYS: usize = 50;
/// Longest metadata key.
pub const MAX_METADATA_KEY_LEN: usize = 40;
/// Longest metadata value.
pub const MAX_METADATA_VALUE_LEN: usize = 500;
/// Longest customer email Stripe stores.
pub const MAX_EMAIL_LEN: usize = 512;
/// Longest customer name.
pub const MAX_NAME_LEN: usize = 256;
/// Longest customer phone number.
pub const MAX_PHONE_LEN: usize = 20;
/// Longest free text (description, address lines) accepted here.
pub const MAX_TEXT_LEN: usize = 5000;
/// Most items on one subscription.
pub const MAX_ITEMS: usize = 20;
/// Longest trial Stripe allows, in days.
pub const MAX_TRIAL_DAYS: i32 = 730;

/// A `BAD_USER_INPUT` error naming the argument at fault (`extensions.argument`).
pub fn invalid(argument: &str, message: impl Into<String>) -> Error {
    bad_input(message).extend_with(|_, ext| ext.set("argument", argument))
}

/// The caller's `idempotencyKey`, validated.
pub fn idempotency_key(raw: Option<&str>) -> async_graphql::Result<Option<IdempotencyKey>> {
    raw.map(|raw| IdempotencyKey::parse(raw).map_err(|e| invalid("idempotencyKey", e.to_string())))
        .transpose()
}

/// A validated id of `kind` given as `argument`.
pub fn id_arg(argument: &str, kind: IdKind, raw: &str) -> async_graphql::Result<StripeId> {
    StripeId::parse(kind, raw).map_err(|e| invalid(argument, e.to_string()))
}

/// An id Stripe checks itself (a payment method): only the character rule of
/// [`crate::ids`], so it stays one form value.
pub fn plain_id(argument: &str, raw: &str) -> async_graphql::Result<String> {
    let ok = !raw.is_empty()
        && raw.len() <= crate::ids::MAX_ID_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(invalid(
            argument,
            format!("`{argument}` must be an id: 1 to 255 letters, digits, `_` and `-`"),
        ))
    }
}

/// Free text for `argument`: at most `max` characters, no control characters (newlines and
/// tabs allowed where `multiline`). An empty string is kept: on an update it clears the field.
pub fn text(argument: &str, value: &str, max: usize, multiline: bool) -> async_graphql::Result<()> {
    if value.chars().count() > max {
        return Err(invalid(
            argument,
            format!("`{argument}` is longer than {max} characters"),
        ));
    }
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if value.chars().any(bad) {
        return Err(invalid(
            argument,
            format!("`{argument}` must not contain control characters"),
        ));
    }
    Ok(())
}

/// Sets `key` from a text argument checked by [`text`].
pub fn set_text(
    form: &mut Form,
    key: &str,
    argument: &str,
    value: Option<&str>,
    max: usize,
) -> async_graphql::Result<()> {
    if let Some(value) = value {
        text(argument, value, max, false)?;
        form.set(key, value);
    }
    Ok(())
}

/// An email address: empty (clears it on an update), or at most 512 characters with one `@`
/// between a non-empty local part and domain, no spaces or control characters.
pub fn email(value: &str) -> async_graphql::Result<()> {
    text("email", value, MAX_EMAIL_LEN, false)?;
    if value.is_empty() {
        return Ok(());
    }
    let shaped = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    });
    if !shaped || value.contains(char::is_whitespace) {
        return Err(invalid("email", "`email` is not an email address"));
    }
    Ok(())
}

/// A postal address. Every field is optional; on an update an empty string clears one.
#[derive(InputObject, Debug, Clone, Default)]
#[graphql(name = "StripeAddressInput")]
pub struct AddressInput {
    /// Street, PO box or company name.
    pub line1: Option<String>,
    /// Apartment, suite, unit or building.
    pub line2: Option<String>,
    /// City, district, suburb, town or village.
    pub city: Option<String>,
    /// State, county, province or region.
    pub state: Option<String>,
    /// ZIP or postal code.
    pub postal_code: Option<String>,
    /// Two-letter country code (ISO 3166-1 alpha-2), e.g. `DE`.
    pub country: Option<String>,
}

impl AddressInput {
    /// Sets `address[…]` for each given field.
    pub fn apply(&self, form: &mut Form) -> async_graphql::Result<()> {
        let lines = [
            ("line1", &self.line1),
            ("line2", &self.line2),
            ("city", &self.city),
            ("state", &self.state),
            ("postal_code", &self.postal_code),
        ];
        for (field, value) in lines {
            let argument = format!("address.{}", camel(field));
            set_text(
                form,
                &format!("address[{field}]"),
                &argument,
                value.as_deref(),
                MAX_TEXT_LEN,
            )?;
        }
        if let Some(country) = &self.country {
            let ok = country.is_empty()
                || (country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()));
            if !ok {
                return Err(invalid(
                    "address.country",
                    "`address.country` must be a two-letter country code, e.g. DE",
                ));
            }
            form.set("address[country]", country.to_ascii_uppercase());
        }
        Ok(())
    }
}

fn camel(field: &str) -> &str {
    match field {
        "postal_code" => "postalCode",
        other => other,
    }
}

/// Sets `<prefix>[key]=value` for each metadata entry: an object of string keys to string
/// values, or to null to delete the key (on updates, where Stripe merges metadata key by key).
/// Checks Stripe's limits: at most 50 keys of 1 to 40 characters without `[` or `]`, values
/// of at most 500 characters.
pub fn metadata(
    form: &mut Form,
    prefix: &str,
    argument: &str,
    metadata: Option<&Json<Value>>,
) -> async_graphql::Result<()> {
    let Some(Json(value)) = metadata else {
        return Ok(());
    };
    let Value::Object(entries) = value else {
        return Err(invalid(
            argument,
            format!("`{argument}` must be an object of string keys to string values"),
        ));
    };
    if entries.len() > MAX_METADATA_KEYS {
        return Err(invalid(
            argument,
            format!("`{argument}` has more than {MAX_METADATA_KEYS} keys"),
        ));
    }
    for (key, value) in entries {
        let at = format!("{argument}.{key}");
        let key_ok = !key.is_empty()
            && key.chars().count() <= MAX_METADATA_KEY_LEN
            && !key.contains(['[', ']'])
            && !key.chars().any(char::is_control);
        if !key_ok {
            return Err(invalid(
                argument,
                format!(
                    "`{argument}` keys must be 1 to {MAX_METADATA_KEY_LEN} characters without `[`, `]` or control characters"
                ),
            ));
        }
        let value = match value {
            Value::String(v) => {
                text(&at, v, MAX_METADATA_VALUE_LEN, true)?;
                v.as_str()
            }
            // Stripe deletes a key sent with an empty value.
            Value::Null => "",
            _ => {
                return Err(invalid(
                    &at,
                    format!("`{at}` must be a string (or null to delete the key)"),
                ))
            }
        };
        form.set(format!("{prefix}[{key}]"), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn form_of(value: Value) -> Result<Vec<(String, String)>, String> {
        let mut form = Form::new();
        metadata(&mut form, "metadata", "metadata", Some(&Json(value)))
            .map(|()| form.pairs().to_vec())
            .map_err(|e| e.message)
    }

    #[test]
    fn metadata_becomes_bracketed_keys_and_null_deletes() {
        assert_eq!(
            form_of(json!({"plan": "gold", "old": null})).unwrap(),
            [
                ("metadata[old]".to_owned(), String::new()),
                ("metadata[plan]".to_owned(), "gold".to_owned())
            ]
        );
    }

    #[test]
    fn metadata_outside_stripes_limits_is_refused_before_any_call() {
        let many: serde_json::Map<String, Value> =
            (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        let cases = [
            (json!(["not", "an", "object"]), "must be an object"),
            (json!({"k": 1}), "must be a string"),
            (json!({"a[b]": "v"}), "keys must be"),
            (json!({"": "v"}), "keys must be"),
            (json!({"k".repeat(41): "v"}), "keys must be"),
            (json!({"k": "v".repeat(501)}), "longer than 500"),
            (Value::Object(many), "more than 50 keys"),
        ];
        for (value, expected) in cases {
            let message = form_of(value.clone()).unwrap_err();
            assert!(message.contains(expected), "{value}: {message}");
        }
    }

    #[test]
    fn emails_need_one_at_between_two_parts() {
        for ok in ["", "jane@example.com", "a+b@x.io"] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "jane",
            "@example.com",
            "jane@",
            "a@b@c",
            "ja ne@x.io",
            "a@b\n",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_address_sets_bracketed_fields_and_checks_the_country() {
        let address = AddressInput {
            line1: Some("Main St 1".into()),
            postal_code: Some("10115".into()),
            country: Some("de".into()),
            ..AddressInput::default()
        };
        let mut form = Form::new();
        address.apply(&mut form).unwrap();
        assert_eq!(
            form.encode(),
            "address%5Bline1%5D=Main+St+1&address%5Bpostal_code%5D=10115&address%5Bcountry%5D=DE"
        );
        let bad = AddressInput {
            country: Some("Germany".into()),
            ..AddressInput::default()
        };
        let error = bad.apply(&mut Form::new()).unwrap_err();
        assert!(error.message.contains("two-letter"), "{}", error.message);
    }
}
