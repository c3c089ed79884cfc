//! The GraphQL schema, by flow: the read path, the write path, the profile sync.
//!
//! The object types are the Stripe models themselves ([`crate::stripe::models`]: each derives
//! `SimpleObject`, so a plain Stripe field is its GraphQL field with its doc comment as the
//! description). The modules here hold the root fields and the fields that need a Stripe call
//! or a computation (`#[ComplexObject]`):
//!
//! | module | holds |
//! |---|---|
//! | [`read`] | every query root field and computed field that reads Stripe (customers, subscriptions, prices, plans, products) |
//! | [`mod@write`] | every mutation on Stripe objects, who may run them ([`write::WriteAccess`]), their argument checks |
//! | [`profile`] | the Unified Customer Profile: `ensureStripeCustomer` (mutation), `duplicateStripeCustomers` (query) |
//! | [`list`] | `Stripe…List` pages and cursor paging |
//! | [`scope`] | who a request is for ([`scope::Caller`]) and what it may read |
//! | [`executor`] | runs a request: [`budget`] (the count of fields that can call Stripe, checked before execution), [`documents`] (the parsed-document cache) |
//! | [`error`] | the one `extensions.code` mapping |
//! | [`order`] | response keys in the order the query selected them (async-graphql inserts them as they complete) |
//!
//! The 64-bit scalars (`UnixTimestamp`, `StripeAmount`, `StripeCount`) are in
//! [`crate::stripe::scalars`], beside the models that use them.
//!
//! Every object type carries the `Stripe` prefix: Hasura treats a remote type named
//! `Subscription` as a subscription root, and merges remote type names with its own. Every
//! root field is nullable, and "does not exist" is `null`, never an error, because one error
//! fails a whole Hasura join; every nested field that needs a Stripe call is nullable too, so
//! a failure nulls the smallest part of the answer. Root fields resolve concurrently
//! (async-graphql runs the fields of a query selection set together), so the N aliased
//! `customer(id:)` fields of a Hasura join run in parallel, at most `STRIPE_MAX_CONCURRENCY`
//! Stripe calls at a time, not one after another.

pub mod budget;
pub mod documents;
pub mod error;
pub mod executor;
pub mod list;
pub mod order;
pub mod profile;
pub mod read;
pub mod scope;
pub mod write;

use async_graphql::{
    Context, EmptySubscription, MergedObject, SDLExportOptions, Schema, SchemaBuilder,
};

pub use executor::{BatchRefused, Executor, Prepared};

use crate::{cache::StripeCache, limits::Limits};

/// The query root: every read, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    read::customer::CustomerQuery,
    read::subscription::SubscriptionQuery,
    read::price::PriceQuery,
    read::product::ProductQuery,
    profile::ProfileQuery,
);

/// The mutation root: every write, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    write::customer::CustomerMutation,
    write::subscription::SubscriptionMutation,
    profile::ProfileMutation,
);

/// The executable schema type.
pub type StripeSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The schema with the default [`Limits`] (depth and complexity), before runtime data is
/// attached.
pub fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    limited_builder(&Limits::default())
}

/// The schema with `limits`' depth and complexity limits, before runtime data is attached.
fn limited_builder(limits: &Limits) -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .limit_depth(limits.max_query_depth)
    .limit_complexity(limits.max_query_complexity)
}

/// The SDL (`stripe-graphql schema`, and the committed `schema.graphql`): sorted, so diffs
/// are reviewable, and free of custom directives.
pub fn sdl() -> String {
    schema_builder().finish().sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}

/// The shared cache from the request context.
fn cache<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a StripeCache> {
    ctx.data::<StripeCache>()
}
