//! The backfill: one pass reads every customer with the first page of its subscriptions
//! embedded (`GET /v1/customers?limit=100&expand[]=data.subscriptions`, by four readers at
//! once over windows of creation time: [`super::windows`]), and, at the same time, every price (active and inactive), plan and product, 100 per page, in the rate
//! limiter's background lane (interactive calls go first; the customers and the catalog are
//! different Stripe endpoints, each with its own limit).
//!
//! - **What the embedded page leaves out** is not read: Stripe embeds a customer's first 10
//!   subscriptions of its default statuses (every status but `canceled`) with `has_more`,
//!   which is exactly the page a Hasura join reads ([`crate::stripe::request::ListRequest::of_customer`]).
//!   A customer's further pages, its canceled subscriptions and a subscription's items past
//!   the 10 embedded are read from Stripe when asked for, and then join the mirror.
//! - **A failed page is read again** (after the client's own retries, with a growing pause
//!   up to 30 s): a pass loses no page and never gives up.
//! - **Before a pass** the newest event is noted: the Events API reading starts there, so an
//!   event during the pass is applied after it (events older than what the pass read are
//!   ignored, as any older event).
//! - **After a pass that is not the first**, what it did not see (and no event touched since
//!   it began) is dropped: it is gone from Stripe.
//! - **Progress** is logged every 10 pages and at the end (objects, objects per second, and,
//!   from the second pass on, the time left estimated from the previous pass's count; Stripe's
//!   lists carry no total), and counted in `mirror_backfill_objects_total`.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use super::{
    reconcile::Cursor,
    version::Version,
    windows::{self, Claim, Window, Windows},
    Mirror,
};
use crate::{
    clock,
    stripe::{
        models::{List, StripeObject},
        request::ListRequest,
        StripeError,
    },
};

/// The longest pause before a failed page is read again.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Pages between two progress lines.
const LOG_EVERY_PAGES: usize = 10;

