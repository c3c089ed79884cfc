//! A cache of parsed GraphQL documents, so a query sent again is not parsed again.
//!
//! Parsing is the largest single cost of a warm query (about a quarter of the CPU time of the
//! seed query served from the cache, measured with `perf`): async-graphql parses every
//! request's text with a PEG parser before validating and executing it. Clients send the same
//! documents over and over (an app's fixed queries with variables, GraphiQL, Hasura repeating
//! a join for the same rows), so [`ParsedDocuments`] keeps the parsed form of the most
//! recently used documents, keyed by their exact text.
//!
//! Guarantees: a cached document is the one the parser produced for exactly that text (a
//! byte-for-byte match, so no two texts share an entry); only documents that parsed are kept
//! (a parse error is produced afresh each time); at most [`MAX_DOCUMENTS`] documents of at
//! most [`MAX_DOCUMENT_BYTES`] each are kept, so the cache is bounded at a few megabytes;
//! validation and execution still run on every request.

use std::sync::Arc;

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery},
    parser::types::ExecutableDocument,
    ServerResult, Variables,
};

/// Most documents kept.
pub const MAX_DOCUMENTS: u64 = 1_000;

/// Longest document kept, in bytes. Longer ones (Hasura joins of many rows, whose text
/// differs with every page) are parsed every time.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// The extension factory: one cache, shared by every request.
#[derive(Clone)]
pub struct ParsedDocuments {
    documents: moka::sync::Cache<Arc<str>, Arc<ExecutableDocument>>,
}

impl Default for ParsedDocuments {
    fn default() -> Self {
        ParsedDocuments {
            documents: moka::sync::Cache::new(MAX_DOCUMENTS),
        }
    }
}

impl ExtensionFactory for ParsedDocuments {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ParsedDocuments {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > MAX_DOCUMENT_BYTES {
            return next.run(ctx, query, variables).await;
        }
        if let Some(document) = self.documents.get(query) {
            return Ok(ExecutableDocument::clone(&document));
        }
        let document = next.run(ctx, query, variables).await?;
        self.documents
            .insert(Arc::from(query), Arc::new(document.clone()));
        Ok(document)
    }
}
