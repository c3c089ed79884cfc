//! `GET /v1/customers/search`: Stripe's customer search over the sandbox's store.
//!
//! The query language is the part of Stripe's that this project uses:
//!
//! ```text
//! query  := clause ( sep clause )*
//! sep    := " AND " | one or more spaces          (both mean AND, as in Stripe)
//! clause := field ":" string
//! field  := "email" | "name" | "phone" | "metadata[" string "]"
//! string := '…' | "…"                             (a backslash escapes the next character)
//! ```
//!
//! for example `email:'ada@example.com' AND metadata['sso']:'6f1c…'`. A clause matches a
//! customer when the field equals the value exactly, except `email`, which is compared
//! case-insensitively; `metadata['key']` matches only a customer having that key. Deleted
//! customers are never found. Anything else Stripe's language has (`OR`, negation with `-`,
//! substring `~`, numeric fields such as `created`, other fields) is refused with 400
//! `invalid_request_error`, param `query`, and a message naming what was not understood, so a
//! query the sandbox would silently answer wrongly cannot pass unnoticed.
//!
//! Answers are `{"object": "search_result", "data", "has_more", "next_page", "url":
//! "/v1/customers/search"}`, newest first (by `created`, then id), `limit` rows (1 to 100,
//! default 10). `next_page` is an opaque token (null on the last page) that the next call
//! passes as `page`; a token the sandbox did not issue is 400 with param `page`.
//!
//! **Unlike Stripe, there is no indexing lag**: a customer created or changed is found by the
//! very next search. Stripe's search is not read-after-write (a change is normally searchable
//! within a minute, up to an hour during outages), so code that must find a customer it has
//! just written cannot rely on search alone, whatever the sandbox lets it get away with.

use serde_json::{json, Value};

use crate::{
    error::ApiError,
    params::{newest_first, parse_limit, Params},
    store::Store,
};

/// The URL a search result names.
const URL: &str = "/v1/customers/search";

/// A field a clause tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `email`, compared case-insensitively.
    Email,
    /// `name`, exact.
    Name,
    /// `phone`, exact.
    Phone,
    /// `metadata['key']`, exact.
    Metadata(String),
}

/// One `field:'value'` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// What is tested.
    pub field: Field,
    /// The value it must equal.
    pub value: String,
}

impl Clause {
    /// Whether `customer` (a stored customer object) satisfies this clause.
    pub fn matches(&self, customer: &Value) -> bool {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match &self.field {
            Field::Email => text(&customer["email"])
                .is_some_and(|e| e.to_lowercase() == self.value.to_lowercase()),
            Field::Name => text(&customer["name"]).as_deref() == Some(self.value.as_str()),
            Field::Phone => text(&customer["phone"]).as_deref() == Some(self.value.as_str()),
            Field::Metadata(key) => {
                text(&customer["metadata"][key.as_str()]).as_deref() == Some(self.value.as_str())
            }
        }
    }
}

