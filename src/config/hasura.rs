//! Hasura: how its roles are served (`HASURA_SCOPING`, `HASURA_*_ROLES`,
//! `HASURA_SCOPING_METADATA_KEY`, `HASURA_UNAUTHORIZED_ROLE`) and where to call it back
//! (`HASURA_GRAPHQL_URL`, `HASURA_ADMIN_SECRET`).

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{
    text::{word, word_list, Shown},
    ConfigError,
};
use crate::{
    graphql::{
        scope::{
            ScopingSettings, DEFAULT_METADATA_KEY, DEFAULT_TRUSTED_ROLE, MAX_METADATA_KEY_LEN,
        },
        write::DEFAULT_WRITER_ROLE,
    },
    profile::{hasura::HasuraSettings, phone},
    secret::SecretString,
};

/// `HASURA_SCOPING`: on or off. Case-insensitive; `true`/`1`/`yes` and `false`/`0`/`no` work
/// too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// On.
    #[value(alias = "true", alias = "1", alias = "yes")]
    On,
    /// Off.
    #[value(alias = "false", alias = "0", alias = "no")]
    Off,
}

/// Hasura settings.
#[derive(Debug, Args)]
#[command(next_help_heading = "Hasura")]
pub struct HasuraArgs {
    /// Data scoping for Hasura roles: a request whose x-hasura-role is not trusted gets
    /// `customer(id)` only for the customer whose metadata names its x-hasura-user-id, and no
    /// list root fields. `off` for deployments that scope elsewhere.
    #[arg(long, env = "HASURA_SCOPING", value_enum, ignore_case = true,
          default_value_t = OnOff::On, value_name = "ON_OFF")]
    pub hasura_scoping: OnOff,

    /// Comma-separated Hasura roles served without scoping when the request carries the
    /// bearer token. Empty counts as unset.
    #[arg(long, env = "HASURA_TRUSTED_ROLES", default_value = DEFAULT_TRUSTED_ROLE, value_name = "ROLES")]
    pub hasura_trusted_roles: String,

    /// Comma-separated Hasura roles that may run mutations (a request with the bearer token
    /// and no x-hasura-role may too). Empty counts as unset.
    #[arg(long, env = "HASURA_WRITER_ROLES", default_value = DEFAULT_WRITER_ROLE, value_name = "ROLES")]
    pub hasura_writer_roles: String,

    /// The Stripe customer metadata key whose value must equal x-hasura-user-id.
    #[arg(long, env = "HASURA_SCOPING_METADATA_KEY", default_value = DEFAULT_METADATA_KEY, value_name = "KEY")]
    pub hasura_scoping_metadata_key: String,

    /// Hasura's HASURA_GRAPHQL_UNAUTHORIZED_ROLE, when it has one. Hasura takes the session
    /// variables of such a request from the caller's own headers, so a request in this role
    /// reads no Stripe customer and no list and runs no mutation, whatever x-hasura-user-id it
    /// claims. Must not be a trusted or writer role. Empty counts as unset.
    #[arg(long, env = "HASURA_UNAUTHORIZED_ROLE", value_name = "ROLE")]
    pub hasura_unauthorized_role: Option<String>,

    /// Hasura's GraphQL endpoint (e.g. http://hasura:8080/v1/graphql), for the profile
    /// write-back (ensureStripeCustomer, POST /hasura/events, lifecycle dates from webhooks).
    /// Empty counts as unset; needs HASURA_ADMIN_SECRET.
    #[arg(long, env = "HASURA_GRAPHQL_URL", value_name = "URL")]
    pub hasura_graphql_url: Option<String>,

    /// Hasura's admin secret, sent with a narrow x-hasura-role on every call. Empty counts as
    /// unset.
    #[arg(
        long,
        env = "HASURA_ADMIN_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub hasura_admin_secret: Option<SecretString>,

    /// The region (ISO 3166-1 alpha-2, e.g. US) of a profile's national phone number when the
    /// profile has no country, for the E.164 form duplicates are compared in. Empty counts as
    /// unset: such numbers then compare by their digits only.
    #[arg(long, env = "PHONE_DEFAULT_REGION", value_name = "REGION")]
    pub phone_default_region: Option<String>,
}

