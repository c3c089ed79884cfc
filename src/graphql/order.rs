//! Response keys in the order the query selected them.
//!
//! async-graphql 7.2 resolves the fields of a selection set concurrently and inserts each into
//! the response map when it completes (`FuturesUnordered`), so a field that waited for Stripe
//! comes after one that did not: the same query could answer `{"f3": …, "f0": …}` on one
//! run and `{"f0": …, "f3": …}` on the next. The GraphQL spec orders a response map as the
//! selection set (fragments expanded in place); [`in_query_order`] restores that order after
//! execution, so equal data is answered byte for byte the same, whichever call came back
//! first. Objects already in order are left as they are (no allocation).

use async_graphql::{
    parser::types::{ExecutableDocument, Field, OperationDefinition, Selection, SelectionSet},
    Name, Value,
};

/// Reorders `data` (the response of `operation` of `document`) as the query selected it.
pub fn in_query_order(data: &mut Value, document: &ExecutableDocument, operation: Option<&str>) {
    let Some(op) = chosen(document, operation) else {
        return;
    };
    order(data, &[&op.selection_set.node], document);
}

fn chosen<'d>(
    document: &'d ExecutableDocument,
    operation: Option<&str>,
) -> Option<&'d OperationDefinition> {
    let mut operations = document.operations.iter();
    match operation {
        Some(name) => operations
            .find(|(n, _)| n.map(|n| n.as_str()) == Some(name))
            .map(|(_, op)| &op.node),
        None => match (operations.next(), operations.next()) {
            (Some((_, op)), None) => Some(&op.node),
            _ => None,
        },
    }
}

/// Orders one value (an object, or each element of a list, at any depth) by `sets`, the
/// selection sets that selected it (several when fields of one response key were merged).
fn order(value: &mut Value, sets: &[&SelectionSet], document: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                order(item, sets, document);
            }
        }
        Value::Object(map) => {
            let mut keys: Vec<&str> = Vec::new();
            for set in sets {
                response_keys(set, document, &mut keys, 0);
            }
            let in_order = map
                .keys()
                .map(Name::as_str)
                .eq(keys.iter().copied().filter(|k| map.contains_key(*k)));
            if !in_order {
                let mut rest = std::mem::take(map);
                for key in &keys {
                    if let Some((name, v)) = rest.shift_remove_entry(*key) {
                        map.insert(name, v);
                    }
                }
                map.extend(rest);
            }
            for (key, child) in map.iter_mut() {
                let mut children = Vec::new();
                for set in sets {
                    child_sets(set, key.as_str(), document, &mut children, 0);
                }
                if !children.is_empty() {
                    order(child, &children, document);
                }
            }
        }
        _ => {}
    }
}

/// How deep fragment spreads are followed (validation refuses cycles; this only bounds a
/// document that skipped it).
const MAX_SPREAD_DEPTH: usize = 32;

/// The response keys `set` selects, in order, fragments expanded, each once.
fn response_keys<'d>(
    set: &'d SelectionSet,
    document: &'d ExecutableDocument,
    keys: &mut Vec<&'d str>,
    depth: usize,
) {
    each_field(set, document, depth, &mut |field| {
        let key = field.response_key().node.as_str();
        if !keys.contains(&key) {
            keys.push(key);
        }
    });
}

/// The selection sets of the fields of `set` whose response key is `key`.
fn child_sets<'d>(
    set: &'d SelectionSet,
    key: &str,
    document: &'d ExecutableDocument,
    out: &mut Vec<&'d SelectionSet>,
    depth: usize,
) {
    each_field(set, document, depth, &mut |field| {
        if field.response_key().node.as_str() == key && !field.selection_set.node.items.is_empty() {
            out.push(&field.selection_set.node);
        }
    });
}

/// Calls `visit` with each field `set` selects, in order, fragments expanded in place.
fn each_field<'d>(
    set: &'d SelectionSet,
    document: &'d ExecutableDocument,
    depth: usize,
    visit: &mut dyn FnMut(&'d Field),
) {
    if depth > MAX_SPREAD_DEPTH {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => visit(&field.node),
            Selection::InlineFragment(fragment) => each_field(
                &fragment.node.selection_set.node,
                document,
                depth + 1,
                visit,
            ),
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    each_field(
                        &fragment.node.selection_set.node,
                        document,
                        depth + 1,
                        visit,
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use serde_json::json;

    use super::*;

    fn ordered(query: &str, operation: Option<&str>, data: serde_json::Value) -> String {
        let document = parse_query(query).unwrap();
        let mut value = Value::from_json(data).unwrap();
        in_query_order(&mut value, &document, operation);
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn keys_come_in_the_order_selected_at_every_depth_and_in_lists() {
        let query = "{ f0: customer(id: \"a\") { id subs { data { status id } } } f1: customer(id: \"b\") { id } }";
        // serde_json without preserve_order sorts keys, so build the out-of-order value by hand.
        let document = parse_query(query).unwrap();
        let mut inner = async_graphql::indexmap::IndexMap::new();
        inner.insert(Name::new("id"), Value::from("s1"));
        inner.insert(Name::new("status"), Value::from("active"));
        let mut data_obj = async_graphql::indexmap::IndexMap::new();
        data_obj.insert(Name::new("data"), Value::List(vec![Value::Object(inner)]));
        let mut f0 = async_graphql::indexmap::IndexMap::new();
        f0.insert(Name::new("subs"), Value::Object(data_obj));
        f0.insert(Name::new("id"), Value::from("a"));
        let mut f1 = async_graphql::indexmap::IndexMap::new();
        f1.insert(Name::new("id"), Value::from("b"));
        let mut root = async_graphql::indexmap::IndexMap::new();
        root.insert(Name::new("f1"), Value::Object(f1));
        root.insert(Name::new("f0"), Value::Object(f0));
        let mut value = Value::Object(root);
        in_query_order(&mut value, &document, None);
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"f0":{"id":"a","subs":{"data":[{"status":"active","id":"s1"}]}},"f1":{"id":"b"}}"#
        );
    }

    #[test]
    fn fragments_are_expanded_where_they_are_spread_and_the_operation_is_the_one_named() {
        let query = "query A { x { ...F b } } query B { y } fragment F on T { c a }";
        let document = parse_query(query).unwrap();
        let mut x = async_graphql::indexmap::IndexMap::new();
        for key in ["a", "b", "c"] {
            x.insert(Name::new(key), Value::from(1));
        }
        let mut root = async_graphql::indexmap::IndexMap::new();
        root.insert(Name::new("x"), Value::Object(x));
        let mut value = Value::Object(root);
        in_query_order(&mut value, &document, Some("A"));
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"x":{"c":1,"a":1,"b":1}}"#
        );
        // Without an operation name a document of two operations is left as it is.
        assert_eq!(ordered(query, None, json!({"x": null})), r#"{"x":null}"#);
    }
}
