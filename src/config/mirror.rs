//! The mirror of Stripe: `STRIPE_MIRROR`, `STRIPE_MIRROR_RECONCILE_SECONDS`.

use std::time::Duration;

use clap::Args;

use super::OnOff;
use crate::mirror::MirrorSettings;

/// Mirror settings.
#[derive(Debug, Args)]
#[command(next_help_heading = "Mirror")]
pub struct MirrorArgs {
    /// Keep a mirror of Stripe's customers (with their first page of subscriptions), prices,
    /// plans and products in memory, backfilled at start and kept exact by webhooks and the
    /// Events API: cold reads of mirrored objects cost no Stripe call. `/readyz` answers 503
    /// `MIRROR_WARMING` until the first backfill is complete.
    #[arg(long, env = "STRIPE_MIRROR", value_enum, ignore_case = true,
          default_value_t = OnOff::Off, value_name = "ON_OFF")]
    pub stripe_mirror: OnOff,

    /// Seconds between two readings of `GET /v1/events` that apply what webhooks missed
    /// (with `STRIPE_MIRROR=on`).
    #[arg(long, env = "STRIPE_MIRROR_RECONCILE_SECONDS", default_value_t = 60,
          value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub stripe_mirror_reconcile_seconds: u64,
}

impl MirrorArgs {
    /// `None` unless the mirror is on.
    pub fn settings(&self) -> Option<MirrorSettings> {
        (self.stripe_mirror == OnOff::On).then(|| MirrorSettings {
            reconcile_every: Duration::from_secs(self.stripe_mirror_reconcile_seconds),
        })
    }
}