/// Parses a search query into its clauses, all of which must hold. The error is a message
/// saying what was not understood and where.
pub fn parse_query(query: &str) -> Result<Vec<Clause>, String> {
    let mut parser = Parser {
        chars: query.chars().collect(),
        at: 0,
    };
    let mut clauses = vec![parser.clause()?];
    loop {
        let spaces = parser.skip_spaces();
        if parser.done() {
            break;
        }
        if spaces == 0 {
            return Err(parser.unexpected("a space or ` AND ` between clauses"));
        }
        if parser.keyword("AND") {
            if parser.skip_spaces() == 0 {
                return Err(parser.unexpected("a space after `AND`"));
            }
        } else if parser.keyword("OR") {
            return Err(format!(
                "`OR` at position {} is not supported by the sandbox's search: combine clauses with `AND` (or a space).",
                parser.at - 2
            ));
        }
        clauses.push(parser.clause()?);
    }
    Ok(clauses)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn done(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_spaces(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
        self.at - start
    }

    /// Consumes `word` if it is next and followed by a space or the end.
    fn keyword(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        let next: String = self.chars.iter().skip(self.at).take(n).collect();
        let boundary = self
            .chars
            .get(self.at + n)
            .is_none_or(|c| c.is_whitespace());
        if next == word && boundary {
            self.at += n;
            true
        } else {
            false
        }
    }

    fn unexpected(&self, wanted: &str) -> String {
        match self.peek() {
            None => format!("Invalid search query: expected {wanted} at the end of the query."),
            Some(c) => format!(
                "Invalid search query: expected {wanted} at position {}, found `{c}`.",
                self.at
            ),
        }
    }

    fn clause(&mut self) -> Result<Clause, String> {
        self.skip_spaces();
        if self.peek() == Some('-') {
            return Err(format!(
                "Negation (`-`) at position {} is not supported by the sandbox's search.",
                self.at
            ));
        }
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            self.at += 1;
        }
        let name: String = self.chars[start..self.at].iter().collect();
        let field = match name.as_str() {
            "email" => Field::Email,
            "name" => Field::Name,
            "phone" => Field::Phone,
            "metadata" => {
                if self.peek() != Some('[') {
                    return Err(self.unexpected("`[` after `metadata`"));
                }
                self.at += 1;
                let key = self.string()?;
                if self.peek() != Some(']') {
                    return Err(self.unexpected("`]` after the metadata key"));
                }
                self.at += 1;
                Field::Metadata(key)
            }
            "" => return Err(self.unexpected("a field name")),
            other => {
                return Err(format!(
                    "Field `{other}` (position {start}) is not searchable in the sandbox: use email, name, phone or metadata['key']."
                ))
            }
        };
        match self.peek() {
            Some(':') => self.at += 1,
            Some(op @ ('~' | '<' | '>' | '=')) => {
                return Err(format!(
                    "The operator `{op}` at position {} is not supported by the sandbox's search: only `field:'value'` (exact match).",
                    self.at
                ))
            }
            _ => return Err(self.unexpected("`:` after the field")),
        }
        let value = self.string()?;
        Ok(Clause { field, value })
    }

    /// A quoted string; a backslash escapes the next character.
    fn string(&mut self) -> Result<String, String> {
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.unexpected("a value in single or double quotes")),
        };
        let open = self.at;
        self.at += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(format!(
                        "Invalid search query: the string opened at position {open} is not closed."
                    ))
                }
                Some('\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(c) => value.push(c),
                        None => return Err(self.unexpected("a character after `\\`")),
                    }
                }
                Some(c) if c == quote => {
                    self.at += 1;
                    return Ok(value);
                }
                Some(c) => value.push(c),
            }
            self.at += 1;
        }
    }
}

/// Encodes a page token: the `(created, id)` of the last row answered, as hex.
fn page_token(row: &Value) -> String {
    let key = format!(
        "{}:{}",
        row["created"].as_i64().unwrap_or(0),
        row["id"].as_str().unwrap_or("")
    );
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("page_{hex}")
}

/// Decodes a page token into the `(created, id)` after which the next page starts.
fn decode_page_token(token: &str) -> Option<(i64, String)> {
    let hex = token.strip_prefix("page_")?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let key = String::from_utf8(bytes).ok()?;
    let (created, id) = key.split_once(':')?;
    Some((created.parse().ok()?, id.to_owned()))
}

