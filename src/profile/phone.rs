//! Phone numbers as E.164 (`+14155550101`), the form duplicate detection compares.
//!
//! `customers.phone` is free text as the customer typed it: `+1 (415) 555-0101`,
//! `415-555-0101`, `0049 30 1234567`, `030 1234567`. Two of those name one number only under a
//! country's dialling rules (its national prefix, its international call prefix, its number
//! lengths), which the database cannot know. This module applies them with the `phonenumber`
//! crate, a Rust port of Google's libphonenumber with its metadata (the version after the `+`
//! in the crate's version, e.g. `0.3.10+9.0.33`), and the server writes the result to
//! `customers.phone_e164`, which the `customer_duplicates` view compares (hasura/README.md,
//! "Profiles, Stripe sync and duplicates").
//!
//! What [`e164`] guarantees:
//!
//! * **`Some` only for a valid number**: libphonenumber's `is_valid`, i.e. the digits fall in a
//!   range the country's numbering plan assigns (fixed line, mobile, toll free, …), not merely
//!   a number of a possible length. "Possible" is only a length check: `000-000-0000`,
//!   `123-456-7890` or a 10-digit typo would all become "numbers" on a US profile, and every
//!   profile carrying one placeholder would be reported as a duplicate of every other. A valid
//!   number that the metadata does not know yet (a range allocated after the crate's metadata)
//!   gets `None`, and the view then falls back to `normalize_phone(phone)`, the comparison used
//!   before E.164 existed: a missed duplicate, never a false one.
//! * **The result always matches `^\+[1-9][0-9]{6,14}$`** (the `CHECK` on
//!   `customers.phone_e164`): E.164 is at most 15 digits with the country code, which never
//!   starts with 0; anything else is `None`.
//! * **The region only reads national numbers.** A number written with `+`, with the region's
//!   own international call prefix (`011` from the US, `0011` from Australia, `010` from Japan),
//!   or with `00` (the ITU's recommended prefix, used by most of the world) is read as
//!   international whatever the region: a `+44` number on a US profile stays `+44`. `00` is
//!   tried after the region's own reading, so a region where `00…` is a national number keeps
//!   it when that is valid there.
//! * **Which region**: the profile's `country` (ISO 3166-1 alpha-2, as `customers.country`
//!   holds it, upper case; lower case is accepted too) when it has one, else the server's
//!   default region (`PHONE_DEFAULT_REGION`, parsed once by [`default_region_setting`]). A
//!   profile whose country libphonenumber does not know (e.g. `AQ`) reads no national number:
//!   the default region is not used for it, since the profile says the customer is elsewhere.
//! * **`None`** for an empty or blank value, text that holds no number (`n/a`, `call me`), too
//!   few or too many digits, a national number without a usable region, an unknown country
//!   calling code, and numbers that are not valid (above).
//! * **Extensions are dropped** (`415-555-0101 ext. 23` is `+14155550101`): E.164 has none,
//!   and one line with two extensions is one subscriber for duplicate detection.
//! * **Letters on a keypad are digits** (libphonenumber's rule for vanity numbers):
//!   `1-800-FLOWERS` is `+18003569377`. Full-width digits (`４１５…`, as Japanese input
//!   methods type them) are read as digits.
//! * Never panics: a panic of the parser (it had some on crafted input, fixed since) is `None`;
//!   the property tests below found none.
//!
//! The module uses nothing else of this crate, so it can move with the code that calls it.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber};

/// A region libphonenumber has dialling rules for: an ISO 3166-1 alpha-2 code (plus the few
/// non-ISO ones libphonenumber uses, `AC` Ascension, `TA` Tristan da Cunha, `XK` Kosovo).
/// The only way to build one is [`Region::parse`] (or `str::parse`), which checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region(Id);

