//! The mirror of Stripe (`STRIPE_MIRROR=on`): Stripe's customers, their first page of
//! subscriptions, prices, plans and products held in this process, so cold reads of them cost
//! no Stripe call.
//!
//! | module | holds |
//! |---|---|
//! | this one | [`Mirror`]: the handle; [`MirrorSource`]: the cache's source over it; reads and re-reads |
//! | [`store`] | what is held and the rules that change it (pure) |
//! | [`version`] | how old what is held is, and whether an event is newer ([`version::decide`], pure) |
//! | [`backfill`] | the backfill: every customer with its subscriptions, every price, plan and product |
//! | [`windows`] | how the backfill's readers share the customers (windows of creation time, pure) |
//! | [`reconcile`] | the Events API reading that applies what webhooks missed |
//!
//! It sits under the in-process cache as its [`Source`] (over the shared level when
//! `REDIS_URL` is set, else over Stripe), and guarantees:
//!
//! - **Served without a call.** A miss for a customer, a customer with its first page of
//!   subscriptions (what a Hasura join of the seed query asks), that page, a subscription, a
//!   price, a plan or a product the mirror holds is answered from it: no Stripe call, the same
//!   answer Stripe would give for the same data. A deleted one is answered "does not exist".
//! - **Never a wrong null.** What the mirror does not hold (created after the backfill with
//!   its event not here yet, a canceled subscription, any other list) is asked of Stripe, as
//!   without the mirror, and the answer joins the mirror. An id Stripe does not know never
//!   joins it (unknown ids cannot grow it).
//! - **Exact by events, not by TTL.** Mirrored objects never expire. A verified webhook, and
//!   every event the Events API lists that webhooks missed (read every
//!   `STRIPE_MIRROR_RECONCILE_SECONDS`, default 60), is applied from the event's own object
//!   when it is newer than what is held (by `created`, whole seconds), ignored when it is
//!   older or the same event again; an event that cannot be ordered (another event for the
//!   same object in the same second, or one inside the seconds a read ran) makes the mirror
//!   read that object again, once (concurrent reads of it wait for that one call). An object
//!   deleted in Stripe leaves the mirror with its event, or, when no event says so, with the
//!   next backfill pass.
//! - **Writes are held at once.** A write through this server is held as Stripe answered
//!   it, before its webhook arrives.
//! - **Warm-up.** Until the first backfill pass is complete, `/readyz` answers 503
//!   `MIRROR_WARMING`; queries are served all along (what is not yet mirrored is asked of
//!   Stripe). The backfill runs in the rate limiter's background lane: live queries go first.
//! - **Several replicas without a shared mirror** each hold their own; a change another
//!   replica was told of (through the shared level's invalidations) is forgotten here and
//!   read again on its next use; webhooks reach one replica, the Events API all of them.

pub mod backfill;
pub mod reconcile;
pub mod store;
pub mod version;
pub mod windows;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, PoisonError, RwLock,
    },
    time::Duration,
};

use futures::{
    future::{BoxFuture, Shared},
    FutureExt,
};

use self::{store::MirrorStore, version::Version};
use crate::{
    cache::{Fetch, Filled, Remote, RemoteSink, Source, StripeCache, StripeSource, Tag, Wrote},
    clock,
    metrics::Metrics,
    stripe::{event::Event, limiter::Lane, StripeClient, StripeError},
};

/// `STRIPE_MIRROR=on` and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorSettings {
    /// How often the Events API is read (`STRIPE_MIRROR_RECONCILE_SECONDS`).
    pub reconcile_every: Duration,
}

type Read = Shared<BoxFuture<'static, Result<Arc<Filled>, StripeError>>>;

/// What an event makes stale in the cache (`None`: nothing), as the webhook endpoint decides
/// it ([`crate::events::stale::stale_tags`]).
pub type StaleTags = fn(&Event) -> Option<Vec<Tag>>;

struct Inner {
    store: RwLock<MirrorStore>,
    ready: AtomicBool,
    /// Where a miss the mirror cannot answer goes (the shared level, or Stripe).
    below: Arc<dyn Source>,
    /// Re-reads after an event that could not be ordered go straight to Stripe (a shared
    /// level might still hold the older answer).
    stripe: Arc<dyn Source>,
    /// The backfill and the Events API reading, in the limiter's background lane.
    background: StripeClient,
    /// Reads in flight, by what they fetch (with a serial number, so a read leaves only its
    /// own entry): a re-read and the misses that wait for it share one call.
    reads: Mutex<HashMap<Fetch, (u64, Read)>>,
    serials: AtomicU64,
    settings: MirrorSettings,
    metrics: Metrics,
    /// The cache over the mirror and what an event makes stale in it, once built: the Events
    /// API reading invalidates it as a webhook does.
    cache: std::sync::OnceLock<(StripeCache, StaleTags)>,
    /// Where the event reading starts next (see [`reconcile`]).
    cursor: Mutex<Option<reconcile::Cursor>>,
}

