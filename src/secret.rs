//! [`SecretString`]: a secret (the Stripe key, the bearer token) that never shows in `Debug`
//! or `Display` output, so it cannot reach a log line or an error message by accident.

use std::fmt;

/// A secret that never shows in `Debug` output and has no `Display`.
///
/// The only way to read it is [`SecretString::expose`], called where the value is sent (the
/// `Authorization` header to Stripe) or digested (the bearer-token check), never where it is
/// shown.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        SecretString(secret.into())
    }

    /// The secret itself. Call it only where the value is sent, never where it is shown.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty or only whitespace (an unset environment variable is often
    /// set to the empty string).
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(redacted)")
    }
}

impl std::str::FromStr for SecretString {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretString(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_is_redacted() {
        let s = SecretString::new("sk_test_supersecret");
        assert_eq!(format!("{s:?}"), "SecretString(redacted)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(SecretString(redacted))");
    }

    #[test]
    fn blank_secrets_are_recognised() {
        assert!(SecretString::new("").is_blank());
        assert!(SecretString::new("  ").is_blank());
        assert!(!SecretString::new("x").is_blank());
    }
}