impl Region {
    /// `code` as a region: two ASCII letters, either case, that libphonenumber knows.
    /// No white space is trimmed.
    pub fn parse(code: &str) -> Result<Region, InvalidRegion> {
        let invalid = || InvalidRegion {
            value: code.to_owned(),
        };
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(invalid());
        }
        let upper = code.to_ascii_uppercase();
        let id = Id::from_str(&upper).map_err(|_| invalid())?;
        // The parser unwraps the region's metadata: only regions that have some are Regions.
        if DATABASE.by_id(id.as_ref()).is_none() {
            return Err(invalid());
        }
        Ok(Region(id))
    }

    /// The upper-case code, e.g. `"US"`.
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }
}

impl FromStr for Region {
    type Err = InvalidRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not a region libphonenumber knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRegion {
    value: String,
}

impl InvalidRegion {
    /// The value as given.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for InvalidRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a region libphonenumber knows: expected an ISO 3166-1 alpha-2 country code such as US, GB or DE",
            self.value
        )
    }
}

impl std::error::Error for InvalidRegion {}

/// The `PHONE_DEFAULT_REGION` setting: unset or empty (what `${PHONE_DEFAULT_REGION:-}` in
/// docker-compose.yml passes) is no default region, anything else must be a [`Region`]. For
/// the configuration to call once at startup, so that a typo stops the server instead of
/// leaving every national number without a region.
pub fn default_region_setting(value: Option<&str>) -> Result<Option<Region>, InvalidRegion> {
    match value {
        None | Some("") => Ok(None),
        Some(code) => Region::parse(code).map(Some),
    }
}

/// `raw` as an E.164 number (`+14155550101`), or `None` when it is not a valid number; see
/// the module documentation for the exact guarantees.
///
/// `country` is the profile's `customers.country` (ISO alpha-2; `None` or blank when the
/// profile has none) and `default_region` the server's `PHONE_DEFAULT_REGION`; they only
/// matter for a number written in national form.
pub fn e164(raw: &str, country: Option<&str>, default_region: Option<Region>) -> Option<String> {
    // The parser has had panics on crafted input (GHSA-whhr-7f2w-qqj2, GHSA-mjw4-jj88-v687,
    // fixed in this version; the property tests below find none); a value a customer typed
    // must never take down the event handler that calls this, so a panic is `None`.
    std::panic::catch_unwind(|| read(raw, country, default_region)).unwrap_or(None)
}

fn read(raw: &str, country: Option<&str>, default_region: Option<Region>) -> Option<String> {
    let text = ascii_digits(raw.trim());
    if text.is_empty() {
        return None;
    }
    let region = match country.map(str::trim).filter(|c| !c.is_empty()) {
        // A country libphonenumber does not know: no region (not the default one).
        Some(code) => Region::parse(code).ok(),
        None => default_region,
    }
    .map(|r| r.0);
    // 1. Written internationally (`+…`, `tel:+…`): the region plays no part.
    // 2. As libphonenumber reads it for the region: its national prefix and its own
    //    international call prefix (`011` from the US).
    // 3. A leading `00` as the international prefix, for regions that dial another one.
    // 4. The region's calling code before the number with its national prefix removed, for
    //    national numbers the parser misreads (see `national_as_international`).
    international(&text)
        .or_else(|| region.and_then(|region| valid_e164(Some(region), &text)))
        .or_else(|| {
            without_leading_punctuation(&text)
                .strip_prefix("00")
                .and_then(|rest| international(&format!("+{rest}")))
        })
        .or_else(|| region.and_then(|region| national_as_international(region, &text)))
}

/// `text` if it is written as an international number: libphonenumber's reading, else the
/// literal one (calling code, then every digit as written). The `phonenumber` crate strips a
/// country's national prefix from the digits after the calling code when they start with it,
/// which turns `+7 800 123-45-67` (Russia's national prefix is 8) into an invalid number; the
/// literal reading, made with a region that has no national prefix, is then the right one.
/// Only a valid result counts, so a `+49 (0)30 …` still needs the first reading.
fn international(text: &str) -> Option<String> {
    // Without a region, libphonenumber accepts only internationally written numbers.
    phonenumber::parse(None, text).ok()?;
    valid_e164(None, text)
        .or_else(|| (*NO_NATIONAL_PREFIX).and_then(|plain| valid_e164(Some(plain), text)))
}