/// The mirror (see the module docs). Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Mirror {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where an event came from, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// A verified webhook.
    Webhook,
    /// `GET /v1/events`.
    EventsApi,
}

impl EventSource {
    fn as_str(self) -> &'static str {
        match self {
            EventSource::Webhook => "webhook",
            EventSource::EventsApi => "events_api",
        }
    }
}

impl Mirror {
    /// An empty mirror whose misses `below` answers; `client` makes its own reads (the
    /// backfill and the Events API in its background lane, re-reads in its own).
    pub fn new(
        below: Arc<dyn Source>,
        client: StripeClient,
        settings: MirrorSettings,
        metrics: Metrics,
    ) -> Mirror {
        metrics.mirror_ready(false);
        Mirror {
            inner: Arc::new(Inner {
                store: RwLock::new(MirrorStore::default()),
                ready: AtomicBool::new(false),
                below,
                stripe: StripeSource::shared(client.clone()),
                background: client.in_lane(Lane::Background),
                reads: Mutex::new(HashMap::new()),
                serials: AtomicU64::new(0),
                settings,
                metrics,
                cache: std::sync::OnceLock::new(),
                cursor: Mutex::new(None),
            }),
        }
    }

    /// The cache's source over this mirror.
    pub fn source(&self) -> Arc<dyn Source> {
        Arc::new(MirrorSource(self.clone()))
    }

    /// Starts the backfill and then the Events API reading, on the client's I/O runtime;
    /// `cache` is the cache over this mirror, invalidated with `stale` for each event the
    /// reading applies, as a webhook invalidates it. Call once.
    pub fn start(&self, cache: StripeCache, stale: StaleTags) {
        let _ = self.inner.cache.set((cache, stale));
        let mirror = self.clone();
        self.inner.background.io().spawn(async move {
            mirror.backfill_until_done().await;
            mirror.reconcile_forever().await;
        });
    }

