//! The GraphQL schema, split by Stripe domain.
//!
//! The object types are the Stripe models themselves ([`crate::stripe::models`]: each derives
//! `SimpleObject`, so a plain Stripe field is its GraphQL field with its doc comment as the
//! description). The modules here hold the root fields and the fields that need a Stripe call
//! or a computation (`#[ComplexObject]`):
//!
//! | module | root fields | computed fields |
//! |---|---|---|
//! | [`customer`] | `customer`, `customers` | `StripeCustomer.subscriptions`, `.defaultPaymentMethodId` |
//! | [`subscription`] | `subscription`, `subscriptions` | `StripeSubscription.customer`, `.items` |
//! | [`price`] | `price`, `prices`, `plan` | `StripePrice.product`, `StripePlan.product` |
//! | [`product`] | `product` | `StripeProduct.defaultPrice` |
//! | [`list`] | | `Stripe…List` pages |
//! | [`error`] | | `extensions.code` mapping |
//! | [`documents`] | | the parsed-document cache |
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

pub mod customer;
pub mod documents;
pub mod error;
pub mod list;
pub mod price;
pub mod product;
pub mod subscription;

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, MergedObject, Request, Response, SDLExportOptions,
    Schema, SchemaBuilder, ServerError,
};
use documents::ParsedDocuments;

use crate::cache::StripeCache;

/// Deepest selection accepted. The seed query is 8 levels deep; Hasura adds none.
pub const MAX_DEPTH: usize = 16;

/// The query root: every read, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    customer::CustomerQuery,
    subscription::SubscriptionQuery,
    price::PriceQuery,
    product::ProductQuery,
);

/// The executable schema type.
pub type StripeSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// The schema with its limits, before runtime data is attached.
pub fn schema_builder() -> SchemaBuilder<QueryRoot, EmptyMutation, EmptySubscription> {
    Schema::build(QueryRoot::default(), EmptyMutation, EmptySubscription).limit_depth(MAX_DEPTH)
}

/// The executable schema reading Stripe through `cache`.
pub fn schema(cache: StripeCache) -> StripeSchema {
    schema_builder().data(cache).finish()
}

/// The schema with what runs around every request: the parsed-document cache and the error
/// codes. Cheap to clone. (Neither is an async-graphql extension: with any extension
/// registered, async-graphql resolves every field on a slower path.)
#[derive(Clone)]
pub struct Executor {
    schema: StripeSchema,
    documents: ParsedDocuments,
}

impl Executor {
    /// Serves `schema`.
    pub fn new(schema: StripeSchema) -> Executor {
        Executor {
            schema,
            documents: ParsedDocuments::default(),
        }
    }

    /// The schema.
    pub fn schema(&self) -> &StripeSchema {
        &self.schema
    }

    /// Parses the request's document (or takes it from the cache) into the request, so
    /// that [`Executor::run`] does not parse it again. A document that does not parse is the
    /// error to answer with, coded `GRAPHQL_PARSE_FAILED` (see [`Executor::parse_failure`]).
    pub fn parse(&self, request: &mut Request) -> Result<(), ServerError> {
        let document = self
            .documents
            .parse(&request.query)
            .map_err(error::parse_failed)?;
        request.set_parsed_query(document);
        Ok(())
    }

    /// The response to a request whose document did not parse.
    pub fn parse_failure(error: ServerError) -> Response {
        Response::from_errors(vec![error])
    }

    /// Runs one request (parsed by [`Executor::parse`], else parsed now without the
    /// cache): validated and executed, every error in the response carrying
    /// `extensions.code`.
    pub async fn run(&self, mut request: Request) -> Response {
        if let Err(e) = request.parsed_query() {
            return Executor::parse_failure(error::parse_failed(e));
        }
        let mut response = self.schema.execute(request).await;
        error::assign_codes(&mut response);
        response
    }
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