impl HasuraArgs {
    /// How requests naming a Hasura role are served, and who may write (the writer roles).
    pub fn roles(&self) -> Result<(ScopingSettings, Vec<String>), ConfigError> {
        let trusted_roles = word_list(
            "HASURA_TRUSTED_ROLES",
            &self.hasura_trusted_roles,
            DEFAULT_TRUSTED_ROLE,
        )?;
        let writer_roles = word_list(
            "HASURA_WRITER_ROLES",
            &self.hasura_writer_roles,
            DEFAULT_WRITER_ROLE,
        )?;
        let metadata_key = self.metadata_key()?;
        let unauthorized_role = word(
            "HASURA_UNAUTHORIZED_ROLE",
            self.hasura_unauthorized_role.as_deref().map(str::trim),
            Shown::Value,
            "",
        )?;
        if let Some(role) = unauthorized_role {
            for (name, roles) in [
                ("HASURA_TRUSTED_ROLES", &trusted_roles),
                ("HASURA_WRITER_ROLES", &writer_roles),
            ] {
                if roles.iter().any(|r| r == role) {
                    return Err(ConfigError(format!(
                        "HASURA_UNAUTHORIZED_ROLE `{role}` is also in {name}: Hasura takes that role's session from the caller's own headers, so it can never be trusted or write"
                    )));
                }
            }
        }
        let scoping = ScopingSettings {
            enabled: self.hasura_scoping == OnOff::On,
            trusted_roles,
            metadata_key,
            unauthorized_role: unauthorized_role.map(str::to_owned),
        };
        Ok((scoping, writer_roles))
    }

    /// `HASURA_SCOPING_METADATA_KEY`: a Stripe metadata key (1 to 40 characters, no
    /// whitespace, control characters or brackets).
    fn metadata_key(&self) -> Result<String, ConfigError> {
        let refused = || {
            ConfigError(format!(
                "HASURA_SCOPING_METADATA_KEY must be a Stripe metadata key: 1 to {MAX_METADATA_KEY_LEN} characters, without spaces, control characters or brackets"
            ))
        };
        let key = word(
            "HASURA_SCOPING_METADATA_KEY",
            Some(self.hasura_scoping_metadata_key.trim()),
            Shown::Value,
            "",
        )
        .map_err(|_| refused())?
        .ok_or_else(refused)?;
        if key.chars().count() > MAX_METADATA_KEY_LEN || key.contains(['[', ']']) {
            return Err(refused());
        }
        Ok(key.to_owned())
    }

    /// Where Hasura is: `HASURA_GRAPHQL_URL` and `HASURA_ADMIN_SECRET` both or neither (empty
    /// counts as unset), the URL http(s) with a host; and `PHONE_DEFAULT_REGION`, checked
    /// whether or not Hasura is configured, so a typo is found at once.
    pub fn client(&self) -> Result<Option<HasuraSettings>, ConfigError> {
        let url = self
            .hasura_graphql_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let secret = word(
            "HASURA_ADMIN_SECRET",
            self.hasura_admin_secret.as_ref().map(SecretString::expose),
            Shown::Secret,
            "",
        )?;
        let phone_default_region =
            phone::default_region_setting(self.phone_default_region.as_deref().map(str::trim))
                .map_err(|e| ConfigError(format!("PHONE_DEFAULT_REGION: {e}")))?;
        match (url, secret) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError(
                "HASURA_GRAPHQL_URL is set but HASURA_ADMIN_SECRET is not: the profile write-back needs both".into(),
            )),
            (None, Some(_)) => Err(ConfigError(
                "HASURA_ADMIN_SECRET is set but HASURA_GRAPHQL_URL is not: the profile write-back needs both".into(),
            )),
            (Some(raw), Some(secret)) => {
                let url = url::Url::parse(raw)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or_else(|| {
                        ConfigError(format!(
                            "HASURA_GRAPHQL_URL `{raw}` is not an http(s) URL (e.g. http://hasura:8080/v1/graphql)"
                        ))
                    })?;
                Ok(Some(HasuraSettings {
                    url,
                    admin_secret: SecretString::new(secret),
                    timeout: Duration::from_secs(10),
                    phone_default_region,
                }))
            }
        }
    }
}
