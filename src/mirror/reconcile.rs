//! The Events API reading: every `STRIPE_MIRROR_RECONCILE_SECONDS`, the events of the types the
//! mirror holds (`customer.*`, `price.*`, `plan.*`, `product.*`) created since the last one
//! read are listed (`GET /v1/events`, 100 per page, from the cursor toward the newest) and
//! applied oldest first, exactly as webhooks are (the mirror, then the cache over it). Events
//! a webhook already brought are ignored as the same event again.
//!
//! - **The cursor** is the newest event read (`ending_before`), or, when there was none yet,
//!   the second the backfill began (`created[gte]`).
//! - **A cursor Stripe no longer knows** (404: events are kept 30 days), or a start time older
//!   than those 30 days, starts a new backfill pass, which sets a new cursor.
//! - **A failed reading** (Stripe down, after the client's retries) keeps its cursor; the next
//!   one reads from there.

use super::Mirror;
use crate::{
    clock,
    stripe::{
        event,
        request::{events_query, EventsFrom},
        StripeError,
    },
};

/// The event types the mirror reads.
pub const TYPES: [&str; 4] = ["customer.*", "price.*", "plan.*", "product.*"];

/// How long Stripe keeps events (30 days), in seconds.
pub const EVENT_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// Where the next reading starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// After this event.
    After(String),
    /// At this Unix second (no event read yet).
    Since(i64),
}

/// What one reading came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// These many events were applied (ignored ones included).
    Read(usize),
    /// The cursor was unknown: a backfill pass ran instead.
    Backfilled,
    /// Stripe failed; the cursor is kept.
    Failed,
}

impl Mirror {
    /// The newest event of the mirror's types, as a cursor (`None` when there is none).
    pub(super) async fn newest_event(&self) -> Result<Option<Cursor>, StripeError> {
        let query = events_query(&TYPES, &EventsFrom::Newest);
        let (events, _) = self.inner.background.list_events(&query).await?;
        Ok(events
            .first()
            .and_then(|e| e.get("id"))
            .and_then(|id| id.as_str())
            .map(|id| Cursor::After(id.to_owned())))
    }

    /// Reads the Events API every `STRIPE_MIRROR_RECONCILE_SECONDS`, forever.
    pub(super) async fn reconcile_forever(&self) {
        loop {
            tokio::time::sleep(self.inner.settings.reconcile_every).await;
            self.reconcile_once().await;
        }
    }

    /// One reading (see the module docs).
    pub async fn reconcile_once(&self) -> Reading {
        let cursor = super::lock(&self.inner.cursor).clone();
        let outcome = match cursor {
            None => Ok(None),
            Some(Cursor::Since(t)) if t < clock::unix_now() - EVENT_RETENTION_SECONDS => {
                Err(StripeError::NotFound {
                    param: None,
                    request_id: None,
                })
            }
            Some(cursor) => self.read_events(cursor).await.map(Some),
        };
        let reading = match outcome {
            Ok(None) => Reading::Read(0),
            Ok(Some((read, cursor))) => {
                *super::lock(&self.inner.cursor) = Some(cursor);
                Reading::Read(read)
            }
            Err(StripeError::NotFound { .. }) => {
                tracing::warn!(
                    "mirror: Stripe no longer knows the last event read (kept 30 days); backfilling again"
                );
                self.backfill_pass().await;
                Reading::Backfilled
            }
            Err(error) => {
                tracing::warn!(%error, "mirror: reading the Events API failed; the next reading starts from the same event");
                Reading::Failed
            }
        };
        self.inner.metrics.mirror_reconcile(match reading {
            Reading::Read(_) => "ok",
            Reading::Backfilled => "backfill",
            Reading::Failed => "failed",
        });
        if let Reading::Read(n) = reading {
            if n > 0 {
                self.count();
                tracing::info!(events = n, "mirror: events read from the Events API");
            }
        }
        reading
    }

    /// The events after `cursor`, applied oldest first; how many, and the new cursor.
    async fn read_events(&self, cursor: Cursor) -> Result<(usize, Cursor), StripeError> {
        match cursor {
            Cursor::After(mut newest) => {
                let mut read = 0;
                loop {
                    let query = events_query(&TYPES, &EventsFrom::After(newest.clone()));
                    let (events, has_more) = self.inner.background.list_events(&query).await?;
                    read += events.len();
                    let next = first_id(&events);
                    self.apply_oldest_first(events).await;
                    match next {
                        Some(id) => newest = id,
                        None => break,
                    }
                    if !has_more {
                        break;
                    }
                }
                Ok((read, Cursor::After(newest)))
            }
            Cursor::Since(created) => {
                let mut all = Vec::new();
                let mut older_than = None;
                loop {
                    let from = EventsFrom::Since {
                        created,
                        older_than: older_than.clone(),
                    };
                    let (events, has_more) = self
                        .inner
                        .background
                        .list_events(&events_query(&TYPES, &from))
                        .await?;
                    older_than = events
                        .last()
                        .and_then(|e| e.get("id"))
                        .and_then(|id| id.as_str())
                        .map(str::to_owned);
                    let done = !has_more || events.is_empty();
                    all.extend(events);
                    if done || older_than.is_none() {
                        break;
                    }
                }
                let read = all.len();
                let cursor = first_id(&all).map_or(Cursor::Since(created), Cursor::After);
                self.apply_oldest_first(all).await;
                Ok((read, cursor))
            }
        }
    }

    /// Applies events listed newest first, oldest first; one that cannot be read is logged
    /// and skipped.
    async fn apply_oldest_first(&self, events: Vec<serde_json::Value>) {
        for value in events.into_iter().rev() {
            match event::from_value(value) {
                Ok(event) => self.apply_listed(&event).await,
                Err(error) => {
                    tracing::warn!(%error, "mirror: an event the Events API listed could not be read; skipped")
                }
            }
        }
    }
}

fn first_id(events: &[serde_json::Value]) -> Option<String> {
    events
        .first()
        .and_then(|e| e.get("id"))
        .and_then(|id| id.as_str())
        .map(str::to_owned)
}
