//! The Stripe budget of a request: how many fields that can call Stripe it selects, counted
//! on the parsed document before anything runs.
//!
//! A field "that can call Stripe" is one of [`STRIPE_FIELDS`]: the root lookups and lists
//! (`customer`, `customers`, `subscription`, …) and the nested fields resolved through the
//! cache (`StripeCustomer.subscriptions`, `StripeSubscription.customer`, `.items`,
//! `StripePrice.product`, `StripePlan.product`, `StripeProduct.defaultPrice`).
//!
//! The count is **static**: each such field counts once per appearance in the operation that
//! would run, each alias separately, fragments followed where they are spread (a fragment
//! spread twice counts twice). A nested field under a list counts once, however many elements
//! the list will have. So it is a bound on the *shape* of the request, not the exact number of
//! Stripe calls (the cache and coalescing make most of those free, and a list's length is only
//! known after a call). That is what makes it useful: it is known before the first Stripe call,
//! so a request over budget is refused having cost nothing, and a client gets the same answer
//! for the same document every time.
//!
//! The same walk counts every selected field once ([`Counts::fields`]): async-graphql's
//! complexity with its default cost of 1 per field, which [`super::Executor`] checks against
//! `MAX_QUERY_COMPLEXITY` before async-graphql's validation does, because async-graphql walks a
//! fragment again at every spread (exponential for fragments that spread each other) while
//! this walk remembers each fragment's counts.
//!
//! The types of nested fields are read from the schema's own SDL (so the walk follows the
//! schema as it is, with no second copy of its shape); only the list of budgeted fields is
//! written here, and a test checks each of them exists in the schema.

use std::collections::HashMap;

use async_graphql::parser::{
    parse_schema,
    types::{
        BaseType, DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
        TypeKind, TypeSystemDefinition,
    },
};

/// The query root's type name in the SDL.
const QUERY_ROOT: &str = "QueryRoot";
/// The mutation root's type name in the SDL.
const MUTATION_ROOT: &str = "MutationRoot";

/// The fields that can cause a Stripe call, as `(parent type, field)`.
pub const STRIPE_FIELDS: &[(&str, &str)] = &[
    (QUERY_ROOT, "customer"),
    (QUERY_ROOT, "customers"),
    (QUERY_ROOT, "subscription"),
    (QUERY_ROOT, "subscriptions"),
    (QUERY_ROOT, "price"),
    (QUERY_ROOT, "prices"),
    (QUERY_ROOT, "plan"),
    (QUERY_ROOT, "product"),
    (QUERY_ROOT, "duplicateStripeCustomers"),
    // Every mutation is one Stripe write (resumeSubscription may read first).
    (MUTATION_ROOT, "createCustomer"),
    (MUTATION_ROOT, "updateCustomer"),
    (MUTATION_ROOT, "deleteCustomer"),
    (MUTATION_ROOT, "createSubscription"),
    (MUTATION_ROOT, "updateSubscription"),
    (MUTATION_ROOT, "cancelSubscription"),
    (MUTATION_ROOT, "undoScheduledCancellation"),
    (MUTATION_ROOT, "pauseCollection"),
    (MUTATION_ROOT, "resumeSubscription"),
    (MUTATION_ROOT, "ensureStripeCustomer"),
    ("StripeCustomer", "subscriptions"),
    ("StripeSubscription", "customer"),
    // Embedded in the subscription, but it pages past Stripe's first 10 items.
    ("StripeSubscription", "items"),
    ("StripePrice", "product"),
    ("StripePlan", "product"),
    ("StripeProduct", "defaultPrice"),
];

/// What the walk needs to know about the schema: for each object field whose type is an
/// object, that type, and whether the field counts against the budget.
#[derive(Debug, Clone)]
pub struct StripeFieldCounter {
    /// Parent type → field → (the field's named type, whether it is in [`STRIPE_FIELDS`]).
    /// Nested maps, so a lookup by `&str` allocates nothing.
    fields: HashMap<String, HashMap<String, (String, bool)>>,
}

