//! Stripe's form encoding, decoded: the parameters of a write (a POST's
//! `application/x-www-form-urlencoded` body, or a DELETE's query string) as a tree of hashes.
//!
//! - **Names with brackets nest**: `metadata[tier]=gold`, `address[postal_code]=10115`,
//!   `items[0][metadata][k]=v`, `pause_collection[behavior]=void`. Brackets may be sent raw or
//!   percent-encoded (`items%5B0%5D%5Bprice%5D`): a name is percent-decoded before it is split.
//!   Arrays are hashes with the indices as keys (`items[0]`, `items[1]`, …), read back in
//!   numeric order ([`Hash::array`]).
//! - **A value is text**; an empty one is kept as `""` (on Stripe it clears the field:
//!   `description=`, `metadata=`, `pause_collection=`), and each endpoint says what it clears.
//! - **Refusals name the parameter as sent** (decoded), in Stripe's error shape: a name that is
//!   not `name[key]…` with balanced brackets is 400 `parameter_unknown`; the same name twice, or
//!   a name given both as a value and as a hash (`metadata=&metadata[k]=v`), is 400
//!   `parameter_invalid`. Reading a hash where text was sent, or text where a hash was sent, is
//!   `parameter_invalid` too ([`Hash::text`], [`Hash::hash`]).

use std::collections::BTreeMap;

use crate::error::ApiError;

/// The decoded `name=value` pairs of a form body or query string, in the order sent.
pub fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

/// One parameter: text, or a hash of nested parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `name=value`.
    Text(String),
    /// `name[key]=…`, by key.
    Nested(BTreeMap<String, Field>),
}

/// The parameters of one write request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    fields: BTreeMap<String, Field>,
}

impl Form {
    /// Decodes a form-encoded body or query string.
    pub fn parse(raw: &[u8]) -> Result<Form, ApiError> {
        Form::from_pairs(&pairs(raw))
    }

    /// Builds the tree from decoded pairs.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Form, ApiError> {
        let mut form = Form::default();
        for (name, value) in pairs {
            let path = split_name(name).ok_or_else(|| unknown(name))?;
            insert(&mut form.fields, &path, value, name)?;
        }
        Ok(form)
    }

    /// The top level of the parameters.
    pub fn root(&self) -> Hash<'_> {
        Hash {
            prefix: String::new(),
            fields: &self.fields,
        }
    }
}

/// `a[b][c]` → `["a", "b", "c"]`; `None` for a name that is not a name followed by bracketed
/// keys (an empty key, as in `expand[]`, is a key).
fn split_name(name: &str) -> Option<Vec<&str>> {
    let (head, mut rest) = name.find('[').map_or((name, ""), |i| name.split_at(i));
    if head.is_empty() || head.contains(']') {
        return None;
    }
    let mut path = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let key = &inner[..end];
        if key.contains('[') {
            return None;
        }
        path.push(key);
        rest = &inner[end + 1..];
    }
    Some(path)
}

fn insert(
    map: &mut BTreeMap<String, Field>,
    path: &[&str],
    value: &str,
    name: &str,
) -> Result<(), ApiError> {
    let Some((first, rest)) = path.split_first() else {
        return Err(unknown(name));
    };
    if rest.is_empty() {
        if map.contains_key(*first) {
            return Err(ApiError::invalid(
                400,
                "parameter_invalid",
                Some(name),
                format!("Received duplicate parameter: {name}"),
            ));
        }
        map.insert((*first).to_owned(), Field::Text(value.to_owned()));
        return Ok(());
    }
    let entry = map
        .entry((*first).to_owned())
        .or_insert_with(|| Field::Nested(BTreeMap::new()));
    match entry {
        Field::Nested(inner) => insert(inner, rest, value, name),
        Field::Text(_) => Err(ApiError::invalid(
            400,
            "parameter_invalid",
            Some(name),
            format!("Invalid parameters: {name} was also sent as a plain value"),
        )),
    }
}

/// 400 `parameter_unknown` naming `name`.
pub fn unknown(name: &str) -> ApiError {
    ApiError::invalid(
        400,
        "parameter_unknown",
        Some(name),
        format!("Received unknown parameter: {name}"),
    )
}

/// 400 `parameter_invalid` naming `param`.
pub fn invalid(param: &str, message: String) -> ApiError {
    ApiError::invalid(400, "parameter_invalid", Some(param), message)
}

/// 400 `parameter_missing` naming `param`.
pub fn missing(param: &str) -> ApiError {
    ApiError::invalid(
        400,
        "parameter_missing",
        Some(param),
        format!("Missing required param: {param}."),
    )
}

