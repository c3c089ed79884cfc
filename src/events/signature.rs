//! The `Stripe-Signature` check: pure (no I/O, the clock is an argument).
//!
//! Guarantees:
//!
//! - **Only signed deliveries count.** [`verify`] accepts a body only when one of the header's
//!   `v1` signatures is the hex HMAC-SHA256 of `"{t}.{raw body}"` keyed with the endpoint's
//!   signing secret (its UTF-8 bytes, `whsec_` prefix included, as Stripe signs), compared in
//!   constant time, and `t` is within the tolerance of the server's clock (default 300 s,
//!   Stripe's own SDK default) **in either direction**: a timestamp too far in the future is
//!   refused like one too far in the past, so a clock that drifted either way shows up as
//!   refusals instead of a replay window that never closes. The signature is checked before
//!   the timestamp, so a "too old" refusal means the signature itself was right.
//! - No refusal carries the secret or the expected signature.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::SecretString;

/// The header Stripe signs deliveries with.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// How far a signature's timestamp may be from the server's clock, unless configured
/// (`STRIPE_WEBHOOK_TOLERANCE_SECONDS`): Stripe's SDKs use 300 s.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The webhook endpoint's settings (`STRIPE_WEBHOOK_SECRET`,
/// `STRIPE_WEBHOOK_TOLERANCE_SECONDS`). Without them `POST /webhooks/stripe` is disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The endpoint's signing secret (`whsec_…`), used as-is.
    pub secret: SecretString,
    /// Largest accepted distance between a signature's timestamp and the server's clock.
    pub tolerance: Duration,
}

/// Why a `Stripe-Signature` header was refused. No variant carries the secret or the
/// expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header (or an empty one).
    #[error("the Stripe-Signature header is missing")]
    Missing,
    /// The header is not `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`.
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    /// The header has a timestamp but no `v1` signature (only `v0` or unknown schemes).
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1,
    /// The signature is right, but its timestamp is older than the tolerance.
    #[error("the signature is {age_seconds} s old, beyond the {tolerance_seconds} s tolerance (a replayed delivery, or a clock that is off)")]
    TooOld {
        /// how old the timestamp is
        age_seconds: i64,
        /// the tolerance
        tolerance_seconds: u64,
    },
    /// The signature is right, but its timestamp is further in the future than the tolerance.
    #[error("the signature is dated {ahead_seconds} s in the future, beyond the {tolerance_seconds} s tolerance (a clock that is off)")]
    InFuture {
        /// how far ahead the timestamp is
        ahead_seconds: i64,
        /// the tolerance
        tolerance_seconds: u64,
    },
    /// No `v1` signature matches the body signed with the configured secret.
    #[error("no v1 signature matches the body signed with STRIPE_WEBHOOK_SECRET (a forged delivery, or another endpoint's secret)")]
    Mismatch,
}

type HmacSha256 = Hmac<Sha256>;

