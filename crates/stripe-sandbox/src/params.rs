//! The query parameters of the read endpoints, decoded and checked ([`Params`]), and Stripe's
//! paging of lists: `limit`, the cursors `starting_after` and `ending_before`, newest first.

use std::{borrow::Borrow, collections::BTreeMap};

use serde_json::{json, Value};

use crate::error::ApiError;

/// Query parameters of one request, decoded.
pub type Params = BTreeMap<String, String>;

/// The query parameters every list takes: paging, and the `created` filters.
pub(crate) const PAGING: [&str; 8] = [
    "limit",
    "starting_after",
    "ending_before",
    "created",
    "created[gt]",
    "created[gte]",
    "created[lt]",
    "created[lte]",
];

/// Separates the values of an array parameter (`types[]=a&types[]=b`) kept under one name.
const ARRAY_SEPARATOR: char = '\u{1f}';

/// The decoded parameters of a raw query string; a repeated one is 400 `parameter_invalid`,
/// except an array parameter (`name[]`, or `name[0]`, `name[1]`, … as Stripe's libraries
/// send it), whose values are kept in order under `name[]` ([`values`] reads them).
pub(crate) fn parse(query: &str) -> Result<Params, ApiError> {
    let mut params = Params::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let name = array_name(&k).unwrap_or_else(|| k.to_string());
        if name.ends_with("[]") {
            params
                .entry(name)
                .and_modify(|all| {
                    all.push(ARRAY_SEPARATOR);
                    all.push_str(&v);
                })
                .or_insert_with(|| v.to_string());
        } else if params.insert(name, v.to_string()).is_some() {
            return Err(ApiError::bad_param(
                &k,
                format!("Received duplicate parameter: {k}"),
            ));
        }
    }
    Ok(params)
}

/// `name[]` for an indexed array parameter `name[N]`.
fn array_name(key: &str) -> Option<String> {
    let (name, index) = key.strip_suffix(']')?.rsplit_once('[')?;
    (!index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())).then(|| format!("{name}[]"))
}

/// The values of an array parameter (`name` ends with `[]`), in the order sent.
pub(crate) fn values<'a>(params: &'a Params, name: &str) -> Vec<&'a str> {
    params
        .get(name)
        .map(|all| all.split(ARRAY_SEPARATOR).collect())
        .unwrap_or_default()
}

/// Whether a row's `created` passes the `created`, `created[gt]`, `created[gte]`,
/// `created[lt]` and `created[lte]` filters (Unix seconds); a filter that is not an integer
/// is 400 `parameter_invalid_integer`.
pub(crate) fn created_filter(params: &Params) -> Result<impl Fn(&Value) -> bool, ApiError> {
    let bound = |name: &str| -> Result<Option<i64>, ApiError> {
        params
            .get(name)
            .map(|raw| {
                raw.parse::<i64>().map_err(|_| {
                    ApiError::invalid(
                        400,
                        "parameter_invalid_integer",
                        Some(name),
                        format!("Invalid integer: {raw}"),
                    )
                })
            })
            .transpose()
    };
    let (eq, gt, gte, lt, lte) = (
        bound("created")?,
        bound("created[gt]")?,
        bound("created[gte]")?,
        bound("created[lt]")?,
        bound("created[lte]")?,
    );
    Ok(move |row: &Value| {
        let c = row["created"].as_i64().unwrap_or(0);
        eq.is_none_or(|b| c == b)
            && gt.is_none_or(|b| c > b)
            && gte.is_none_or(|b| c >= b)
            && lt.is_none_or(|b| c < b)
            && lte.is_none_or(|b| c <= b)
    })
}

/// The rows, newest `created` first, ties by id descending.
pub(crate) fn newest_first<'a>(rows: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut rows: Vec<&Value> = rows.collect();
    sort_newest_first(&mut rows);
    rows.into_iter().cloned().collect()
}

