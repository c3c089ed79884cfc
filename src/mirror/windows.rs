//! How the backfill shares the customers among [`READERS`] concurrent readers (pure).
//!
//! Stripe lists customers newest first, 100 a page, each page's cursor the last customer of
//! the page before: one reader gets one page per round trip, whatever the endpoint's limit
//! allows (at 40 ms a round trip and 30 ms of work a page, about 14 pages/s against 25/s).
//! Stripe's `created[gte]` / `created[lt]` filters cut the list into windows of creation
//! time that are read at the same time, each newest first by cursor to its end.
//!
//! Nothing tells how the customers are spread over time, so the windows are cut as the
//! backfill goes, from what each page shows:
//!
//! - At the start the only window is all time: its first page is the list's plain first page.
//! - **After a page that says `has_more`**, when a reader is free, the window keeps the next
//!   [`WINDOW_PAGES`] pages' worth of time below the page's oldest customer, at the density
//!   that page showed (the seconds its 100 customers span), and hands the older rest to the
//!   free reader as a window of its own, which is cut the same way after its first page. A
//!   gap in time costs nothing: a window's first page is its newest customers wherever they
//!   are. The reader that keeps reading goes on with its cursor, so nobody is read twice.
//! - **Readers join as the account proves large**: at most one window more than the pages read
//!   so far is read at once (up to [`READERS`]), so a small account costs its pages and
//!   perhaps one call more, and a large one has every reader after a few pages.
//!
//! Guarantees: the windows cover all time without holes or overlaps, so every customer
//! created before the backfill began is read exactly once; the claiming ends when every
//! window is read to its end; the calls beyond one per 100 customers are one partly filled
//! last page per window (measured in docs/benchmarks.md).

/// How many readers read windows at the same time.
pub const READERS: usize = 4;

/// How many pages' worth of time a window keeps when it hands the rest on.
pub const WINDOW_PAGES: i64 = 8;

/// A range of creation times, `[from, until)` in Unix seconds; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `created[gte]`.
    pub from: Option<i64>,
    /// `created[lt]`.
    pub until: Option<i64>,
}

/// What a reader is to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Read this window page by page, reporting each with [`Windows::page`], then say
    /// [`Windows::finished`].
    Window(Window),
    /// Wait for a report of another reader, then claim again.
    Wait,
    /// Nothing is left to read.
    Done,
}

/// The claiming state shared by the readers of one backfill pass.
#[derive(Debug)]
pub struct Windows {
    /// Windows nobody reads yet.
    pending: Vec<Window>,
    /// Windows claimed and not finished.
    reading: usize,
    /// Pages reported so far.
    pages: usize,
}

impl Default for Windows {
    fn default() -> Windows {
        Windows::new()
    }
}

impl Windows {
    /// The state before the first page: one window, all time.
    pub fn new() -> Windows {
        Windows {
            pending: vec![Window {
                from: None,
                until: None,
            }],
            reading: 0,
            pages: 0,
        }
    }

    /// How many windows may be read at once now.
    fn allowed(&self) -> usize {
        READERS.min(self.pages + 1)
    }

    /// The next piece of work (see the module docs).
    pub fn claim(&mut self) -> Claim {
        if self.reading < self.allowed() {
            if let Some(window) = self.pending.pop() {
                self.reading += 1;
                return Claim::Window(window);
            }
        }
        if self.pending.is_empty() && self.reading == 0 {
            Claim::Done
        } else {
            Claim::Wait
        }
    }

    /// A page of `window` was read: the creation times of its newest and oldest customers
    /// (`None` when it was empty), and its `has_more`. When a reader is free, `window` keeps
    /// [`WINDOW_PAGES`] pages' worth of time below the page and the rest becomes a window of
    /// its own (the caller goes on with its cursor in the narrowed window). Whether it did.
    pub fn page(&mut self, window: &mut Window, found: Option<(i64, i64)>, has_more: bool) -> bool {
        self.pages += 1;
        let Some((newest, oldest)) = found else {
            return false;
        };
        if !has_more || !self.pending.is_empty() || self.reading >= self.allowed() {
            return false;
        }
        let density = newest.saturating_sub(oldest).max(1);
        // The page's oldest second stays whole in this window (its other customers follow
        // by cursor).
        let cut = oldest
            .saturating_add(1)
            .saturating_sub(density.saturating_mul(WINDOW_PAGES));
        if window.from.is_some_and(|from| cut <= from) {
            return false;
        }
        self.pending.push(Window {
            from: window.from,
            until: Some(cut),
        });
        window.from = Some(cut);
        true
    }

