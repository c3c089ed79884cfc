//! Data scoping for Hasura roles: who a request is for, and what it may read.
//!
//! Hasura v2 sends every remote-schema call except its introspection with the resolved
//! session as headers (`x-hasura-role` always, `x-hasura-user-id` when the session has one),
//! after the headers configured on the remote schema (here `Authorization: Bearer <token>`),
//! whatever `forward_client_headers` says. Where the session comes from decides how far the
//! headers can be believed (Hasura's `Server/Auth.hs`):
//!
//! - with a JWT or an auth webhook, from the claims or the webhook's answer: the client
//!   cannot choose them;
//! - for a request that falls to Hasura's unauthorized role
//!   (`HASURA_GRAPHQL_UNAUTHORIZED_ROLE`), or on a Hasura with no admin secret at all, from the
//!   client's own headers: the role is pinned, but `x-hasura-user-id` is whatever the caller
//!   wrote. Set `HASURA_UNAUTHORIZED_ROLE` to the same role, and such a request reads no
//!   customer and no list ([`Caller::of`]).
//!
//! So the HTTP layer ([`crate::http`]) turns those headers into a [`Caller`], which every
//! GraphQL request carries in its data, and the root fields ask it what to answer:
//!
//! | caller | `customer(id)` | `subscription(id)` | `customers`, `subscriptions`, `prices` | `price`, `plan`, `product` |
//! |---|---|---|---|---|
//! | [`Caller::Trusted`] | as is | as is | as is | as is |
//! | [`Caller::Scoped`] | the customer only when its `metadata[HASURA_SCOPING_METADATA_KEY]` equals the caller's user id, else `null` | only when its customer is the caller's, else `null` | refused: `null` and a `FORBIDDEN` error, before any Stripe call | as is (catalogue data) |
//!
//! A scoped-out answer is `null`, exactly like a customer that does not exist, so a Hasura
//! join for someone else's id fails nothing and reveals nothing, not even existence. The
//! lookup still goes through the cache, so its Stripe call is shared with later lookups.
//! Everything nested below an answered root field belongs to the caller's customer (its
//! subscriptions, their items, prices and plans) or to the catalogue, so nested fields need
//! no check of their own.
//!
//! Who is trusted ([`Caller::of`]):
//!
//! - `x-hasura-role` is `HASURA_UNAUTHORIZED_ROLE`: never; scoped to nobody (every
//!   `customer(id)` is `null`, every list refused), even with scoping off;
//! - scoping off (`HASURA_SCOPING=off`): everyone;
//! - no `x-hasura-role` header: a direct client, not Hasura (Hasura always sends one, except
//!   on introspection, which reads no data). Trusted: with `GRAPHQL_AUTH_TOKEN` set it holds
//!   the token, which is what Hasura itself holds; without a token the server has no
//!   authentication at all and anyone could send no header;
//! - `x-hasura-role` in `HASURA_TRUSTED_ROLES` (default `admin`), on a request that carried
//!   the bearer token: trusted;
//! - any other `x-hasura-role`, or any role at all when no `GRAPHQL_AUTH_TOKEN` is configured
//!   (the header then proves nothing, so it can narrow what a request sees but never widen
//!   it): scoped to `x-hasura-user-id` (none: every `customer(id)` is `null`).

use async_graphql::{Context, Error, ErrorExtensions};

use crate::stripe::models::Customer;

/// Default of `HASURA_TRUSTED_ROLES`.
pub const DEFAULT_TRUSTED_ROLE: &str = "admin";
/// Default of `HASURA_SCOPING_METADATA_KEY`: the key the product's onboarding stores the SSO
/// uuid under.
pub const DEFAULT_METADATA_KEY: &str = "sso";
/// Longest metadata key Stripe accepts.
pub const MAX_METADATA_KEY_LEN: usize = 40;