impl StripeFieldCounter {
    /// Reads the object fields' types from `sdl` (this server's own schema).
    ///
    /// # Panics
    /// When `sdl` does not parse: it is generated from the code, so that is a bug.
    pub fn from_sdl(sdl: &str) -> StripeFieldCounter {
        let document = parse_schema(sdl).expect("the server's own SDL parses");
        let mut fields: HashMap<String, HashMap<String, (String, bool)>> = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let TypeKind::Object(object) = &ty.node.kind else {
                continue;
            };
            let parent = ty.node.name.node.as_str();
            for field in &object.fields {
                let name = field.node.name.node.as_str();
                let mut base = &field.node.ty.node.base;
                while let BaseType::List(inner) = base {
                    base = &inner.base;
                }
                let BaseType::Named(child) = base else {
                    continue;
                };
                let budgeted = STRIPE_FIELDS.contains(&(parent, name));
                fields
                    .entry(parent.to_owned())
                    .or_default()
                    .insert(name.to_owned(), (child.to_string(), budgeted));
            }
        }
        StripeFieldCounter { fields }
    }

    /// Whether `(parent, field)` is a field of the schema and counts against the budget.
    pub fn is_budgeted(&self, parent: &str, field: &str) -> bool {
        self.field(parent, field)
            .is_some_and(|(_, budgeted)| budgeted)
    }

    /// The named type of `parent.field` and whether it is budgeted, when the schema has it.
    fn field(&self, parent: &str, field: &str) -> Option<(&str, bool)> {
        let (child, budgeted) = self.fields.get(parent)?.get(field)?;
        Some((child.as_str(), *budgeted))
    }

    /// What the operation `operation_name` of `document` (or its only operation) selects: the
    /// static counts described in the module documentation. An operation that cannot be
    /// chosen (unknown name, several and none named) counts 0; validation refuses it
    /// afterwards. Saturates instead of overflowing, and walks each fragment once (its counts
    /// are remembered), so no document can make the count slow, even one whose fragments
    /// spread each other exponentially.
    pub fn count(&self, document: &ExecutableDocument, operation_name: Option<&str>) -> Counts {
        let operation = match (&document.operations, operation_name) {
            (DocumentOperations::Single(operation), _) => operation,
            (DocumentOperations::Multiple(operations), Some(name)) => match operations.get(name) {
                Some(operation) => operation,
                None => return Counts::default(),
            },
            (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
                match operations.values().next() {
                    Some(operation) => operation,
                    None => return Counts::default(),
                }
            }
            (DocumentOperations::Multiple(_), None) => return Counts::default(),
        };
        let mut walk = Walk {
            counter: self,
            document,
            fragments: HashMap::new(),
        };
        let root = match operation.node.ty {
            OperationType::Mutation => MUTATION_ROOT,
            OperationType::Query | OperationType::Subscription => QUERY_ROOT,
        };
        walk.selection_set(&operation.node.selection_set.node, Some(root))
    }
}

/// What an operation selects, counted statically.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Fields that can call Stripe ([`STRIPE_FIELDS`]), each appearance and alias once.
    pub stripe_fields: usize,
    /// Every selected field, each appearance once: async-graphql's complexity with its
    /// default cost of 1 per field.
    pub fields: usize,
}

impl Counts {
    fn plus(self, other: Counts) -> Counts {
        Counts {
            stripe_fields: self.stripe_fields.saturating_add(other.stripe_fields),
            fields: self.fields.saturating_add(other.fields),
        }
    }
}

/// One count in progress.
struct Walk<'a> {
    counter: &'a StripeFieldCounter,
    document: &'a ExecutableDocument,
    /// Counts of fragments already walked; `None` while one is being walked (a cycle, which
    /// validation refuses, counts 0 instead of recursing forever).
    fragments: HashMap<&'a str, Option<Counts>>,
}