/// Answers `GET /v1/customers/search` with `params` (already checked to be among `query`,
/// `limit` and `page`).
pub fn search_customers(store: &Store, params: &Params) -> Result<Value, ApiError> {
    let Some(query) = params.get("query") else {
        return Err(ApiError::invalid(
            400,
            "parameter_missing",
            Some("query"),
            "Missing required param: query.".into(),
        ));
    };
    let clauses = parse_query(query).map_err(|message| ApiError {
        status: 400,
        body: json!({"error": {
            "type": "invalid_request_error", "param": "query", "message": message,
        }}),
    })?;
    let limit = parse_limit(params)?;
    let after = match params.get("page") {
        None => None,
        Some(token) => Some(decode_page_token(token).ok_or_else(|| {
            ApiError::invalid(
                400,
                "parameter_invalid",
                Some("page"),
                format!("Invalid page token: {token}. Pass the `next_page` of a previous search."),
            )
        })?),
    };
    let rows =
        newest_first(store.objects("customer").filter(|c| {
            c["deleted"] != json!(true) && clauses.iter().all(|clause| clause.matches(c))
        }));
    let rest: Vec<Value> = match after {
        None => rows,
        Some((created, id)) => rows
            .into_iter()
            .filter(|r| {
                let key = (
                    r["created"].as_i64().unwrap_or(0),
                    r["id"].as_str().unwrap_or(""),
                );
                key < (created, id.as_str())
            })
            .collect(),
    };
    let has_more = rest.len() > limit;
    let data: Vec<Value> = rest.into_iter().take(limit).collect();
    let next_page = match (has_more, data.last()) {
        (true, Some(last)) => json!(page_token(last)),
        _ => Value::Null,
    };
    Ok(json!({
        "object": "search_result", "data": data, "has_more": has_more,
        "next_page": next_page, "url": URL,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(field: Field, value: &str) -> Clause {
        Clause {
            field,
            value: value.into(),
        }
    }

    #[test]
    fn clauses_take_either_quote_and_combine_with_and_or_spaces() {
        let want = vec![
            clause(Field::Email, "a@x.io"),
            clause(Field::Metadata("sso".into()), "u-1"),
            clause(Field::Name, "Ada \"L\" O'Neil"),
        ];
        for query in [
            r#"email:'a@x.io' AND metadata['sso']:"u-1" AND name:"Ada \"L\" O'Neil""#,
            r#"email:"a@x.io" metadata["sso"]:'u-1'   name:'Ada "L" O\'Neil'"#,
        ] {
            assert_eq!(parse_query(query).unwrap(), want, "{query}");
        }
        assert_eq!(
            parse_query("phone:'+4930123'").unwrap(),
            [clause(Field::Phone, "+4930123")]
        );
    }

    #[test]
    fn what_the_sandbox_cannot_search_is_refused_with_a_message_saying_what() {
        let cases = [
            ("", "a field name"),
            ("email", "`:` after the field"),
            ("email:ada", "single or double quotes"),
            ("email:'ada", "not closed"),
            ("created>100", "Field `created`"),
            ("name~'ada'", "operator `~`"),
            ("-email:'a'", "Negation"),
            ("email:'a' OR name:'b'", "`OR`"),
            ("email:'a'name:'b'", "between clauses"),
            ("metadata.sso:'x'", "Field `metadata.sso`"),
            ("metadata['sso':'x'", "`]` after the metadata key"),
            ("email:'a' AND", "after `AND`"),
        ];
        for (query, says) in cases {
            let message = parse_query(query).unwrap_err();
            assert!(message.contains(says), "{query}: {message}");
        }
    }

    #[test]
    fn email_matches_case_insensitively_and_the_rest_exactly() {
        let c = json!({"email": "Ada@Example.com", "name": "Ada", "phone": "+1",
                       "metadata": {"sso": "U-1"}});
        assert!(clause(Field::Email, "ada@example.COM").matches(&c));
        assert!(!clause(Field::Name, "ada").matches(&c));
        assert!(clause(Field::Name, "Ada").matches(&c));
        assert!(clause(Field::Phone, "+1").matches(&c));
        assert!(!clause(Field::Metadata("sso".into()), "u-1").matches(&c));
        assert!(!clause(Field::Metadata("other".into()), "U-1").matches(&c));
        assert!(!clause(Field::Email, "").matches(&json!({"email": null})));
    }

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_rejected() {
        let row = json!({"id": "cus_:1", "created": 42});
        assert_eq!(
            decode_page_token(&page_token(&row)),
            Some((42, "cus_:1".into()))
        );
        for bad in ["", "page_", "page_zz", "page_414", "cus_1", "page_é1"] {
            assert_eq!(decode_page_token(bad), None, "{bad}");
        }
    }
}