/// Checks a `Stripe-Signature` header value against the raw request `body`, as Stripe signs
/// it (see the module docs): `Ok` when one `v1` signature matches and its timestamp is
/// within `tolerance` of `now_unix`. `v0` and unknown schemes are ignored; several `v1`
/// entries (Stripe sends two while a secret is being rolled) are all compared, in constant
/// time, and any match is enough.
pub fn verify(
    header: &str,
    body: &[u8],
    secret: &SecretString,
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    if header.trim().is_empty() {
        return Err(SignatureError::Missing);
    }
    let mut timestamp: Option<&str> = None;
    let mut v1: Vec<&str> = Vec::new();
    for entry in header.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((scheme, value)) = entry.split_once('=') else {
            return Err(SignatureError::Malformed("an entry is not `key=value`"));
        };
        match scheme.trim() {
            "t" if timestamp.is_some() => {
                return Err(SignatureError::Malformed("more than one `t=` timestamp"))
            }
            "t" => timestamp = Some(value.trim()),
            "v1" => v1.push(value.trim()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no `t=` timestamp"))?;
    let signed_at = parse_timestamp(timestamp).ok_or(SignatureError::Malformed(
        "`t` is not a Unix time in seconds",
    ))?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1);
    }
    let presented = v1
        .iter()
        .map(|hex| decode_hex_32(hex))
        .collect::<Option<Vec<[u8; 32]>>>()
        .ok_or(SignatureError::Malformed(
            "a v1 signature is not 64 hexadecimal digits",
        ))?;

    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    // Every signature is compared (no early exit), each in constant time.
    let matched = presented.iter().fold(false, |any, sig| {
        any | mac.clone().verify_slice(sig).is_ok()
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }

    let tolerance_seconds = tolerance.as_secs();
    let limit = i64::try_from(tolerance_seconds).unwrap_or(i64::MAX);
    let age = now_unix.saturating_sub(signed_at);
    if age > limit {
        return Err(SignatureError::TooOld {
            age_seconds: age,
            tolerance_seconds,
        });
    }
    if age < -limit {
        return Err(SignatureError::InFuture {
            // `age` saturates at i64::MIN for a clock near i64::MIN: no negation overflow.
            ahead_seconds: age.saturating_neg(),
            tolerance_seconds,
        });
    }
    Ok(())
}

/// A Unix time in seconds: 1 to 18 ASCII digits (no sign, no spaces).
fn parse_timestamp(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// 64 hexadecimal digits (either case) as 32 bytes.
fn decode_hex_32(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        *byte = (high * 16 + low) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stripe_sandbox::webhooks::signature_header;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;
    /// `hmac.new(b"whsec_test_secret", b'1700000000.{"id":"evt_1"}', hashlib.sha256)
    /// .hexdigest()`, computed with Python's standard library.
    const KNOWN: &str = "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a";

    fn check(header: &str, body: &[u8]) -> Result<(), SignatureError> {
        verify(
            header,
            body,
            &SecretString::new(SECRET),
            NOW,
            DEFAULT_TOLERANCE,
        )
    }

    fn signed(t: i64) -> String {
        signature_header(SECRET, t, BODY)
    }

    #[test]
    fn a_signature_made_as_stripe_makes_it_is_accepted() {
        assert_eq!(check(&format!("t={NOW},v1={KNOWN}"), BODY), Ok(()));
        assert_eq!(signed(NOW), format!("t={NOW},v1={KNOWN}"));
        let upper = KNOWN.to_uppercase();
        assert_eq!(check(&format!("t={NOW}, v1={upper}"), BODY), Ok(()));
    }

    #[test]
    fn any_one_of_several_v1_signatures_is_enough() {
        let other = "0".repeat(64);
        assert_eq!(
            check(&format!("t={NOW},v1={other},v1={KNOWN},v0={other}"), BODY),
            Ok(())
        );
        assert_eq!(
            check(&format!("t={NOW},v1={KNOWN},v1={other}"), BODY),
            Ok(())
        );
    }

    #[test]
    fn v0_and_unknown_schemes_are_ignored() {
        assert_eq!(
            check(&format!("t={NOW},v0={KNOWN}"), BODY),
            Err(SignatureError::NoV1)
        );
        assert_eq!(
            check(&format!("t={NOW},v2={KNOWN},v1={KNOWN},x=y"), BODY),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_does_not_match() {
        assert_eq!(
            check(&signed(NOW), br#"{"id":"evt_2"}"#),
            Err(SignatureError::Mismatch)
        );
        // Re-serialised JSON is another body, too.
        assert_eq!(
            check(&signed(NOW), br#"{ "id": "evt_1" }"#),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn another_secret_does_not_match() {
        let header = signature_header("whsec_another_secret", NOW, BODY);
        assert_eq!(check(&header, BODY), Err(SignatureError::Mismatch));
        // The secret is used as-is: its `whsec_` prefix is part of the key.
        let header = signature_header("test_secret", NOW, BODY);
        assert_eq!(check(&header, BODY), Err(SignatureError::Mismatch));
    }

    #[test]
    fn the_timestamp_is_part_of_what_is_signed() {
        let moved = format!("t={},v1={KNOWN}", NOW + 1);
        assert_eq!(check(&moved, BODY), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_timestamp_beyond_the_tolerance_either_way_is_refused() {
        assert_eq!(check(&signed(NOW - 300), BODY), Ok(()));
        assert_eq!(check(&signed(NOW + 300), BODY), Ok(()));
        assert_eq!(
            check(&signed(NOW - 301), BODY),
            Err(SignatureError::TooOld {
                age_seconds: 301,
                tolerance_seconds: 300
            })
        );
        assert_eq!(
            check(&signed(NOW + 301), BODY),
            Err(SignatureError::InFuture {
                ahead_seconds: 301,
                tolerance_seconds: 300
            })
        );
        let wide = verify(
            &signed(NOW - 1000),
            BODY,
            &SecretString::new(SECRET),
            NOW,
            Duration::from_secs(1000),
        );
        assert_eq!(wide, Ok(()));
    }

    #[test]
    fn an_extreme_clock_is_refused_without_overflowing() {
        // Found by the property `the_timestamp_decision_holds_for_any_clock`: the distance
        // saturated at i64::MIN and its negation overflowed.
        let header = signed(NOW);
        let at_minimum = verify(
            &header,
            BODY,
            &SecretString::new(SECRET),
            i64::MIN,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(
            at_minimum,
            Err(SignatureError::InFuture {
                ahead_seconds: i64::MAX,
                tolerance_seconds: 300
            })
        );
        let at_maximum = verify(
            &header,
            BODY,
            &SecretString::new(SECRET),
            i64::MAX,
            Duration::from_secs(u64::MAX),
        );
        assert_eq!(
            at_maximum,
            Ok(()),
            "a tolerance beyond i64 covers every clock"
        );
    }

    #[test]
    fn a_forged_signature_is_refused_as_forged_even_when_old() {
        let header = signature_header("whsec_forger", NOW - 10_000, BODY);
        assert_eq!(check(&header, BODY), Err(SignatureError::Mismatch));
    }

    #[test]
    fn malformed_headers_are_refused_with_the_reason() {
        assert_eq!(check("", BODY), Err(SignatureError::Missing));
        assert_eq!(check("   ", BODY), Err(SignatureError::Missing));
        for header in [
            format!("v1={KNOWN}"),
            format!("t=,v1={KNOWN}"),
            format!("t=-5,v1={KNOWN}"),
            format!("t=12a,v1={KNOWN}"),
            format!("t=1234567890123456789,v1={KNOWN}"),
            format!("t={NOW},t={NOW},v1={KNOWN}"),
            format!("t={NOW};v1={KNOWN}"),
            format!("t={NOW},{KNOWN}"),
            "garbage".to_owned(),
        ] {
            assert!(
                matches!(check(&header, BODY), Err(SignatureError::Malformed(_))),
                "{header}"
            );
        }
        assert_eq!(check(&format!("t={NOW}"), BODY), Err(SignatureError::NoV1));
    }

    #[test]
    fn a_v1_signature_that_is_not_64_hex_digits_is_malformed() {
        let non_hex = format!("{}zz", &KNOWN[..62]);
        for bad in [non_hex.as_str(), &KNOWN[..62], "", "é"] {
            assert_eq!(
                check(&format!("t={NOW},v1={bad}"), BODY),
                Err(SignatureError::Malformed(
                    "a v1 signature is not 64 hexadecimal digits"
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn refusals_never_show_the_secret_or_the_expected_signature() {
        for header in [
            signature_header("whsec_forger", NOW, BODY),
            signed(NOW - 1000),
            "t=1".to_owned(),
        ] {
            let error = check(&header, BODY).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(!shown.contains(KNOWN), "{shown}");
        }
    }
}

/// Properties of [`verify`] over generated bodies, secrets, clocks and headers (256 cases
/// each): a delivery signed as Stripe signs it is accepted exactly within the tolerance, any
/// change to what is signed is refused as a mismatch, and no header value panics.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use stripe_sandbox::webhooks::signature_header;

    fn secret() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "whsec_[A-Za-z0-9]{1,40}",
            1 => any::<String>(),
        ]
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 1..512)
    }

    /// A plausible server clock (1970 to 2096) and a tolerance as configured (1–3600 s).
    fn clock() -> impl Strategy<Value = (i64, u64)> {
        (0i64..4_000_000_000, 1u64..=3600)
    }

    fn check(
        header: &str,
        body: &[u8],
        secret: &str,
        now: i64,
        tolerance: u64,
    ) -> Result<(), SignatureError> {
        verify(
            header,
            body,
            &SecretString::new(secret),
            now,
            Duration::from_secs(tolerance),
        )
    }

    /// The header's `v1` value, with the hexadecimal digit at `index` replaced by another
    /// digit of a different value (`a` → `A` would be the same signature).
    fn with_other_digit(header: &str, index: usize, step: u32) -> String {
        let (head, hex) = header.split_once(",v1=").unwrap();
        let mut digits: Vec<char> = hex.chars().collect();
        let old = digits[index].to_digit(16).unwrap();
        digits[index] = char::from_digit((old + step) % 16, 16).unwrap();
        format!("{head},v1={}", digits.into_iter().collect::<String>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_delivery_signed_within_the_tolerance_is_accepted(
            body in body(),
            secret in secret(),
            (now, tolerance) in clock(),
            skew in -3600i64..=3600,
        ) {
            let skew = skew.clamp(-(tolerance as i64), tolerance as i64);
            let header = signature_header(&secret, (now + skew).max(0), &body);
            prop_assert_eq!(check(&header, &body, &secret, now, tolerance), Ok(()));
        }

        #[test]
        fn any_changed_byte_of_the_body_is_a_mismatch(
            body in body(),
            secret in secret(),
            (now, tolerance) in clock(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let header = signature_header(&secret, now, &body);
            let mut changed = body.clone();
            changed[at.index(body.len())] ^= flip;
            prop_assert_eq!(check(&header, &changed, &secret, now, tolerance), Err(SignatureError::Mismatch));
        }

        #[test]
        fn any_changed_digit_of_the_signature_is_a_mismatch_and_a_non_digit_is_malformed(
            body in body(),
            secret in secret(),
            (now, tolerance) in clock(),
            at in 0usize..64,
            step in 1u32..16,
            junk in any::<char>().prop_filter("not a hex digit, separator or space", |c| {
                !c.is_ascii_hexdigit() && *c != ',' && !c.is_whitespace()
            }),
        ) {
            let header = signature_header(&secret, now, &body);
            let other = with_other_digit(&header, at, step);
            prop_assert_eq!(check(&other, &body, &secret, now, tolerance), Err(SignatureError::Mismatch));

            let (head, hex) = header.split_once(",v1=").unwrap();
            let mut digits: Vec<char> = hex.chars().collect();
            digits[at] = junk;
            let broken = format!("{head},v1={}", digits.into_iter().collect::<String>());
            prop_assert!(
                matches!(check(&broken, &body, &secret, now, tolerance), Err(SignatureError::Malformed(_))),
                "{:?}", broken
            );
        }

        #[test]
        fn a_signature_made_with_any_other_secret_is_a_mismatch(
            body in body(),
            secret in secret(),
            (now, tolerance) in clock(),
            at in any::<prop::sample::Index>(),
            other in any::<char>(),
        ) {
            let mut chars: Vec<char> = secret.chars().collect();
            prop_assume!(!chars.is_empty());
            let at = at.index(chars.len());
            prop_assume!(chars[at] != other);
            chars[at] = other;
            let forger: String = chars.into_iter().collect();
            let header = signature_header(&forger, now, &body);
            prop_assert_eq!(check(&header, &body, &secret, now, tolerance), Err(SignatureError::Mismatch));
        }

        #[test]
        fn a_timestamp_beyond_the_tolerance_is_refused_with_how_far_it_is(
            body in body(),
            secret in secret(),
            (now, tolerance) in clock(),
            beyond in 1i64..1_000_000_000,
        ) {
            let limit = tolerance as i64;
            let old = signature_header(&secret, now - limit - beyond, &body);
            if now - limit - beyond >= 0 {
                prop_assert_eq!(
                    check(&old, &body, &secret, now, tolerance),
                    Err(SignatureError::TooOld { age_seconds: limit + beyond, tolerance_seconds: tolerance })
                );
            }
            let ahead = signature_header(&secret, now + limit + beyond, &body);
            prop_assert_eq!(
                check(&ahead, &body, &secret, now, tolerance),
                Err(SignatureError::InFuture { ahead_seconds: limit + beyond, tolerance_seconds: tolerance })
            );
        }

        #[test]
        fn the_timestamp_decision_holds_for_any_clock(
            body in body(),
            signed_at in 0i64..=999_999_999_999_999_999,
            now in any::<i64>(),
            tolerance in any::<u64>(),
        ) {
            let header = signature_header("whsec_k", signed_at, &body);
            let result = check(&header, &body, "whsec_k", now, tolerance);
            let distance = (i128::from(now) - i128::from(signed_at)).abs();
            let limit = i128::from(tolerance.min(i64::MAX as u64));
            if distance <= limit {
                prop_assert_eq!(result, Ok(()));
            } else {
                prop_assert!(
                    matches!(result, Err(SignatureError::TooOld { .. } | SignatureError::InFuture { .. })),
                    "{:?}", result
                );
            }
        }

        #[test]
        fn no_header_value_panics_or_verifies_by_chance(
            header in prop_oneof![
                any::<String>(),
                "((t|v1|v0| t |x)?=?[0-9a-fA-F, =;-]{0,70}){0,4}",
            ],
            body in body(),
            now in any::<i64>(),
            tolerance in any::<u64>(),
        ) {
            prop_assert!(check(&header, &body, "whsec_k", now, tolerance).is_err());
        }
    }
}