/// Scoping settings (`HASURA_SCOPING`, `HASURA_TRUSTED_ROLES`,
/// `HASURA_SCOPING_METADATA_KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopingSettings {
    /// Whether non-trusted Hasura roles are scoped (on by default).
    pub enabled: bool,
    /// Roles served without scoping when the request carried the bearer token.
    pub trusted_roles: Vec<String>,
    /// The Stripe customer metadata key holding the user id.
    pub metadata_key: String,
    /// Hasura's unauthorized role (`HASURA_UNAUTHORIZED_ROLE`), whose session variables come
    /// from the caller's own headers: served as scoped to nobody, whatever it claims.
    pub unauthorized_role: Option<String>,
}

impl Default for ScopingSettings {
    /// On, trusting `admin`, matching on `metadata.sso`.
    fn default() -> Self {
        ScopingSettings {
            enabled: true,
            trusted_roles: vec![DEFAULT_TRUSTED_ROLE.to_owned()],
            metadata_key: DEFAULT_METADATA_KEY.to_owned(),
            unauthorized_role: None,
        }
    }
}

/// How the request that carries the headers was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// `GRAPHQL_AUTH_TOKEN` is configured and the request presented it.
    BearerToken,
    /// No `GRAPHQL_AUTH_TOKEN` is configured: anyone may call, and headers prove nothing.
    None,
}

/// Who a GraphQL request is for. Put in the request's data by the HTTP layer; a request
/// without one (none reaches the schema that way over HTTP) is treated as scoped to nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Served without scoping.
    Trusted,
    /// Served only the data of the Stripe customer whose `metadata[metadata_key]` is
    /// `user_id`.
    Scoped {
        /// The `x-hasura-role` sent.
        role: String,
        /// The `x-hasura-user-id` sent, if any (an empty one counts as none).
        user_id: Option<String>,
        /// The metadata key to compare it with.
        metadata_key: String,
    },
}

impl Caller {
    /// The caller of a request that was authenticated as `auth` and carried these
    /// `x-hasura-role` and `x-hasura-user-id` header values (`None`: header absent; a value
    /// that is not UTF-8 is passed as `Some("")` by the HTTP layer, never as absent). See the
    /// module docs for the rules.
    pub fn of(
        settings: &ScopingSettings,
        auth: Authentication,
        role: Option<&str>,
        user_id: Option<&str>,
    ) -> Caller {
        if role.is_some() && role == settings.unauthorized_role.as_deref() {
            // Hasura took this session from the caller's own headers: the user id proves
            // nothing, whether scoping is on or off.
            return Caller::Scoped {
                role: role.unwrap_or_default().to_owned(),
                user_id: None,
                metadata_key: settings.metadata_key.clone(),
            };
        }
        let Some(role) = role.filter(|_| settings.enabled) else {
            return Caller::Trusted;
        };
        if auth == Authentication::BearerToken && settings.trusted_roles.iter().any(|r| r == role) {
            return Caller::Trusted;
        }
        Caller::Scoped {
            role: role.to_owned(),
            user_id: user_id
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            metadata_key: settings.metadata_key.clone(),
        }
    }

    /// Whether this caller may read `customer`: trusted, or scoped to the user id the
    /// customer's metadata names (an exact, case-sensitive string match).
    pub fn may_see(&self, customer: &Customer) -> bool {
        match self {
            Caller::Trusted => true,
            Caller::Scoped {
                user_id: Some(user_id),
                metadata_key,
                ..
            } => customer
                .metadata
                .get(metadata_key)
                .and_then(|v| v.as_str())
                .is_some_and(|v| v == user_id),
            Caller::Scoped { user_id: None, .. } => false,
        }
    }

    /// Whether this caller is scoped.
    pub fn is_scoped(&self) -> bool {
        matches!(self, Caller::Scoped { .. })
    }
}

/// The caller of the current request; scoped to nobody when the request carries none.
pub(super) fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    static NOBODY: Caller = Caller::Scoped {
        role: String::new(),
        user_id: None,
        metadata_key: String::new(),
    };
    ctx.data_opt::<Caller>().unwrap_or(&NOBODY)
}

