//! Stripe's webhook endpoint: `STRIPE_WEBHOOK_*`.

use std::time::Duration;

use clap::Args;

use super::{
    text::{word, Shown},
    ConfigError,
};
use crate::{events::WebhookSettings, secret::SecretString};

/// Webhook settings.
#[derive(Debug, Args)]
#[command(next_help_heading = "Stripe webhooks")]
pub struct WebhookArgs {
    /// Signing secret (whsec_…) of the Stripe webhook endpoint. When set, POST
    /// /webhooks/stripe accepts signed events and evicts what they make stale; unset, that
    /// route answers 404.
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub stripe_webhook_secret: Option<SecretString>,

    /// Seconds a webhook signature's timestamp may be from this server's clock, either way.
    #[arg(long, env = "STRIPE_WEBHOOK_TOLERANCE_SECONDS", default_value_t = 300,
          value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stripe_webhook_tolerance_seconds: u64,
}

impl WebhookArgs {
    /// The endpoint's settings; `None` (webhooks off) without a secret.
    pub fn settings(&self) -> Result<Option<WebhookSettings>, ConfigError> {
        let secret = word(
            "STRIPE_WEBHOOK_SECRET",
            self.stripe_webhook_secret
                .as_ref()
                .map(SecretString::expose),
            Shown::Secret,
            " (copy the signing secret whsec_… exactly)",
        )?;
        Ok(secret.map(|secret| WebhookSettings {
            secret: SecretString::new(secret),
            tolerance: Duration::from_secs(self.stripe_webhook_tolerance_seconds),
        }))
    }
}