impl<'a> Walk<'a> {
    /// The counts of `set`, selected on an object of type `parent` (`None`: a type this walk
    /// does not follow, such as an introspection type or a field the schema does not have).
    fn selection_set(&mut self, set: &'a SelectionSet, parent: Option<&'a str>) -> Counts {
        let mut counts = Counts::default();
        for selection in &set.items {
            let here = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let counter = self.counter;
                    let known =
                        parent.and_then(|parent| counter.field(parent, field.name.node.as_str()));
                    let (child, budgeted) = match known {
                        Some((child, budgeted)) => (Some(child), budgeted),
                        None => (None, false),
                    };
                    let this = Counts {
                        stripe_fields: usize::from(budgeted),
                        fields: 1,
                    };
                    this.plus(self.selection_set(&field.selection_set.node, child))
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    match &fragment.type_condition {
                        Some(condition) => self.selection_set(
                            &fragment.selection_set.node,
                            Some(condition.node.on.node.as_str()),
                        ),
                        None => self.selection_set(&fragment.selection_set.node, parent),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())
                }
            };
            counts = counts.plus(here);
        }
        counts
    }

    fn fragment(&mut self, name: &'a str) -> Counts {
        if let Some(known) = self.fragments.get(name) {
            return known.unwrap_or_default();
        }
        let Some(definition) = self.document.fragments.get(name) else {
            return Counts::default();
        };
        self.fragments.insert(name, None);
        let definition = &definition.node;
        let on = definition.type_condition.node.on.node.as_str();
        let counts = self.selection_set(&definition.selection_set.node, Some(on));
        self.fragments.insert(name, Some(counts));
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn counter() -> StripeFieldCounter {
        StripeFieldCounter::from_sdl(&crate::graphql::sdl())
    }

    fn count(query: &str, operation: Option<&str>) -> usize {
        counter()
            .count(&parse_query(query).unwrap(), operation)
            .stripe_fields
    }

    fn fields(query: &str) -> usize {
        counter().count(&parse_query(query).unwrap(), None).fields
    }

    #[test]
    fn every_budgeted_field_is_a_field_of_the_schema() {
        let counter = counter();
        for (parent, field) in STRIPE_FIELDS {
            assert!(
                counter.is_budgeted(parent, field),
                "{parent}.{field} is not in the schema"
            );
        }
    }

    #[test]
    fn the_seed_selection_counts_three_per_customer() {
        let seed = "{ customer(id: \"cus_1\") { id metadata subscriptions { data { id status \
             plan { id metadata nickname created } items { data { id price { id unitAmount \
             recurring { usageType } } } } } } } }";
        assert_eq!(count(seed, None), 3);
    }

    /// The document Hasura sends for one row of the seed query's join.
    fn seed_join_row() -> String {
        let request: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/seed-join-request.json"))
                .unwrap();
        request["query"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_row_of_hasuras_seed_join_is_3_stripe_fields_and_28_fields() {
        let counts = counter().count(&parse_query(seed_join_row()).unwrap(), None);
        assert_eq!(
            counts,
            Counts {
                stripe_fields: 3,
                fields: 28
            }
        );
    }

    #[tokio::test]
    async fn the_field_count_is_async_graphqls_complexity() {
        use crate::limits::Limits;
        let schema = |limit| {
            super::super::limited_builder(&Limits {
                max_query_complexity: limit,
                ..Limits::default()
            })
            .finish()
        };
        // No cache in the schema's data: the resolvers fail, but validation comes first.
        let refused = schema(27)
            .execute(async_graphql::Request::new(seed_join_row()))
            .await;
        assert_eq!(refused.errors[0].message, "Query is too complex.");
        let passed = schema(28)
            .execute(async_graphql::Request::new(seed_join_row()))
            .await;
        assert!(
            passed.errors.iter().all(|e| !e.path.is_empty()),
            "{:?}",
            passed.errors
        );
    }

    #[test]
    fn each_alias_counts_and_scalars_do_not() {
        assert_eq!(
            count(
                "{ a: customer(id: \"x\") { id } b: customer(id: \"y\") { id email } __typename }",
                None
            ),
            2
        );
        assert_eq!(count("{ __typename __schema { types { name } } }", None), 0);
    }

    #[test]
    fn nested_lookups_count_once_per_selection_whatever_the_list_length() {
        let query = "{ customers(first: 100) { data { subscriptions { data { customer { id } \
             items { data { price { product { defaultPrice { id } } } plan { product { id } } } } } } } } }";
        // customers, subscriptions, customer, items, product, defaultPrice, plan.product.
        assert_eq!(count(query, None), 7);
    }

    #[test]
    fn fragments_are_followed_where_they_are_spread() {
        let query = "query Q { a: customer(id: \"x\") { ...C } b: customer(id: \"y\") { ...C } \
             subscription(id: \"s\") { ... on StripeSubscription { customer { ...C } } } } \
             fragment C on StripeCustomer { id subscriptions { data { id } } }";
        // a, b, subscription, its customer: 4 lookups; each ...C adds its subscriptions: 3.
        assert_eq!(count(query, Some("Q")), 7);
        assert_eq!(count(query, None), 7);
    }

    #[test]
    fn only_the_operation_to_run_counts() {
        let query = "query A { customer(id: \"x\") { id } } \
             query B { a: price(id: \"p\") { id } b: product(id: \"q\") { id } }";
        assert_eq!(count(query, Some("A")), 1);
        assert_eq!(count(query, Some("B")), 2);
        assert_eq!(count(query, Some("C")), 0);
        assert_eq!(count(query, None), 0);
    }

    #[test]
    fn a_fragment_cycle_or_an_unknown_fragment_counts_nothing_and_ends() {
        let query = "{ customer(id: \"x\") { ...A ...Nope } } \
             fragment A on StripeCustomer { subscriptions { data { customer { ...A } } } }";
        // customer, subscriptions, customer; the inner ...A is the cycle.
        assert_eq!(count(query, None), 3);
    }

    #[test]
    fn fragments_spread_exponentially_are_counted_without_walking_them_again() {
        let mut query = String::from("{ customer(id: \"x\") { ...F0 } }");
        for i in 0..40 {
            query.push_str(&format!(
                " fragment F{i} on StripeCustomer {{ subscriptions {{ data {{ id }} }} ...F{n} ...F{n} }}",
                n = i + 1
            ));
        }
        query.push_str(" fragment F40 on StripeCustomer { id }");
        // 2^40 - 1 spreads of `subscriptions`: far over any budget, and counted at once.
        assert!(count(&query, None) > 1_000_000_000);
        assert!(fields(&query) > 1_000_000_000);
    }

    #[test]
    fn every_selected_field_counts_one_as_in_async_graphqls_complexity() {
        assert_eq!(fields("{ __typename }"), 1);
        assert_eq!(
            fields("{ a: customer(id: \"x\") { id email } b: __typename }"),
            4
        );
        // Introspection fields count too, though no Stripe field is among them.
        assert_eq!(fields("{ __schema { types { name } } }"), 3);
    }
}