/// A national number that libphonenumber's reading for `region` left invalid, rewritten as
/// `+<calling code> <number without its national prefix>` (or, failing that, with all its
/// digits) and read as international. The `phonenumber` crate strips the national prefix
/// twice in some regions (`8 800 123-45-67` in Russia) and reads numbers starting with the
/// calling code's digits as carrying it (`0590 20 12 34` in Guadeloupe, calling code 590);
/// this reading does neither. Only a valid result counts.
fn national_as_international(region: Id, text: &str) -> Option<String> {
    let meta = DATABASE.by_id(region.as_ref())?;
    let rest = without_leading_punctuation(text);
    if rest.starts_with('+') {
        return None;
    }
    let code = meta.country_code();
    // Without the national prefix, then (for a number whose digits start like the prefix,
    // `800 123-45-67` in Russia) as written.
    meta.national_prefix()
        .and_then(|prefix| rest.strip_prefix(prefix))
        .and_then(|national| international(&format!("+{code} {national}")))
        .or_else(|| international(&format!("+{code} {rest}")))
}

/// A region without a national prefix, whose rules therefore leave the digits of an
/// international number as they are (found in the metadata rather than named, so a metadata
/// update cannot silently change it).
static NO_NATIONAL_PREFIX: LazyLock<Option<Id>> = LazyLock::new(|| {
    let mut plain: Vec<&str> = DATABASE
        .iter()
        .filter(|m| m.national_prefix().is_none() && m.national_prefix_for_parsing().is_none())
        .map(|m| m.id())
        .collect();
    plain.sort_unstable();
    plain.into_iter().find_map(|id| Id::from_str(id).ok())
});

fn without_leading_punctuation(text: &str) -> &str {
    text.trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '+')
}

fn valid_e164(region: Option<Id>, text: &str) -> Option<String> {
    let number: PhoneNumber = phonenumber::parse(region, text).ok()?;
    if !number.is_valid() {
        return None;
    }
    let formatted = number.format().mode(Mode::E164).to_string();
    e164_shaped(&formatted).then_some(formatted)
}

