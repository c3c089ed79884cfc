//! A cache of parsed GraphQL documents, so a query sent again is not parsed again.
//!
//! Parsing was the largest single cost of a warm query: about a quarter of the CPU time of
//! the seed query served from the cache (measured with `perf` on the release build; see
//! `docs/benchmarks.md`). async-graphql parses every request's text with a PEG parser before
//! validating and executing it. Clients send the same documents over and over (an app's fixed
//! queries with variables, GraphiQL, Hasura repeating a join for the same rows), so
//! [`ParsedDocuments`] keeps the parsed form of recently used documents, keyed by their text.
//!
//! Guarantees: a cached document is the one the parser produced for exactly that text (a
//! byte-for-byte match, so no two texts share an entry); only documents that parsed are kept
//! (a parse error is produced afresh each time); at most [`MAX_DOCUMENTS`] documents of at
//! most [`MAX_DOCUMENT_BYTES`] each are kept, so the cache stays within about 16 MB;
//! validation and execution still run on every request.

use std::sync::Arc;

use async_graphql::{parser::types::ExecutableDocument, ServerError};

/// Most documents kept.
pub const MAX_DOCUMENTS: u64 = 1_000;

/// Longest document kept, in bytes. Longer ones (Hasura joins of many rows, whose text
/// differs with every page of rows) are parsed every time.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// Parsed documents by text. Cheap to clone; clones share the cache.
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

impl ParsedDocuments {
    /// The parsed form of `query`: from the cache, or parsed now (and kept if it parsed and
    /// is short enough).
    pub fn parse(&self, query: &str) -> Result<ExecutableDocument, ServerError> {
        if query.len() > MAX_DOCUMENT_BYTES {
            return parse(query);
        }
        if let Some(document) = self.documents.get(query) {
            return Ok(ExecutableDocument::clone(&document));
        }
        let document = parse(query)?;
        self.documents
            .insert(Arc::from(query), Arc::new(document.clone()));
        Ok(document)
    }

    /// How many documents are kept (for tests).
    pub fn len(&self) -> u64 {
        self.documents.run_pending_tasks();
        self.documents.entry_count()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse(query: &str) -> Result<ExecutableDocument, ServerError> {
    async_graphql::parser::parse_query(query).map_err(ServerError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_served_equal() {
        let documents = ParsedDocuments::default();
        let query = "query Q($id: String!) { customer(id: $id) { id email } }";
        let first = documents.parse(query).unwrap();
        let again = documents.parse(query).unwrap();
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        assert_eq!(documents.len(), 1);
        // One byte more is another document.
        documents.parse(&format!("{query} ")).unwrap();
        assert_eq!(documents.len(), 2);
    }

    #[test]
    fn parse_errors_and_long_documents_are_not_kept() {
        let documents = ParsedDocuments::default();
        assert!(documents.parse("{ customer(id: ").is_err());
        assert!(documents.parse("{ customer(id: ").is_err());
        let long = format!("{{ {} }}", "__typename ".repeat(MAX_DOCUMENT_BYTES / 10));
        assert!(long.len() > MAX_DOCUMENT_BYTES);
        documents.parse(&long).unwrap();
        assert!(documents.is_empty());
    }
}