/// A hash of parameters (the top level, or one nested under a name), which knows its own name
/// so refusals can name the parameter in full (`items[0][price]`).
#[derive(Debug, Clone)]
pub struct Hash<'a> {
    prefix: String,
    fields: &'a BTreeMap<String, Field>,
}

impl<'a> Hash<'a> {
    /// The full name of `key` in this hash: `key` at the top level, else `prefix[key]`.
    pub fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}[{key}]", self.prefix)
        }
    }

    /// Whether nothing was sent in this hash.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The keys sent in this hash, in name order.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.fields.keys().map(String::as_str)
    }

    /// The raw field of `key`.
    pub fn get(&self, key: &str) -> Option<&'a Field> {
        self.fields.get(key)
    }

    /// Refuses the first key (in name order) that is not in `allowed`: 400
    /// `parameter_unknown` naming the parameter as sent (`expand[]`, `foo[bar]`).
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self
            .fields
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            None => Ok(()),
            Some((key, field)) => Err(unknown(&first_leaf_name(&self.name(key), field))),
        }
    }

    /// The text of `key`; a hash there is `parameter_invalid`.
    pub fn text(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.fields.get(key) {
            None => Ok(None),
            Some(Field::Text(text)) => Ok(Some(text)),
            Some(Field::Nested(_)) => Err(invalid(
                &self.name(key),
                format!(
                    "Invalid string: {} must be a string, not a hash",
                    self.name(key)
                ),
            )),
        }
    }

    /// The hash under `key`; text there is `parameter_invalid` (callers that give an empty
    /// value a meaning, such as clearing, look at [`Hash::get`] first).
    pub fn hash(&self, key: &str) -> Result<Option<Hash<'a>>, ApiError> {
        match self.fields.get(key) {
            None => Ok(None),
            Some(Field::Nested(fields)) => Ok(Some(Hash {
                prefix: self.name(key),
                fields,
            })),
            Some(Field::Text(_)) => Err(invalid(
                &self.name(key),
                format!("Invalid hash: {} must be a hash", self.name(key)),
            )),
        }
    }

    /// `true` or `false`; anything else is `parameter_invalid`.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.text(key)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(invalid(
                &self.name(key),
                format!("Invalid boolean: {other}"),
            )),
        }
    }

    /// A whole number; anything else is `parameter_invalid_integer`.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.text(key)? {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                ApiError::invalid(
                    400,
                    "parameter_invalid_integer",
                    Some(&self.name(key)),
                    format!("Invalid integer: {text}"),
                )
            }),
        }
    }

    /// One of `choices`; anything else is `parameter_invalid`.
    pub fn choice(&self, key: &str, choices: &[&str]) -> Result<Option<&'a str>, ApiError> {
        match self.text(key)? {
            Some(text) if !choices.contains(&text) => Err(invalid(
                &self.name(key),
                format!(
                    "Invalid {}: must be one of {}",
                    self.name(key),
                    choices.join(", ")
                ),
            )),
            other => Ok(other),
        }
    }

    /// The array under `key` (`key[0][…]`, `key[1][…]`, …), each element a hash, in numeric
    /// index order. Text, a non-numeric index or an element that is not a hash is
    /// `parameter_invalid`.
    pub fn array(&self, key: &str) -> Result<Option<Vec<Hash<'a>>>, ApiError> {
        let Some(array) = self.hash(key)? else {
            return Ok(None);
        };
        let mut elements = Vec::new();
        for index in array.keys() {
            let Ok(n) = index.parse::<usize>() else {
                return Err(invalid(
                    &array.prefix,
                    format!(
                        "Invalid array: {} takes indices 0, 1, …, not {index:?}",
                        array.prefix
                    ),
                ));
            };
            let element = array.hash(index)?.expect("the key was listed");
            elements.push((n, element));
        }
        elements.sort_by_key(|(n, _)| *n);
        Ok(Some(elements.into_iter().map(|(_, e)| e).collect()))
    }
}

