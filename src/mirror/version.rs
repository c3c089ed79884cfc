//! What the mirror knows of an object's age, and the pure decision of whether an event is
//! newer than what it holds ([`decide`]).
//!
//! Stripe's `event.created` has one-second resolution, and a read's answer reflects Stripe at
//! some moment between the request and the answer. So what the mirror holds is dated by an
//! interval of whole seconds, [`Version::from`]..=[`Version::to`]: one second (`created`, and
//! the event's id) for an object taken from an event, the seconds a read ran for an object
//! read from Stripe. An event inside that interval cannot be ordered against it; the mirror
//! then reads the object again instead of guessing (the bug of Stripe's own sync engine, which
//! lets a stale copy win a same-second tie, is a test here).

/// When what the mirror holds was true, in whole Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The first second it may date from.
    pub from: i64,
    /// The last second it may date from.
    pub to: i64,
    /// The event it was taken from, when it was (a redelivery of it changes nothing).
    pub event: Option<Box<str>>,
    /// For a read: the store's mark count when the read began ([`super::store::MirrorStore::marks`]);
    /// only a read begun after an object was marked for a re-read replaces it.
    pub mark: u64,
}

impl Version {
    /// An object read from Stripe by a call that ran from `from` to `to`.
    pub fn read(from: i64, to: i64) -> Version {
        Version {
            from,
            to: to.max(from),
            event: None,
            mark: 0,
        }
    }

    /// This read, begun when the store's mark count was `mark`.
    pub fn after(mut self, mark: u64) -> Version {
        self.mark = mark;
        self
    }

    /// An object taken from the event `id` created at `created`.
    pub fn event(created: i64, id: Option<&str>) -> Version {
        Version {
            from: created,
            to: created,
            event: id.map(Into::into),
            mark: 0,
        }
    }
}

/// What to do with an event's object, given what the mirror holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It is newer: hold it.
    Apply,
    /// It is older, or the very event held: keep what is held.
    Ignore,
    /// It cannot be ordered against what is held (the same second, another event; or an event
    /// without `created`): read the object from Stripe again.
    Refetch,
}

/// The decision for an event `created` at that second with id `event_id`, when the mirror
/// holds a version `held` of the object (`None`: it holds nothing of it).
pub fn decide(held: Option<&Version>, created: Option<i64>, event_id: Option<&str>) -> Decision {
    let Some(held) = held else {
        return match created {
            Some(_) => Decision::Apply,
            None => Decision::Refetch,
        };
    };
    if event_id.is_some() && held.event.as_deref() == event_id {
        return Decision::Ignore;
    }
    match created {
        None => Decision::Refetch,
        Some(c) if c > held.to => Decision::Apply,
        Some(c) if c < held.from => Decision::Ignore,
        Some(_) => Decision::Refetch,
    }
}

/// Whether an answer read from Stripe at `read` replaces what is held: only when all of what
/// is held is older than the read began (an event that landed while the read ran is kept; the
/// read's answer may predate it).
pub fn read_replaces(held: Option<&Version>, read: &Version) -> bool {
    held.is_none_or(|held| held.to < read.from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_event_applies_an_older_one_is_ignored() {
        let held = Version::event(100, Some("evt_1"));
        assert_eq!(
            decide(Some(&held), Some(101), Some("evt_2")),
            Decision::Apply
        );
        assert_eq!(
            decide(Some(&held), Some(99), Some("evt_0")),
            Decision::Ignore
        );
        assert_eq!(decide(None, Some(5), Some("evt_0")), Decision::Apply);
    }

    #[test]
    fn two_events_in_one_second_are_not_guessed_at_but_a_redelivery_changes_nothing() {
        let held = Version::event(100, Some("evt_1"));
        assert_eq!(
            decide(Some(&held), Some(100), Some("evt_2")),
            Decision::Refetch
        );
        assert_eq!(
            decide(Some(&held), Some(100), Some("evt_1")),
            Decision::Ignore
        );
        assert_eq!(
            decide(Some(&held), Some(120), Some("evt_1")),
            Decision::Ignore
        );
    }

    #[test]
    fn an_event_during_a_read_cannot_be_ordered_against_it() {
        let read = Version::read(100, 102);
        assert_eq!(decide(Some(&read), Some(100), Some("e")), Decision::Refetch);
        assert_eq!(decide(Some(&read), Some(102), Some("e")), Decision::Refetch);
        assert_eq!(decide(Some(&read), Some(103), Some("e")), Decision::Apply);
        assert_eq!(decide(Some(&read), Some(99), Some("e")), Decision::Ignore);
        assert_eq!(decide(Some(&read), None, Some("e")), Decision::Refetch);
        assert_eq!(decide(None, None, None), Decision::Refetch);
    }

    #[test]
    fn a_read_replaces_only_what_is_older_than_its_start() {
        let read = Version::read(100, 101);
        assert!(read_replaces(None, &read));
        assert!(read_replaces(Some(&Version::event(99, None)), &read));
        assert!(!read_replaces(Some(&Version::event(100, None)), &read));
        assert!(!read_replaces(Some(&Version::read(98, 100)), &read));
        assert_eq!(
            Version::read(5, 3).to,
            5,
            "an interval never runs backwards"
        );
    }
}