    /// Whether the first backfill pass is complete.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    fn store(&self) -> std::sync::RwLockReadGuard<'_, MirrorStore> {
        self.inner
            .store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn store_mut(&self) -> std::sync::RwLockWriteGuard<'_, MirrorStore> {
        self.inner
            .store
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a verified event (a webhook's, or one the Events API listed) to what is held.
    /// Done before the cache's invalidation of the same event, so a lookup after it reads the
    /// new state, or waits for the re-read the event made due.
    pub fn apply(&self, event: &Event, source: EventSource) {
        let changed = self.store_mut().apply_event(event);
        let outcome = if !changed.refetch.is_empty() {
            "refetched"
        } else if changed.ignored {
            "ignored"
        } else {
            "applied"
        };
        self.inner.metrics.mirror_event(source.as_str(), outcome);
        tracing::debug!(
            event_id = event.id.as_deref().unwrap_or("-"),
            event_type = %event.event_type,
            source = source.as_str(),
            outcome,
            "mirror event"
        );
        self.reread(changed.refetch);
    }

    /// Starts a read straight from Stripe of each fetch (a miss waiting for one of them
    /// shares its call).
    fn reread(&self, fetches: Vec<Fetch>) {
        for fetch in fetches {
            drop(self.read(fetch, true));
        }
    }

    /// The read of `fetch` in flight, or a new one (from Stripe itself when `direct`, else
    /// from the level below), whose answer joins the mirror. A `direct` re-read never joins a
    /// read already in flight (that one began before the change that asks for it); misses
    /// arriving later wait for the newest. It runs as its own task, so it completes when
    /// nobody waits for it.
    fn read(&self, fetch: Fetch, direct: bool) -> Read {
        let mut reads = lock(&self.inner.reads);
        if !direct {
            if let Some((_, read)) = reads.get(&fetch) {
                return read.clone();
            }
            // A read that ended between the caller's look at the store and this lock has
            // joined its answer already (a read joins before it leaves `reads`).
            if let Some(filled) = self.store().answer(&fetch) {
                return futures::future::ready(Ok(Arc::new(filled)))
                    .boxed()
                    .shared();
            }
        }
        let source = if direct {
            self.inner.stripe.clone()
        } else {
            self.inner.below.clone()
        };
        // Taken under the `reads` lock, after any marking that asked for this read.
        let mark = self.store().marks();
        let serial = self.inner.serials.fetch_add(1, Ordering::Relaxed);
        let mirror = self.clone();
        let key = fetch.clone();
        let task = self.inner.background.io().spawn(async move {
            let from = clock::unix_now();
            let answer = source.fetch(fetch.clone()).await;
            let to = clock::unix_now();
            if let Ok(filled) = &answer {
                let age = i64::try_from(filled.age.as_secs()).unwrap_or(i64::MAX);
                let version = Version::read(from.saturating_sub(age), to).after(mark);
                mirror.store_mut().join(&fetch, filled, &version);
            }
            let mut reads = lock(&mirror.inner.reads);
            if reads.get(&fetch).is_some_and(|(s, _)| *s == serial) {
                reads.remove(&fetch);
            }
            drop(reads);
            answer.map(Arc::new)
        });
        let read: Read = async move {
            task.await.unwrap_or(Err(StripeError::Unavailable {
                status: None,
                request_id: None,
            }))
        }
        .boxed()
        .shared();
        reads.insert(key, (serial, read.clone()));
        read
    }

    /// The counts of what is held, into the metrics.
    fn count(&self) {
        let counts = self.store().counts();
        let metrics = &self.inner.metrics;
        metrics.mirror_objects("customer", counts.customers);
        metrics.mirror_objects("subscription", counts.subscriptions);
        metrics.mirror_objects("price", counts.prices);
        metrics.mirror_objects("plan", counts.plans);
        metrics.mirror_objects("product", counts.products);
    }

    /// Applies an event the Events API listed as a webhook would be: to the mirror, then to
    /// the cache over it.
    async fn apply_listed(&self, event: &Event) {
        self.apply(event, EventSource::EventsApi);
        if let Some((cache, stale)) = self.inner.cache.get() {
            if let Some(tags) = stale(event) {
                cache.invalidate(&tags).await;
            }
        }
    }
}

/// The cache's [`Source`] over a [`Mirror`].
pub struct MirrorSource(Mirror);

impl Source for MirrorSource {
    fn fetch(&self, fetch: Fetch) -> BoxFuture<'static, Result<Filled, StripeError>> {
        let mirror = &self.0;
        if let Some(filled) = mirror.store().answer(&fetch) {
            mirror.inner.metrics.mirror_answer("hit");
            return futures::future::ready(Ok(filled)).boxed();
        }
        // A read in flight that will answer this one too (a re-read of the customer with its
        // page after an event the mirror could not order): wait for it, then answer.
        let covering = store::covering(&fetch).and_then(|c| {
            lock(&mirror.inner.reads)
                .get(&c)
                .map(|(_, read)| read.clone())
        });
        let mirror = mirror.clone();
        async move {
            if let Some(read) = covering {
                let _ = read.await;
                if let Some(filled) = mirror.store().answer(&fetch) {
                    mirror.inner.metrics.mirror_answer("hit");
                    return Ok(filled);
                }
            }
            mirror.inner.metrics.mirror_answer("fallback");
            let read = mirror.read(fetch, false);
            read.await.map(|filled| (*filled).clone())
        }
        .boxed()
    }

    fn invalidated(&self, tags: &[Tag]) -> BoxFuture<'static, ()> {
        self.0.inner.below.invalidated(tags)
    }

    fn attach(&self, sink: RemoteSink) {
        let mirror = self.0.clone();
        self.0
            .inner
            .below
            .attach(Arc::new(move |remote: Remote<'_>| {
                if let Remote::Tags(tags) = &remote {
                    mirror.store_mut().forget(tags);
                }
                sink(remote);
            }));
    }

    fn wrote(&self, wrote: Wrote<'_>, from: i64, to: i64) {
        let mirror = &self.0;
        let version = Version::read(from, to);
        let refetch = match wrote {
            Wrote::Object(entry) => mirror.store_mut().wrote(entry, false, &version).refetch,
            Wrote::Created(entry) => mirror.store_mut().wrote(entry, true, &version).refetch,
            Wrote::DeletedCustomer(id) => {
                mirror.store_mut().deleted_customer(id.as_str(), &version);
                Vec::new()
            }
        };
        mirror.reread(refetch);
        self.0.inner.below.wrote(wrote, from, to);
    }
}