/// The full name of the first value under `field`, named `name` (for refusing a nested
/// parameter where text belongs: `metadata[a][b]`).
pub fn first_leaf_name(name: &str, field: &Field) -> String {
    match field {
        Field::Text(_) => name.to_owned(),
        Field::Nested(map) => match map.iter().next() {
            Some((key, inner)) => first_leaf_name(&format!("{name}[{key}]"), inner),
            None => name.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(raw: &str) -> Form {
        Form::parse(raw.as_bytes()).expect("a valid form")
    }

    fn refusal(raw: &str) -> (String, String) {
        let err = Form::parse(raw.as_bytes()).unwrap_err();
        assert_eq!(err.status, 400);
        (
            err.body["error"]["code"].as_str().unwrap().to_owned(),
            err.body["error"]["param"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn bracketed_names_nest_whether_the_brackets_are_raw_or_percent_encoded() {
        let raw = form("items[0][price]=p0&items%5B1%5D%5Bprice%5D=p1&items%5b1%5d%5bmetadata%5d%5bk%5d=v&address[postal_code]=10115&metadata%5Btier%5D=gold+plus");
        let root = form_root(&raw);
        let items = root.array("items").unwrap().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].text("price").unwrap(), Some("p0"));
        assert_eq!(items[1].text("price").unwrap(), Some("p1"));
        let meta = items[1].hash("metadata").unwrap().unwrap();
        assert_eq!(meta.text("k").unwrap(), Some("v"));
        assert_eq!(meta.name("k"), "items[1][metadata][k]");
        let address = root.hash("address").unwrap().unwrap();
        assert_eq!(address.text("postal_code").unwrap(), Some("10115"));
        let metadata = root.hash("metadata").unwrap().unwrap();
        assert_eq!(metadata.text("tier").unwrap(), Some("gold plus"));
    }

    fn form_root(form: &Form) -> Hash<'_> {
        form.root()
    }

    #[test]
    fn array_elements_come_back_in_numeric_index_order() {
        let raw = form("items[10][price]=ten&items[2][price]=two&items[0][price]=zero");
        let root = raw.root();
        let prices: Vec<_> = root
            .array("items")
            .unwrap()
            .unwrap()
            .iter()
            .map(|i| i.text("price").unwrap().unwrap())
            .collect();
        assert_eq!(prices, ["zero", "two", "ten"]);
        let bad = form("items[x][price]=p");
        let err = bad.root().array("items").unwrap_err();
        assert_eq!(err.body["error"]["param"], json!("items"));
        let text = form("items=p");
        assert_eq!(
            text.root().array("items").unwrap_err().body["error"]["code"],
            json!("parameter_invalid")
        );
    }

    #[test]
    fn an_empty_value_is_kept_so_it_can_clear() {
        let raw = form("pause_collection=&description=");
        let root = raw.root();
        assert_eq!(
            root.get("pause_collection"),
            Some(&Field::Text(String::new()))
        );
        assert_eq!(root.text("description").unwrap(), Some(""));
    }

    #[test]
    fn malformed_repeated_and_conflicting_names_are_refused_naming_them() {
        assert_eq!(refusal("a]b=1"), ("parameter_unknown".into(), "a]b".into()));
        assert_eq!(
            refusal("metadata[a=1"),
            ("parameter_unknown".into(), "metadata[a".into())
        );
        assert_eq!(refusal("[a]=1"), ("parameter_unknown".into(), "[a]".into()));
        assert_eq!(
            refusal("name=a&name=b"),
            ("parameter_invalid".into(), "name".into())
        );
        assert_eq!(
            refusal("metadata=&metadata[k]=v"),
            ("parameter_invalid".into(), "metadata[k]".into())
        );
        assert_eq!(
            refusal("metadata[k]=v&metadata=").1,
            "metadata",
            "a value where a hash was sent"
        );
    }

    #[test]
    fn typed_readers_refuse_wrong_shapes_naming_the_full_parameter() {
        let raw = form("items[0][quantity]=two&cancel_at_period_end=yes&name[x]=1&pause_collection[behavior]=stop");
        let root = raw.root();
        let item = &root.array("items").unwrap().unwrap()[0];
        let err = item.int("quantity").unwrap_err();
        assert_eq!(
            err.body["error"]["code"],
            json!("parameter_invalid_integer")
        );
        assert_eq!(err.body["error"]["param"], json!("items[0][quantity]"));
        let err = root.bool("cancel_at_period_end").unwrap_err();
        assert_eq!(err.body["error"]["param"], json!("cancel_at_period_end"));
        let err = root.text("name").unwrap_err();
        assert_eq!(err.body["error"]["param"], json!("name"));
        let pause = root.hash("pause_collection").unwrap().unwrap();
        let err = pause.choice("behavior", &["void"]).unwrap_err();
        assert_eq!(
            err.body["error"]["param"],
            json!("pause_collection[behavior]")
        );
        let err = root.only(&["items"]).unwrap_err();
        assert_eq!(err.body["error"]["code"], json!("parameter_unknown"));
        assert_eq!(err.body["error"]["param"], json!("cancel_at_period_end"));
        assert_eq!(
            first_leaf_name("items", root.get("items").unwrap()),
            "items[0][quantity]"
        );
    }
}
