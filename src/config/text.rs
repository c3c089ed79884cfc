//! The one check every free-text setting passes (keys, tokens, secrets, role names, metadata
//! keys): empty counts as unset, and a value may hold no whitespace or control characters.
//!
//! Empty means unset because docker-compose passes an unset variable as `${VAR:-}`, the empty
//! string. A value with a space, a tab or a line break inside is refused, never trimmed: it
//! is almost always a copy-paste accident (a secret with a trailing newline), and a secret
//! that silently differs from the one the other side holds fails later and obscurely.

use super::ConfigError;

/// How a refused value may be shown in the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// The value may appear in the message (a role name, a metadata key).
    Value,
    /// The value never appears (a key, a token, a secret).
    Secret,
}

/// The setting `name` as given: `Ok(None)` when unset or empty, the value when it holds no
/// whitespace or control characters, else one line naming the setting (and, for a
/// [`Shown::Value`], the value). `hint` ends the message when it is refused.
pub fn word<'a>(
    name: &str,
    raw: Option<&'a str>,
    shown: Shown,
    hint: &str,
) -> Result<Option<&'a str>, ConfigError> {
    let Some(value) = raw.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        let what = match shown {
            Shown::Value => format!(" (`{}`)", value.escape_debug()),
            Shown::Secret => String::new(),
        };
        return Err(ConfigError(format!(
            "{name}{what} must not contain whitespace or control characters{hint}"
        )));
    }
    Ok(Some(value))
}

/// A comma-separated list of words from the setting `name` (spaces around the commas are
/// allowed, empty entries skipped), each passing [`word`]; an empty list means `default`, as
/// an empty variable means unset.
pub fn word_list(name: &str, raw: &str, default: &str) -> Result<Vec<String>, ConfigError> {
    let mut words = Vec::new();
    for entry in raw.split(',').map(str::trim) {
        if let Some(entry) = word(
            name,
            Some(entry),
            Shown::Value,
            "; separate entries with commas",
        )? {
            words.push(entry.to_owned());
        }
    }
    if words.is_empty() {
        words.push(default.to_owned());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unset_and_any_whitespace_or_control_character_is_refused() {
        assert_eq!(word("X", None, Shown::Value, ""), Ok(None));
        assert_eq!(word("X", Some(""), Shown::Value, ""), Ok(None));
        assert_eq!(
            word("X", Some("abc_1"), Shown::Value, ""),
            Ok(Some("abc_1"))
        );
        for bad in [" ", "a b", "abc\n", "\tabc", "a\u{7}b", "a\u{a0}b"] {
            let err = word("X", Some(bad), Shown::Value, "!").unwrap_err().0;
            assert!(err.starts_with("X (`"), "{bad:?}: {err}");
            assert!(err.ends_with("characters!"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_refused_secret_is_never_shown() {
        let err = word("SECRET", Some("hush hush"), Shown::Secret, "")
            .unwrap_err()
            .0;
        assert_eq!(
            err,
            "SECRET must not contain whitespace or control characters"
        );
    }

    #[test]
    fn lists_split_on_commas_skip_empty_entries_and_default_when_empty() {
        assert_eq!(
            word_list("R", " admin, backoffice ,,", "x").unwrap(),
            ["admin", "backoffice"]
        );
        assert_eq!(word_list("R", "", "admin").unwrap(), ["admin"]);
        assert_eq!(word_list("R", " , ", "admin").unwrap(), ["admin"]);
        let err = word_list("R", "admin,back office", "x").unwrap_err().0;
        assert!(err.starts_with("R (`back office`)"), "{err}");
    }
}