/// `^\+[1-9][0-9]{6,14}$`, the CHECK on customers.phone_e164.
fn e164_shaped(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Full-width digits and plus sign (U+FF10–U+FF19, U+FF0B) as ASCII; everything else as is.
fn ascii_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
            '\u{FF0B}' => '+',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    /// e164 with the profile's country and no default region.
    fn on(country: &str, raw: &str) -> Option<String> {
        e164(raw, Some(country), None)
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn the_two_us_spellings_of_one_number_are_one_number() {
        assert_eq!(on("US", "+1 (415) 555-0101"), some("+14155550101"));
        assert_eq!(on("US", "415-555-0101"), some("+14155550101"));
        assert_eq!(on("US", "(415) 555 0101"), some("+14155550101"));
        assert_eq!(on("US", "1 415 555 0101"), some("+14155550101"));
        assert_eq!(on("US", "415.555.0101"), some("+14155550101"));
        assert_eq!(on("US", "tel:+1-415-555-0101"), some("+14155550101"));
        assert_eq!(on("CA", "416-555-0199"), some("+14165550199"));
    }

    #[test]
    fn national_numbers_of_several_countries() {
        for (country, raw, expected) in [
            ("GB", "020 7946 0958", "+442079460958"),
            ("GB", "07911 123456", "+447911123456"),
            ("DE", "030 1234567", "+49301234567"),
            ("DE", "(030) 123-45-67", "+49301234567"),
            ("DE", "0151 23456789", "+4915123456789"),
            ("FR", "01 42 68 53 00", "+33142685300"),
            ("FR", "06 12 34 56 78", "+33612345678"),
            ("IN", "098765 43210", "+919876543210"),
            ("IN", "98765 43210", "+919876543210"),
            ("BR", "(11) 91234-5678", "+5511912345678"),
            ("BR", "(11) 3123-4567", "+551131234567"),
            ("JP", "03-1234-5678", "+81312345678"),
            ("JP", "090-1234-5678", "+819012345678"),
            // Italy keeps the leading 0 of its area codes in international form.
            ("IT", "06 1234 5678", "+390612345678"),
            // Trunk prefixes other than 0, and numbers starting with the calling code's digits.
            ("RU", "8 (800) 123-45-67", "+78001234567"),
            ("RU", "8 912 345-67-89", "+79123456789"),
            ("GP", "0590 20 12 34", "+590590201234"),
        ] {
            assert_eq!(
                on(country, raw),
                some(expected),
                "{raw} on a {country} profile"
            );
        }
    }

    #[test]
    fn international_forms_ignore_the_region() {
        for country in ["US", "GB", "DE", "FR", "IN", "BR", "JP"] {
            assert_eq!(
                on(country, "+44 20 7946 0958"),
                some("+442079460958"),
                "{country}"
            );
            assert_eq!(
                on(country, "+49 (0)30 123-45-67"),
                some("+49301234567"),
                "{country}"
            );
            assert_eq!(
                on(country, "0033 1 42 68 53 00"),
                some("+33142685300"),
                "{country}"
            );
        }
        assert_eq!(e164("+81 3-1234-5678", None, None), some("+81312345678"));
        assert_eq!(e164("0049 30 1234567", None, None), some("+49301234567"));
    }

    #[test]
    fn a_mismatched_country_does_not_rewrite_an_international_number() {
        assert_eq!(on("US", "+44 7911 123456"), some("+447911123456"));
        assert_eq!(on("US", "0044 7911 123456"), some("+447911123456"));
        assert_eq!(on("JP", "+1 415 555 0101"), some("+14155550101"));
        // A UK national number on a US profile is not a US number, and is not guessed.
        assert_eq!(on("US", "020 7946 0958"), None);
    }

    #[test]
    fn the_regions_own_international_prefix() {
        assert_eq!(on("US", "011 44 20 7946 0958"), some("+442079460958"));
        assert_eq!(on("AU", "0011 44 20 7946 0958"), some("+442079460958"));
        assert_eq!(on("JP", "010 44 20 7946 0958"), some("+442079460958"));
        // 00 works from regions that dial something else, too.
        assert_eq!(on("AU", "0044 20 7946 0958"), some("+442079460958"));
        assert_eq!(on("US", "(0049) 30 1234567"), some("+49301234567"));
    }

    #[test]
    fn the_default_region_reads_national_numbers_of_profiles_without_a_country() {
        assert_eq!(
            e164("415-555-0101", None, Some(r("US"))),
            some("+14155550101")
        );
        assert_eq!(
            e164("030 1234567", None, Some(r("DE"))),
            some("+49301234567")
        );
        assert_eq!(
            e164("415-555-0101", Some("  "), Some(r("US"))),
            some("+14155550101")
        );
        // The profile's country wins over the default region.
        assert_eq!(
            e164("030 1234567", Some("DE"), Some(r("US"))),
            some("+49301234567")
        );
        // ... even where the digits would be another country's number: on a German profile,
        // 415-555-0101 is a German number (area code 04155).
        assert_eq!(
            e164("415-555-0101", Some("DE"), Some(r("US"))),
            some("+494155550101")
        );
        // International numbers need neither.
        assert_eq!(
            e164("+44 20 7946 0958", None, Some(r("US"))),
            some("+442079460958")
        );
    }

    #[test]
    fn a_national_number_without_a_usable_region_is_none() {
        assert_eq!(e164("415-555-0101", None, None), None);
        assert_eq!(e164("030 1234567", None, None), None);
        // A country libphonenumber does not know (Antarctica) or an invalid value: no region,
        // and no fallback to the default region either.
        assert_eq!(e164("415-555-0101", Some("AQ"), Some(r("US"))), None);
        assert_eq!(e164("415-555-0101", Some("USA"), Some(r("US"))), None);
        assert_eq!(
            e164("+1 415 555 0101", Some("AQ"), None),
            some("+14155550101")
        );
    }

    #[test]
    fn lower_case_countries_are_accepted() {
        assert_eq!(on("us", "415-555-0101"), some("+14155550101"));
        assert_eq!(on("gb", "020 7946 0958"), some("+442079460958"));
    }

    #[test]
    fn garbage_is_none() {
        for raw in [
            "",
            "   ",
            "n/a",
            "none",
            "call me",
            "-",
            "+",
            "()",
            "12",
            "12345",
            "0",
            "000-000-0000",
            "+999 123456789",
            "+1 415 555 0101 415 555 0101",
            "+0 415 555 0101",
        ] {
            assert_eq!(on("US", raw), None, "{raw:?}");
            assert_eq!(e164(raw, None, None), None, "{raw:?}");
        }
    }

    #[test]
    fn possible_but_not_valid_is_none() {
        // Right length, no such range: placeholders and typos, and Ofcom's range for drama.
        assert_eq!(on("US", "555-555-5555"), None);
        assert_eq!(on("US", "123-456-7890"), None);
        assert_eq!(on("US", "123-4567"), None);
        assert_eq!(on("GB", "07700 900123"), None);
        assert_eq!(on("DE", "+49 30 12"), None);
    }

    #[test]
    fn vanity_numbers_and_extensions() {
        assert_eq!(on("US", "1-800-FLOWERS"), some("+18003569377"));
        assert_eq!(on("US", "1-800-356-9377"), some("+18003569377"));
        assert_eq!(on("US", "415-555-0101 ext. 23"), some("+14155550101"));
        assert_eq!(on("US", "+1 415 555 0101 x5"), some("+14155550101"));
    }

    #[test]
    fn full_width_digits() {
        assert_eq!(on("JP", "０３－１２３４－５６７８"), some("+81312345678"));
        assert_eq!(
            on("US", "＋１ ４１５ ５５５ ０１０１"),
            some("+14155550101")
        );
    }

    #[test]
    fn a_region_without_national_prefix_exists_for_literal_readings() {
        let plain = (*NO_NATIONAL_PREFIX).expect("a region without a national prefix");
        let meta = DATABASE.by_id(plain.as_ref()).unwrap();
        assert!(meta.national_prefix().is_none() && meta.national_prefix_for_parsing().is_none());
        // What it is for: the parser strips Russia's 8 after +7 on its own.
        assert_eq!(e164("+7 800 123-45-67", None, None), some("+78001234567"));
    }

    #[test]
    fn the_suites_view_examples() {
        // The phone_e164 values tests/hasura/test_phone_e164.py and test_profiles_metadata.py
        // give their profiles, as the server would set them: keep the lists equal.
        for (phone, country, expected) in [
            ("+1 (415) 555-0101", "US", "+14155550101"),
            ("415-555-0101", "US", "+14155550101"),
            ("207 946 0958", "GB", "+442079460958"),
            ("207-946-0958", "US", "+12079460958"),
            ("030 1234567", "DE", "+49301234567"),
            ("+49 30 1234567", "FR", "+49301234567"),
            ("03-1234-5678", "JP", "+81312345678"),
            ("098765 43210", "IN", "+919876543210"),
            ("+44 20 7946 0958", "US", "+442079460958"),
        ] {
            assert_eq!(
                on(country, phone),
                some(expected),
                "{phone} on a {country} profile"
            );
        }
        assert_eq!(
            e164("020 7946 0958", None, Some(r("GB"))),
            some("+442079460958")
        );
        assert_eq!(on("US", "555-555-5555"), None);
    }

    #[test]
    fn region_parse() {
        assert_eq!(r("US").as_str(), "US");
        assert_eq!(r("gb").to_string(), "GB");
        assert_eq!("DE".parse::<Region>(), Ok(r("DE")));
        for bad in ["", "U", "USA", " US", "US ", "U1", "ZZ", "AQ", "001", "ÜS"] {
            let err = Region::parse(bad).unwrap_err();
            assert_eq!(err.value(), bad);
            assert!(err.to_string().contains("ISO 3166-1 alpha-2"), "{err}");
        }
    }

    #[test]
    fn default_region_setting_values() {
        assert_eq!(default_region_setting(None), Ok(None));
        assert_eq!(default_region_setting(Some("")), Ok(None));
        assert_eq!(default_region_setting(Some("US")), Ok(Some(r("US"))));
        assert_eq!(default_region_setting(Some("fr")), Ok(Some(r("FR"))));
        assert!(
            default_region_setting(Some("UK")).is_err(),
            "the UK is GB in ISO 3166"
        );
        assert!(default_region_setting(Some(" ")).is_err());
        assert!(default_region_setting(Some("EU")).is_err());
    }

    #[test]
    fn every_region_has_rules_and_their_example_numbers_fit_the_check() {
        // Every region libphonenumber lists parses as a Region, and each example number of its
        // metadata (one per type, a national significant number) written as `+<code><number>`
        // is valid, E.164-shaped, and reads back as itself on a profile of that region and on
        // one of another region.
        let mut regions = 0;
        let mut failures = Vec::new();
        let mut nat_failures = Vec::new();
        for meta in DATABASE.iter() {
            let Ok(region) = Region::parse(meta.id()) else {
                // Non-geographic entities (+800, +979, …) have the id "001".
                assert_eq!(meta.id(), "001");
                continue;
            };
            regions += 1;
            let d = meta.descriptors();
            let examples = [d.fixed_line(), d.mobile(), d.toll_free(), d.voip()]
                .into_iter()
                .flatten()
                .filter_map(|desc| desc.example());
            for nsn in examples {
                let written = format!("+{}{nsn}", meta.country_code());
                let ours = e164(&written, Some(region.as_str()), None);
                let other = e164(&written, Some("JP"), Some(r("US")));
                if ours.as_deref() != Some(written.as_str()) || other != ours {
                    failures.push(format!("{region}: {written} -> {ours:?} / {other:?}"));
                }
                assert!(e164_shaped(&written), "{region}: {written}");
                // National forms: the number alone, and after the national prefix.
                let mut national = vec![nsn.to_owned()];
                if let Some(prefix) = meta.national_prefix() {
                    national.push(format!("{prefix} {nsn}"));
                }
                for n in national {
                    let got = e164(&n, Some(region.as_str()), None);
                    if got.as_deref() != Some(written.as_str()) {
                        nat_failures.push(format!("{region}: {n} -> {got:?} (want {written})"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        assert!(
            nat_failures.is_empty(),
            "{} {nat_failures:#?}",
            nat_failures.len()
        );
        assert!(regions > 240, "{regions} regions");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn never_panics_and_is_always_e164_shaped(
                raw in "[0-9+()\\-. a-zA-Z;=:#*xX\u{FF10}-\u{FF19}é]{0,40}",
                country in proptest::option::of("[A-Za-z]{2}"),
            ) {
                if let Some(e) = e164(&raw, country.as_deref(), Some(r("US"))) {
                    prop_assert!(e164_shaped(&e), "{raw:?} -> {e}");
                    // E.164 reads back as itself, whatever the region.
                    prop_assert_eq!(e164(&e, None, None), Some(e.clone()));
                }
            }

            #[test]
            fn any_string_never_panics(raw in any::<String>(), country in any::<Option<String>>()) {
                let _ = e164(&raw, country.as_deref(), Some(r("DE")));
            }

            #[test]
            fn formatting_does_not_matter(area in 201u32..990, exchange in 200u32..999, line in 0u32..10000) {
                let plain = format!("{area}{exchange}{line:04}");
                let pretty = format!("+1 ({area}) {exchange}-{line:04}");
                prop_assert_eq!(on("US", &plain), on("US", &pretty));
            }
        }
    }
}