/// Refuses the list root field `field` to a scoped caller: a `FORBIDDEN` error (the field is
/// `null`), raised before any Stripe call.
pub(super) fn refuse_list_to_scoped(ctx: &Context<'_>, field: &str) -> async_graphql::Result<()> {
    match caller(ctx) {
        Caller::Trusted => Ok(()),
        Caller::Scoped { role, .. } => Err(Error::new(format!(
            "`{field}` is not available to the Hasura role `{role}`: list root fields answer only trusted roles (HASURA_TRUSTED_ROLES); ask for your own customer with `customer(id:)`"
        ))
        .extend_with(|_, ext| ext.set("code", "FORBIDDEN"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(metadata: serde_json::Value) -> Customer {
        serde_json::from_value(serde_json::json!({
            "id": "cus_Scope1", "object": "customer", "created": 1, "livemode": false,
            "metadata": metadata,
        }))
        .expect("a customer")
    }

    const ME: &str = "6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60";

    #[test]
    fn only_trusted_roles_with_the_token_and_direct_clients_are_trusted() {
        let on = ScopingSettings::default();
        let token = Authentication::BearerToken;
        assert_eq!(Caller::of(&on, token, Some("admin"), None), Caller::Trusted);
        assert_eq!(Caller::of(&on, token, None, Some(ME)), Caller::Trusted);
        assert_eq!(
            Caller::of(&on, Authentication::None, None, None),
            Caller::Trusted
        );
        // Without a token a claimed admin proves nothing.
        assert!(Caller::of(&on, Authentication::None, Some("admin"), None).is_scoped());
        assert!(Caller::of(&on, token, Some("Admin"), None).is_scoped());
        assert!(Caller::of(&on, token, Some(""), None).is_scoped());
        let user = Caller::of(&on, token, Some("user"), Some(ME));
        assert!(user.is_scoped());
        let off = ScopingSettings {
            enabled: false,
            ..ScopingSettings::default()
        };
        assert_eq!(
            Caller::of(&off, Authentication::None, Some("user"), Some(ME)),
            Caller::Trusted
        );
    }

    #[test]
    fn the_unauthorized_role_is_scoped_to_nobody_whatever_user_id_it_claims() {
        for enabled in [true, false] {
            let settings = ScopingSettings {
                enabled,
                unauthorized_role: Some("anonymous".to_owned()),
                ..ScopingSettings::default()
            };
            for auth in [Authentication::BearerToken, Authentication::None] {
                let caller = Caller::of(&settings, auth, Some("anonymous"), Some(ME));
                assert!(caller.is_scoped(), "{enabled} {auth:?}");
                assert!(!caller.may_see(&customer(serde_json::json!({ "sso": ME }))));
            }
            // Other roles are served as before.
            let admin = Caller::of(&settings, Authentication::BearerToken, Some("admin"), None);
            assert_eq!(admin, Caller::Trusted);
        }
    }

    #[test]
    fn a_scoped_caller_sees_only_the_customer_whose_metadata_names_it() {
        let on = ScopingSettings::default();
        let user = Caller::of(&on, Authentication::BearerToken, Some("user"), Some(ME));
        assert!(user.may_see(&customer(serde_json::json!({ "sso": ME }))));
        assert!(!user.may_see(&customer(serde_json::json!({ "sso": "someone-else" }))));
        assert!(!user.may_see(&customer(serde_json::json!({ "sso_id": ME }))));
        assert!(!user.may_see(&customer(serde_json::json!({}))));
        assert!(!user.may_see(&customer(serde_json::json!({ "sso": ME.to_uppercase() }))));
        // No user id, or an empty one, matches nothing, not even an empty value.
        for nobody in [None, Some(""), Some("  ")] {
            let caller = Caller::of(&on, Authentication::BearerToken, Some("user"), nobody);
            assert!(!caller.may_see(&customer(serde_json::json!({ "sso": "" }))));
            assert!(!caller.may_see(&customer(serde_json::json!({ "sso": ME }))));
        }
        assert!(Caller::Trusted.may_see(&customer(serde_json::json!({}))));
    }
}