/// Sorts rows as [`newest_first`] does (a stable sort: ties keep their order), in place.
pub(crate) fn sort_newest_first(rows: &mut [&Value]) {
    fn key(v: &Value) -> (i64, &str) {
        (
            v["created"].as_i64().unwrap_or(0),
            v["id"].as_str().unwrap_or(""),
        )
    }
    rows.sort_by(|a, b| key(b).cmp(&key(a)));
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

/// Cuts one page out of `rows` with Stripe's `created` filters, `limit`, `starting_after`
/// and `ending_before` (`starting_after` wins when both are given). `noun` names the rows in
/// a cursor's 404.
/// The rows are values or references to them (only those on the page are cloned).
pub(crate) fn page<V: Borrow<Value>>(
    mut rows: Vec<V>,
    params: &Params,
    noun: &str,
    url: &str,
) -> Result<Value, ApiError> {
    let limit = parse_limit(params)?;
    let created = created_filter(params)?;
    rows.retain(|row| created(row.borrow()));
    let position = |param: &str| -> Result<Option<usize>, ApiError> {
        match params.get(param) {
            None => Ok(None),
            Some(id) => rows
                .iter()
                .position(|r| r.borrow()["id"].as_str() == Some(id))
                .map(Some)
                .ok_or_else(|| ApiError::missing(noun, id, param)),
        }
    };
    let owned = |rows: &[V]| -> Vec<Value> { rows.iter().map(|r| r.borrow().clone()).collect() };
    let (data, has_more): (Vec<Value>, bool) = if let Some(after) = position("starting_after")? {
        let rest = &rows[after + 1..];
        (owned(&rest[..rest.len().min(limit)]), rest.len() > limit)
    } else if let Some(before) = position("ending_before")? {
        let head = &rows[..before];
        let start = head.len().saturating_sub(limit);
        (owned(&head[start..]), start > 0)
    } else {
        (owned(&rows[..rows.len().min(limit)]), rows.len() > limit)
    };
    Ok(json!({"object": "list", "data": data, "has_more": has_more, "url": url}))
}

/// [`page`] over the rows of `order` (keys into a store, in list order, with each row's
/// place by its `id`, [`crate::store::CustomerOrder`]) that `get` finds and `keep` keeps: the
/// same answer, errors included, as `page` over those rows collected in that order, without
/// cloning or looking at rows beyond the page and its cursor.
pub(crate) fn page_in_order<'a>(
    order: &crate::store::CustomerOrder,
    get: impl Fn(&str) -> Option<&'a Value>,
    keep: impl Fn(&Value) -> bool,
    params: &Params,
    noun: &str,
    url: &str,
) -> Result<Value, ApiError> {
    let limit = parse_limit(params)?;
    let created = created_filter(params)?;
    let row = |i: usize| get(&order.keys[i]).filter(|r| keep(r) && created(r));
    // A cursor is the first kept row with that id: the row at its place, unless that one is
    // not kept (then, as `page` does, every row is looked at: only a 404 is slow).
    let position = |param: &str| -> Result<Option<usize>, ApiError> {
        let Some(id) = params.get(param) else {
            return Ok(None);
        };
        let is = |i: &usize| row(*i).is_some_and(|r| r["id"].as_str() == Some(id));
        order
            .position
            .get(id)
            .copied()
            .filter(is)
            .or_else(|| (0..order.keys.len()).find(is))
            .map(Some)
            .ok_or_else(|| ApiError::missing(noun, id, param))
    };
    let n = order.keys.len();
    let (data, has_more): (Vec<Value>, bool) = if let Some(after) = position("starting_after")? {
        let mut rest: Vec<&Value> = (after + 1..n).filter_map(row).take(limit + 1).collect();
        let more = rest.len() > limit;
        rest.truncate(limit);
        (rest.into_iter().cloned().collect(), more)
    } else if let Some(before) = position("ending_before")? {
        let mut head: Vec<&Value> = (0..before).rev().filter_map(row).take(limit + 1).collect();
        let more = head.len() > limit;
        head.truncate(limit);
        head.reverse();
        (head.into_iter().cloned().collect(), more)
    } else {
        let mut first: Vec<&Value> = (0..n).filter_map(row).take(limit + 1).collect();
        let more = first.len() > limit;
        first.truncate(limit);
        (first.into_iter().cloned().collect(), more)
    };
    Ok(json!({"object": "list", "data": data, "has_more": has_more, "url": url}))
}
