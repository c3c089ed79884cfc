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
//! (a parse error is produced afresh each time); documents of at most [`MAX_DOCUMENT_BYTES`]
//! are kept, [`MAX_CACHED_TEXT_BYTES`] of text in all (a parsed document takes about seven
//! times its text, so under 10 MB), the least useful evicted first (moka's TinyLFU, which
//! also keeps one-off documents, such as Hasura joins of ever different rows, from pushing
//! out the ones clients repeat).
//!
//! It also remembers which operations of a document passed async-graphql's strict validation
//! when run without variables ([`Parsed::validated`]). Validation was the next largest cost
//! (its 22 rules walk the whole document, looking types up by name); its verdict for a given
//! text, operation and schema never changes, so [`super::Executor`] runs such a request with
//! the fast validation mode (depth, complexity and fragment-cycle checks only). A document
//! that declares variables is validated in full every time, since the values matter.

use std::sync::{Arc, PoisonError, RwLock};

use async_graphql::{parser::types::ExecutableDocument, ServerError};

use super::budget::Counts;

/// Most text kept, in bytes, over all documents.
pub const MAX_CACHED_TEXT_BYTES: u64 = 1024 * 1024;

/// Longest document kept, in bytes. Longer ones (Hasura joins of many rows, whose text
/// differs with every page of rows) are parsed every time. The soak found the first bound
/// (1,000 documents of up to 16 KiB) too loose: joins of 20 random customers filled it with
/// documents never seen twice, about 70 MB of parsed text.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024;

/// One kept document, and the operations of it that passed full validation.
pub struct Parsed {
    document: ExecutableDocument,
    /// Whether an operation declares variables (then validation also depends on their
    /// values, so it is never skipped).
    declares_variables: bool,
    /// Operation names (`None` for a request without `operationName`) that passed strict
    /// validation, at most [`MAX_VALIDATED_OPERATIONS`].
    validated: RwLock<Vec<Option<String>>>,
    /// The budget counts of each operation run so far (they depend on the text and the
    /// operation only), at most [`MAX_VALIDATED_OPERATIONS`].
    counts: RwLock<Vec<(Option<String>, Counts)>>,
}

/// Most operation names remembered as validated per document.
const MAX_VALIDATED_OPERATIONS: usize = 8;

impl Parsed {
    /// The parsed document.
    pub fn document(&self) -> &ExecutableDocument {
        &self.document
    }

    /// Whether running `operation` of this document with no variables already passed strict
    /// validation, so that validating it again would give the same (empty) answer.
    pub fn validated(&self, operation: Option<&str>) -> bool {
        !self.declares_variables
            && self
                .validated
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|name| name.as_deref() == operation)
    }

    /// The budget counts of `operation`: remembered, or `count()` now (and remembered).
    pub fn counts(&self, operation: Option<&str>, count: impl FnOnce() -> Counts) -> Counts {
        let known = self
            .counts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(name, _)| name.as_deref() == operation)
            .map(|(_, counts)| *counts);
        if let Some(counts) = known {
            return counts;
        }
        let counts = count();
        let mut all = self.counts.write().unwrap_or_else(PoisonError::into_inner);
        if all.len() < MAX_VALIDATED_OPERATIONS {
            all.push((operation.map(str::to_owned), counts));
        }
        counts
    }

    /// Records that `operation`, run with no variables, passed strict validation.
    pub fn mark_validated(&self, operation: Option<&str>) {
        if self.declares_variables {
            return;
        }
        let mut validated = self
            .validated
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if validated.len() < MAX_VALIDATED_OPERATIONS
            && !validated.iter().any(|name| name.as_deref() == operation)
        {
            validated.push(operation.map(str::to_owned));
        }
    }
}

/// Parsed documents by text. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct ParsedDocuments {
    documents: moka::sync::Cache<Arc<str>, Arc<Parsed>>,
}

impl Default for ParsedDocuments {
    fn default() -> Self {
        ParsedDocuments {
            documents: moka::sync::Cache::builder()
                .max_capacity(MAX_CACHED_TEXT_BYTES)
                .weigher(|text: &Arc<str>, _| u32::try_from(text.len()).unwrap_or(u32::MAX))
                .build(),
        }
    }
}

impl ParsedDocuments {
    /// The parsed form of `query`: from the cache, or parsed now (and kept if it parsed and
    /// is short enough), with the kept entry when there is one.
    pub fn parse(
        &self,
        query: &str,
    ) -> Result<(ExecutableDocument, Option<Arc<Parsed>>), ServerError> {
        if query.len() > MAX_DOCUMENT_BYTES {
            return Ok((parse(query)?, None));
        }
        if let Some(parsed) = self.documents.get(query) {
            return Ok((parsed.document.clone(), Some(parsed)));
        }
        let document = parse(query)?;
        let declares_variables = document
            .operations
            .iter()
            .any(|(_, operation)| !operation.node.variable_definitions.is_empty());
        let parsed = Arc::new(Parsed {
            document: document.clone(),
            declares_variables,
            validated: RwLock::new(Vec::new()),
            counts: RwLock::new(Vec::new()),
        });
        self.documents.insert(Arc::from(query), parsed.clone());
        Ok((document, Some(parsed)))
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
        let (first, _) = documents.parse(query).unwrap();
        let (again, _) = documents.parse(query).unwrap();
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

    #[test]
    fn an_operations_budget_counts_are_counted_once() {
        let documents = ParsedDocuments::default();
        let (_, parsed) = documents
            .parse("query A { __typename } query B { __typename }")
            .unwrap();
        let parsed = parsed.unwrap();
        let a = Counts {
            stripe_fields: 3,
            fields: 28,
        };
        assert_eq!(parsed.counts(Some("A"), || a), a);
        assert_eq!(parsed.counts(Some("A"), || unreachable!("remembered")), a);
        assert_eq!(parsed.counts(Some("B"), Counts::default), Counts::default());
    }

    #[test]
    fn only_operations_without_variables_are_remembered_as_validated() {
        let documents = ParsedDocuments::default();
        let (_, plain) = documents
            .parse("query A { __typename } query B { __typename }")
            .unwrap();
        let plain = plain.unwrap();
        assert!(!plain.validated(Some("A")));
        plain.mark_validated(Some("A"));
        assert!(plain.validated(Some("A")));
        assert!(!plain.validated(Some("B")));
        assert!(!plain.validated(None));

        let (_, with_variables) = documents
            .parse("query Q($id: String!) { customer(id: $id) { id } }")
            .unwrap();
        let with_variables = with_variables.unwrap();
        with_variables.mark_validated(None);
        assert!(!with_variables.validated(None));
    }
}
