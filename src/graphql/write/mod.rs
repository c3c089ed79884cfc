//! The write path: every mutation, each one Stripe write written through the cache.
//!
//! | module | mutations |
//! |---|---|
//! | [`customer`] | `createCustomer`, `updateCustomer`, `deleteCustomer` |
//! | [`subscription`] | `createSubscription`, `updateSubscription`, `cancelSubscription`, `undoScheduledCancellation`, `pauseCollection`, `resumeSubscription` |
//! | [`input`] | the checks on arguments, made before any call, and their form parameters |
//! | this one | who may write ([`WriteAccess`]) |
//!
//! (`ensureStripeCustomer` is the profile sync's: [`super::profile`].)
//!
//! Guarantees:
//! - **Who may write.** A mutation runs only for a request that presented
//!   `GRAPHQL_AUTH_TOKEN` and, when it names a Hasura role (`x-hasura-role`), one listed in
//!   `HASURA_WRITER_ROLES` (default `admin`). Without a token configured the server has no
//!   authentication, so mutations are refused, except under `--demo`, whose Stripe is the
//!   embedded sandbox. A `GET` request never writes (GraphQL over HTTP: mutations are
//!   `POST`). Refusals are `FORBIDDEN`, before any argument is read or any call made.
//! - **Arguments are checked before any call.** Ids by [`crate::ids`], keys by
//!   [`IdempotencyKey::parse`](crate::stripe::write::IdempotencyKey::parse), and each value against Stripe's documented limits (below);
//!   a refusal is `BAD_USER_INPUT` with `extensions.argument` naming the argument (or the
//!   metadata key, item index) at fault.
//! - **One write per mutation.** Each mutation sends exactly one Stripe write, with its
//!   `Idempotency-Key` ([`crate::stripe::write`]), and answers Stripe's result: there is no
//!   sequence of calls that could stop half-way and report success.

pub mod customer;
pub mod input;
pub mod subscription;

use async_graphql::{Context, Error, ErrorExtensions};

pub use input::{email, invalid, AddressInput};

/// Default of `HASURA_WRITER_ROLES`.
pub const DEFAULT_WRITER_ROLE: &str = "admin";

/// Who may run mutations (`HASURA_WRITER_ROLES`, and whether writes need the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSettings {
    /// Hasura roles that may write (a request with no `x-hasura-role` may too).
    pub writer_roles: Vec<String>,
    /// Whether mutations run when no `GRAPHQL_AUTH_TOKEN` is configured: only under
    /// `--demo`, whose Stripe is the embedded sandbox.
    pub without_token: bool,
}

impl Default for WriteSettings {
    /// `admin` writes; no writes without a token.
    fn default() -> Self {
        WriteSettings {
            writer_roles: vec![DEFAULT_WRITER_ROLE.to_owned()],
            without_token: false,
        }
    }
}

/// Whether one request may run mutations. Put in the request's data by the HTTP layer; a
/// request without one may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteAccess {
    /// Mutations run.
    Allowed,
    /// Mutations are refused with this reason.
    Refused(String),
}

impl WriteAccess {
    /// The access of a request: `token_configured` says whether `GRAPHQL_AUTH_TOKEN` is
    /// configured (then a request that reached the schema presented it); `role` is its
    /// `x-hasura-role`; `method_is_post` whether it came as a `POST`.
    pub fn of(
        settings: &WriteSettings,
        token_configured: bool,
        role: Option<&str>,
        method_is_post: bool,
    ) -> WriteAccess {
        if !method_is_post {
            return WriteAccess::Refused(
                "mutations are sent with POST, never GET (GraphQL over HTTP)".to_owned(),
            );
        }
        if !token_configured && !settings.without_token {
            return WriteAccess::Refused(
                "mutations need GRAPHQL_AUTH_TOKEN: this server has no authentication configured, so it does not write to Stripe".to_owned(),
            );
        }
        match role {
            Some(role) if !settings.writer_roles.iter().any(|r| r == role) => {
                WriteAccess::Refused(format!(
                    "the Hasura role `{}` may not run mutations (HASURA_WRITER_ROLES)",
                    role.chars().take(64).collect::<String>()
                ))
            }
            _ => WriteAccess::Allowed,
        }
    }
}

/// Refuses the mutation (`FORBIDDEN`) unless the request may write.
pub fn require_writer(ctx: &Context<'_>) -> async_graphql::Result<()> {
    match ctx.data_opt::<WriteAccess>() {
        Some(WriteAccess::Allowed) => Ok(()),
        Some(WriteAccess::Refused(reason)) => Err(forbidden(reason)),
        None => Err(forbidden("this request may not run mutations")),
    }
}

fn forbidden(message: &str) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", "FORBIDDEN"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(without_token: bool) -> WriteSettings {
        WriteSettings {
            writer_roles: vec!["admin".into(), "backoffice".into()],
            without_token,
        }
    }

    #[test]
    fn only_a_token_holder_in_a_writer_role_may_write() {
        let s = settings(false);
        assert_eq!(WriteAccess::of(&s, true, None, true), WriteAccess::Allowed);
        assert_eq!(
            WriteAccess::of(&s, true, Some("admin"), true),
            WriteAccess::Allowed
        );
        assert_eq!(
            WriteAccess::of(&s, true, Some("backoffice"), true),
            WriteAccess::Allowed
        );
        for refused in [
            WriteAccess::of(&s, true, Some("user"), true),
            WriteAccess::of(&s, true, Some(""), true),
            WriteAccess::of(&s, false, None, true),
            WriteAccess::of(&s, false, Some("admin"), true),
            WriteAccess::of(&s, true, None, false),
        ] {
            assert!(matches!(refused, WriteAccess::Refused(_)), "{refused:?}");
        }
    }

    #[test]
    fn the_demo_writes_without_a_token_but_still_not_for_other_roles() {
        let s = settings(true);
        assert_eq!(WriteAccess::of(&s, false, None, true), WriteAccess::Allowed);
        assert!(matches!(
            WriteAccess::of(&s, false, Some("user"), true),
            WriteAccess::Refused(_)
        ));
        assert!(matches!(
            WriteAccess::of(&s, false, None, false),
            WriteAccess::Refused(_)
        ));
    }
}
