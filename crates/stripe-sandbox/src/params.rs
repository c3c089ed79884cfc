//! The query parameters of the read endpoints, decoded and checked ([`Params`]), and Stripe's
//! paging of lists: `limit`, the cursors `starting_after` and `ending_before`, newest first.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::error::ApiError;

/// Query parameters of one request, decoded.
pub type Params = BTreeMap<String, String>;

/// The query parameters every list takes.
pub(crate) const PAGING: [&str; 3] = ["limit", "starting_after", "ending_before"];

/// The decoded parameters of a raw query string; a repeated one is 400 `parameter_invalid`.
pub(crate) fn parse(query: &str) -> Result<Params, ApiError> {
    let mut params = Params::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return Err(ApiError::bad_param(
                &k,
                format!("Received duplicate parameter: {k}"),
            ));
        }
    }
    Ok(params)
}

/// The rows, newest `created` first, ties by id descending.
pub(crate) fn newest_first<'a>(rows: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut rows: Vec<Value> = rows.cloned().collect();
    rows.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v["created"].as_i64().unwrap_or(0),
                v["id"].as_str().unwrap_or("").to_owned(),
            )
        };
        key(b).cmp(&key(a))
    });
    rows
}

/// The `limit` parameter: 1 to 100, 10 when absent.
pub(crate) fn parse_limit(params: &Params) -> Result<usize, ApiError> {
    match params.get("limit") {
        None => Ok(10),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                400,
                "parameter_invalid_integer",
                Some("limit"),
                format!("Invalid integer: {raw}: limit must be between 1 and 100"),
            )),
        },
    }
}

/// Cuts one page out of `rows` with Stripe's `limit`, `starting_after` and `ending_before`
/// (`starting_after` wins when both are given). `noun` names the rows in a cursor's 404.
pub(crate) fn page(
    rows: Vec<Value>,
    params: &Params,
    noun: &str,
    url: &str,
) -> Result<Value, ApiError> {
    let limit = parse_limit(params)?;
    let position = |param: &str| -> Result<Option<usize>, ApiError> {
        match params.get(param) {
            None => Ok(None),
            Some(id) => rows
                .iter()
                .position(|r| r["id"].as_str() == Some(id))
                .map(Some)
                .ok_or_else(|| ApiError::missing(noun, id, param)),
        }
    };
    let (data, has_more): (Vec<Value>, bool) = if let Some(after) = position("starting_after")? {
        let rest = &rows[after + 1..];
        (
            rest.iter().take(limit).cloned().collect(),
            rest.len() > limit,
        )
    } else if let Some(before) = position("ending_before")? {
        let head = &rows[..before];
        let start = head.len().saturating_sub(limit);
        (head[start..].to_vec(), start > 0)
    } else {
        (
            rows.iter().take(limit).cloned().collect(),
            rows.len() > limit,
        )
    };
    Ok(json!({"object": "list", "data": data, "has_more": has_more, "url": url}))
}