    /// A window was read to its end.
    pub fn finished(&mut self) {
        self.reading = self.reading.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader in the simulation: its window and cursor (the index of its last customer
    /// within the window's customers), if it reads one.
    #[derive(Clone)]
    struct Reader {
        window: Option<(Window, usize)>,
    }

    /// Runs `readers` readers in turns, one page or claim per reader per turn, over customers
    /// created at `times`: the customers read (with repeats), the calls made, and the most
    /// windows read at once.
    fn backfill(times: &[i64], readers: usize) -> (Vec<i64>, usize, usize) {
        let mut sorted = times.to_vec();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let within = |w: &Window| -> Vec<i64> {
            sorted
                .iter()
                .copied()
                .filter(|t| w.from.is_none_or(|f| *t >= f) && w.until.is_none_or(|u| *t < u))
                .collect()
        };
        let mut windows = Windows::new();
        let mut pool = vec![Reader { window: None }; readers];
        let (mut read, mut calls, mut most) = (Vec::new(), 0, 0);
        for _ in 0..1_000_000 {
            let mut all_done = true;
            for reader in pool.iter_mut() {
                match reader.window.take() {
                    None => match windows.claim() {
                        Claim::Done => continue,
                        Claim::Wait => all_done = false,
                        Claim::Window(w) => {
                            all_done = false;
                            reader.window = Some((w, 0));
                        }
                    },
                    Some((mut w, done)) => {
                        all_done = false;
                        calls += 1;
                        let rest: Vec<i64> = within(&w).into_iter().skip(done).collect();
                        let page: Vec<i64> = rest.iter().copied().take(100).collect();
                        read.extend(&page);
                        let has_more = rest.len() > 100;
                        let found = page.first().zip(page.last()).map(|(n, o)| (*n, *o));
                        windows.page(&mut w, found, has_more);
                        if has_more {
                            // A window is only ever narrowed below what was read: the cursor
                            // stands.
                            reader.window = Some((w, done + page.len()));
                        } else {
                            windows.finished();
                        }
                    }
                }
            }
            most = most.max(pool.iter().filter(|r| r.window.is_some()).count());
            if all_done {
                return (read, calls, most);
            }
        }
        panic!("the backfill did not end");
    }

    fn spreads() -> Vec<Vec<i64>> {
        let now = 1_780_000_000;
        vec![
            vec![],
            vec![now],
            (0..99).map(|n| now - n).collect(),
            (0..100).map(|n| now - n).collect(),
            (0..101).map(|n| now - n).collect(),
            // The benchmark's: a few recent customers, then 10 000 a second apart long ago.
            (0..6)
                .map(|n| now - n * 86_400)
                .chain((0..10_000).map(|n| now - 400 * 86_400 + n))
                .collect(),
            // 250 customers in one second, then one a day.
            (0..250)
                .map(|_| now)
                .chain((1..300).map(|n| now - n * 86_400))
                .collect(),
            // Two bursts years apart, and one customer from 2011.
            (0..3_000)
                .map(|n| now - n)
                .chain((0..3_000).map(|n| now - 5 * 365 * 86_400 - n * 7))
                .chain([1_300_000_000])
                .collect(),
        ]
    }

    #[test]
    fn every_customer_is_read_exactly_once_and_the_backfill_ends_whatever_the_spread() {
        for readers in [1, 2, READERS] {
            for times in spreads() {
                let (mut read, calls, _) = backfill(&times, readers);
                read.sort_unstable();
                let mut want = times.clone();
                want.sort_unstable();
                assert_eq!(read, want, "{readers} readers, {} customers", times.len());
                let pages = times.len().div_ceil(100).max(1);
                assert!(
                    calls <= pages + pages.div_ceil(WINDOW_PAGES as usize) + READERS,
                    "{calls} calls for {} customers ({pages} pages), {readers} readers",
                    times.len()
                );
            }
        }
    }

    #[test]
    fn a_large_account_is_read_by_every_reader_even_when_its_first_page_spans_a_year() {
        let spread = &spreads()[5];
        let (_, calls, most) = backfill(spread, READERS);
        assert_eq!(most, READERS);
        assert!(calls <= 101 + 101 / WINDOW_PAGES as usize + 2, "{calls}");
    }

    #[test]
    fn a_small_account_costs_its_pages_and_at_most_one_call_more() {
        let now = 1_780_000_000;
        // 251 customers a minute apart: 3 pages.
        let times: Vec<i64> = (0..251).map(|n| now - n * 60).collect();
        let (_, calls, _) = backfill(&times, READERS);
        assert!((3..=4).contains(&calls), "{calls}");
        // One page: that page alone.
        assert_eq!(backfill(&times[..100], READERS).1, 1);
    }

    #[test]
    fn a_window_hands_on_what_is_older_than_its_next_pages_only_when_a_reader_is_free() {
        let mut windows = Windows::new();
        let Claim::Window(mut first) = windows.claim() else {
            panic!("the first window")
        };
        assert_eq!(windows.claim(), Claim::Wait);
        // 100 customers over 99 seconds: keep 8 × 99 seconds below the oldest second.
        assert!(windows.page(&mut first, Some((1_000, 901)), true));
        assert_eq!(
            first,
            Window {
                from: Some(902 - 8 * 99),
                until: None
            }
        );
        assert_eq!(
            windows.claim(),
            Claim::Window(Window {
                from: None,
                until: Some(902 - 8 * 99)
            })
        );
        // A last page hands nothing on.
        let mut kept = first;
        assert!(!windows.page(&mut kept, Some((900, 850)), false));
        assert_eq!(kept, first);
        windows.finished();
        // Three windows allowed after two pages; the other window hands on its older part
        // once, then waits until that one is claimed.
        let mut rest = Window {
            from: None,
            until: Some(902 - 8 * 99),
        };
        assert!(windows.page(&mut rest, Some((100, 91)), true));
        assert_eq!(rest.from, Some(92 - 8 * 9));
        assert!(!windows.page(&mut rest, Some((90, 81)), true));
        assert_eq!(
            windows.claim(),
            Claim::Window(Window {
                from: None,
                until: Some(92 - 8 * 9)
            })
        );
        windows.finished();
        assert_eq!(windows.claim(), Claim::Wait);
        windows.finished();
        assert_eq!(windows.claim(), Claim::Done);
    }
}