impl Mirror {
    /// Runs the first backfill pass (a pass never gives up: a failed page is read again); the
    /// mirror is ready from then on.
    pub(super) async fn backfill_until_done(&self) {
        self.backfill_pass().await;
        if !self
            .inner
            .ready
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            self.inner.metrics.mirror_ready(true);
            tracing::info!("mirror ready: the first backfill pass is complete");
        }
    }

    /// One backfill pass (see the module docs).
    pub(super) async fn backfill_pass(&self) {
        let began = clock::unix_now();
        let started = Instant::now();
        let first = !self.is_ready();
        let previous = self.store().counts().customers;
        let cursor = self
            .retrying("the newest event", || self.newest_event())
            .await;
        let (customers, catalog) = futures::join!(
            self.backfill_customers(if first { 0 } else { previous }),
            self.backfill_catalog()
        );
        let dropped = {
            let mut store = self.store_mut();
            store.share_all_embedded();
            if first {
                0
            } else {
                store.sweep(began)
            }
        };
        *super::lock(&self.inner.cursor) = Some(cursor.unwrap_or(Cursor::Since(began)));
        self.count();
        self.inner.metrics.mirror_backfill_pass();
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(
            customers,
            catalog,
            dropped,
            seconds = format!("{secs:.1}"),
            per_second = format!("{:.0}", (customers + catalog) as f64 / secs.max(0.001)),
            "mirror backfill pass complete"
        );
    }

    /// Every customer with its first page of subscriptions, read by [`windows::READERS`]
    /// readers at once over windows of creation time ([`windows`]); returns how many were
    /// read.
    async fn backfill_customers(&self, expected: usize) -> usize {
        let progress = Progress {
            started: Instant::now(),
            expected,
            read: AtomicUsize::new(0),
            pages: AtomicUsize::new(0),
        };
        let windows = Mutex::new(Windows::new());
        let reported = Notify::new();
        let readers =
            (0..windows::READERS).map(|_| self.window_reader(&windows, &reported, &progress));
        futures::future::join_all(readers).await;
        progress.read.load(Ordering::Relaxed)
    }

    /// One reader: claims windows and reads them until nothing is left to read.
    async fn window_reader(
        &self,
        windows: &Mutex<Windows>,
        reported: &Notify,
        progress: &Progress,
    ) {
        loop {
            let notified = reported.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let claim = super::lock(windows).claim();
            let mut window = match claim {
                Claim::Done => return,
                Claim::Wait => {
                    notified.await;
                    continue;
                }
                Claim::Window(window) => window,
            };
            let mut after: Option<String> = None;
            let mut oldest: Option<i64> = None;
            loop {
                let page = self
                    .customers_page(&mut window, &mut after, oldest, progress)
                    .await;
                oldest = page.oldest.or(oldest);
                let handed_on = super::lock(windows).page(
                    &mut window,
                    page.newest.zip(page.oldest),
                    page.has_more,
                );
                if handed_on {
                    reported.notify_waiters();
                }
                match (page.has_more, page.last_id) {
                    (true, Some(last)) => after = Some(last),
                    _ => break,
                }
            }
            super::lock(windows).finished();
            reported.notify_waiters();
        }
    }

    /// One page of the customers created in `window` after `after`, joined to the store.
    ///
    /// A cursor Stripe no longer knows (its customer deleted since its page was read: 404)
    /// is not asked again and again: the window is read again from the oldest second read so
    /// far (`until` that second + 1, no cursor; the customers of that second are joined again,
    /// which changes nothing).
    async fn customers_page(
        &self,
        window: &mut Window,
        after: &mut Option<String>,
        oldest: Option<i64>,
        progress: &Progress,
    ) -> PageSeen {
        let asked = Mutex::new((*window, after.take()));
        let (page, version) = self
            .retrying("a page of customers", || async {
                let (window, after) = super::lock(&asked).clone();
                let request = ListRequest::customers_with_subscriptions_created(
                    window.from,
                    window.until,
                    after.as_deref(),
                );
                let mark = self.store().marks();
                let from = clock::unix_now();
                let page = match self
                    .inner
                    .background
                    .list_customers_with_subscriptions(&request)
                    .await
                {
                    Err(gone @ StripeError::NotFound { .. }) if after.is_some() => {
                        tracing::warn!("mirror: a page's cursor is gone from Stripe; reading its window again from the oldest second read");
                        let until = oldest.map(|t| t.saturating_add(1)).or(window.until);
                        *super::lock(&asked) = (Window { until, ..window }, None);
                        return Err(gone);
                    }
                    answer => answer?,
                };
                Ok((page, Version::read(from, clock::unix_now()).after(mark)))
            })
            .await;
        *window = super::lock(&asked).0;
        {
            let mut store = self.store_mut();
            for (customer, subscriptions) in &page.customers {
                store.join_customer(
                    &customer.id,
                    Some(Arc::new(customer.clone())),
                    subscriptions.clone().map(Arc::new),
                    &version,
                );
            }
        }
        self.inner.metrics.mirror_backfilled(page.customers.len());
        let read = progress
            .read
            .fetch_add(page.customers.len(), Ordering::Relaxed)
            + page.customers.len();
        let pages = progress.pages.fetch_add(1, Ordering::Relaxed) + 1;
        if pages.is_multiple_of(LOG_EVERY_PAGES) {
            self.count();
            log_progress(read, progress.expected, progress.started);
        }
        let created = |i: usize| page.customers.get(i).map(|(c, _)| c.created.0);
        PageSeen {
            newest: created(0),
            oldest: page.customers.len().checked_sub(1).and_then(created),
            last_id: page.customers.last().map(|(c, _)| c.id.clone()),
            has_more: page.has_more,
        }
    }

    /// Every price, plan and product; returns how many.
    async fn backfill_catalog(&self) -> usize {
        let prices = self
            .backfill_list(ListRequest::all_prices, |store, price, v| {
                store.join_price(price, v)
            })
            .await;
        let plans = self
            .backfill_list(ListRequest::all_plans, |store, plan, v| {
                store.join_plan(plan, v)
            })
            .await;
        let products = self
            .backfill_list(ListRequest::all_products, |store, product, v| {
                store.join_product(product, v)
            })
            .await;
        prices + plans + products
    }

    /// Every object of one list, each joined with `join`.
    async fn backfill_list<T: StripeObject + Clone>(
        &self,
        request: fn(Option<&str>) -> ListRequest<T>,
        join: fn(&mut super::store::MirrorStore, Arc<T>, &Version),
    ) -> usize {
        let mut after: Option<String> = None;
        let mut read = 0;
        loop {
            let request = request(after.as_deref());
            let (page, version): (List<T>, Version) = self
                .retrying(request.query().endpoint(), || async {
                    let mark = self.store().marks();
                    let from = clock::unix_now();
                    let page = self.inner.background.list(&request).await?;
                    Ok((page, Version::read(from, clock::unix_now()).after(mark)))
                })
                .await;
            {
                let mut store = self.store_mut();
                for object in &page.data {
                    join(&mut store, object.clone(), &version);
                }
            }
            read += page.data.len();
            self.inner.metrics.mirror_backfilled(page.data.len());
            match (page.has_more, page.data.last()) {
                (true, Some(last)) => after = Some(last.id().to_owned()),
                _ => return read,
            }
        }
    }

    /// `call` until it succeeds, pausing 1 s, 2 s, 4 s … up to [`MAX_PAUSE`] after each
    /// failure (logged at warn).
    async fn retrying<T, F, Fut>(&self, what: &str, call: F) -> T
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StripeError>>,
    {
        let mut pause = Duration::from_secs(1);
        loop {
            match call().await {
                Ok(answer) => return answer,
                Err(error) => {
                    tracing::warn!(%error, what, pause_s = pause.as_secs(), "mirror: a Stripe read failed; reading it again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }
}

/// The customer pages' count so far, across readers.
struct Progress {
    started: Instant,
    expected: usize,
    read: AtomicUsize,
    pages: AtomicUsize,
}

/// What a reader needs of a page it read.
struct PageSeen {
    /// The creation time of its first (newest) and last (oldest) customers.
    newest: Option<i64>,
    oldest: Option<i64>,
    last_id: Option<String>,
    has_more: bool,
}

fn log_progress(read: usize, expected: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rate = read as f64 / secs;
    let left = if expected > read && rate > 0.0 {
        format!("{:.0}", (expected - read) as f64 / rate)
    } else {
        "unknown".to_owned()
    };
    tracing::info!(
        customers = read,
        per_second = format!("{rate:.0}"),
        seconds_left = left,
        "mirror backfill progress"
    );
}
