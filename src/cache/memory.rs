//! The in-process level: a moka cache of [`Stored`] entries, and the invalidation generations
//! that keep an answer fetched before a webhook from ever being stored or served.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, PoisonError, RwLock,
    },
    time::{Duration, Instant},
};

use moka::{notification::RemovalCause, Expiry};

use super::{
    key::{Entry, Filled, Key},
    tags::{tags_of, Tag},
    CacheSettings,
};
use crate::metrics::{CacheEvent, Metrics};

/// One cached value with what is needed to judge it.
pub struct Stored {
    pub entry: Entry,
    /// The invalidation generation when the Stripe call that produced it started.
    fetched_gen: u64,
    /// When that call's answer was fetched (earlier than its arrival by the answer's age).
    pub fetched_at: Instant,
    /// What it holds, for invalidation.
    tags: Box<[Tag]>,
}

/// How long an entry is served fresh (its TTL) and kept (its TTL plus the stale-if-error
/// window: past its TTL an entry is never served fresh, only instead of an error).
struct KeepPolicy {
    ttl: Duration,
    not_found_ttl: Duration,
    stale_if_error: Duration,
}

impl KeepPolicy {
    fn keep(&self, stored: &Stored) -> Duration {
        self.ttl_of(&stored.entry) + self.stale_if_error
    }

    fn ttl_of(&self, entry: &Entry) -> Duration {
        match entry {
            Entry::Missing => self.not_found_ttl,
            _ => self.ttl,
        }
    }
}

impl Expiry<Key, Arc<Stored>> for KeepPolicy {
    fn expire_after_create(&self, _: &Key, value: &Arc<Stored>, _: Instant) -> Option<Duration> {
        Some(self.keep(value).saturating_sub(value.fetched_at.elapsed()))
    }

    fn expire_after_update(
        &self,
        _: &Key,
        value: &Arc<Stored>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.keep(value).saturating_sub(value.fetched_at.elapsed()))
    }
}

/// Invalidation records older than this can go: every entry fetched before them has
/// expired from moka by then.
fn record_retention(settings: &CacheSettings) -> Duration {
    settings.ttl.max(settings.not_found_ttl) + settings.stale_if_error + Duration::from_secs(60)
}

/// Most invalidation records kept; past it, the oldest are folded into the floor (every
/// entry fetched before the floor counts as stale), which is conservative, never wrong.
const MAX_RECORDS: usize = 100_000;

/// The in-process level.
pub struct Memory {
    entries: moka::sync::Cache<Key, Arc<Stored>>,
    policy: KeepPolicy,
    settings: CacheSettings,
    /// Bumped by every invalidation.
    generation: AtomicU64,
    /// Entries fetched before this generation are stale.
    floor: AtomicU64,
    /// The generation of the latest invalidation of each tag, and when it happened.
    invalidated: RwLock<HashMap<Tag, (u64, Instant)>>,
}

impl Memory {
    /// An empty level with `settings`' bounds, counting size evictions in `metrics`.
    pub fn new(settings: CacheSettings, metrics: Metrics) -> Memory {
        let policy = || KeepPolicy {
            ttl: settings.ttl,
            not_found_ttl: settings.not_found_ttl,
            stale_if_error: settings.stale_if_error,
        };
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.max_entries)
            .expire_after(policy())
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    metrics.cache(CacheEvent::EvictedForSize);
                }
            })
            .build();
        Memory {
            entries,
            policy: policy(),
            settings,
            generation: AtomicU64::new(0),
            floor: AtomicU64::new(0),
            invalidated: RwLock::new(HashMap::new()),
        }
    }

    /// The current invalidation generation (an answer fetched from now on is judged by it).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The entry under `key`, whatever its state.
    pub fn get(&self, key: &Key) -> Option<Arc<Stored>> {
        self.entries.get(key)
    }

    /// Forgets the entry under `key`.
    pub fn remove(&self, key: &Key) {
        self.entries.invalidate(key);
    }

    /// The entry under `key` if it may be served as it is (fresh, not invalidated).
    pub fn fresh(&self, key: &Key) -> Option<Arc<Stored>> {
        self.entries
            .get(key)
            .filter(|s| self.is_current(s) && self.is_fresh(s))
    }

    /// Whether no invalidation since `stored`'s Stripe call started names one of its tags.
    pub fn is_current(&self, stored: &Stored) -> bool {
        if self.generation.load(Ordering::SeqCst) == stored.fetched_gen {
            return true;
        }
        self.invalidated_since(stored).is_none()
    }

    /// The newest invalidation of one of `stored`'s tags that came after its call started.
    pub fn invalidated_since(&self, stored: &Stored) -> Option<u64> {
        if stored.fetched_gen < self.floor.load(Ordering::SeqCst) {
            return Some(self.floor.load(Ordering::SeqCst));
        }
        let records = self
            .invalidated
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        stored
            .tags
            .iter()
            .filter_map(|tag| records.get(tag).map(|(g, _)| *g))
            .filter(|g| *g > stored.fetched_gen)
            .max()
    }

    /// Whether `stored` is within its TTL.
    pub fn is_fresh(&self, stored: &Stored) -> bool {
        stored.fetched_at.elapsed() < self.policy.ttl_of(&stored.entry)
    }

    /// Whether `stored` is within its TTL plus the stale-if-error window.
    pub fn is_kept(&self, stored: &Stored) -> bool {
        stored.fetched_at.elapsed() < self.policy.keep(stored)
    }

    /// Stores what a call that started at generation `fetched_gen` fetched, unless an
    /// invalidation landed while it was in flight (then the answer still goes to the lookups
    /// waiting for it, but is not kept). Returns the primary entry.
    pub fn store(&self, key: Key, filled: Filled, fetched_gen: u64) -> Arc<Stored> {
        let now = Instant::now();
        let fetched_at = now.checked_sub(filled.age).unwrap_or(now);
        let stored = |key: &Key, entry: Entry| {
            let tags = tags_of(key, &entry);
            Arc::new(Stored {
                entry,
                fetched_gen,
                fetched_at,
                tags,
            })
        };
        for (also_key, entry) in filled.also {
            let value = stored(&also_key, entry);
            if self.is_current(&value) {
                self.entries.insert(also_key, value);
            }
        }
        let value = stored(&key, filled.primary);
        if self.is_current(&value) {
            self.entries.insert(key, value.clone());
        }
        value
    }

    /// Drops every entry, and keeps any call in flight from storing its answer.
    pub fn invalidate_all(&self) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.floor.fetch_max(generation, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    /// Makes stale every entry that holds data named by one of `tags` (see
    /// [`super::StripeCache::invalidate`] for the guarantee).
    pub fn invalidate(&self, tags: &[Tag]) {
        if tags.is_empty() {
            return;
        }
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let now = Instant::now();
        let mut records = self
            .invalidated
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for tag in tags {
            records.insert(tag.clone(), (generation, now));
        }
        if records.len() > MAX_RECORDS {
            let retention = record_retention(&self.settings);
            records.retain(|_, (_, at)| at.elapsed() < retention);
            if records.len() > MAX_RECORDS {
                // Too many recent invalidations to track one by one: treat everything
                // fetched before this one as stale.
                self.floor.fetch_max(generation, Ordering::SeqCst);
                records.clear();
            }
        }
    }
}
