//! Text helpers shared by lifeboat's outputs and inputs: the characters a file may carry
//! ([`clean_text`]), the one XML escape ([`xml_escape`]), the one region-name rule
//! ([`normalize_region`]) and the one way a person reads a time ([`local_time`]). A leaf: it
//! imports nothing from the crate, so any layer may use it.
//!
//! The simulator keeps its own region rule (`sim::model::normalize_region`): what ARM accepts
//! as a region name is the simulator's knowledge, not lifeboat's (today both are the same rule).

/// Replaces characters that are not allowed in HTML or XML 1.0 text (C0 controls other than
/// tab/newline/return, DEL and C1 controls, noncharacters) with U+FFFD: error text may carry ANSI
/// escapes or raw bytes from a server, and one such character makes the whole file invalid.
pub fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => '\u{fffd}',
            '\u{fdd0}'..='\u{fdef}' => '\u{fffd}',
            c if (c as u32) & 0xfffe == 0xfffe => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Escapes text for an XML attribute or element, after [`clean_text`]: the five markup
/// characters, and also newline, carriage return and tab as character references, so an
/// attribute value keeps them (an XML parser normalises a literal one to a space) and element
/// text reads the same (a reference in element content is the character itself).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in clean_text(s).chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// A region name as ARM compares it: without whitespace, ASCII-lowercased (`East US` →
/// `eastus`). ASCII, not Unicode, lowercase: every ARM location name and display name is ASCII
/// (`az account list-locations`), so folding other letters could only make a name that is no
/// region equal to one that is; this is also the rule the simulator applies.
pub fn normalize_region(r: &str) -> String {
    r.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase()
}

/// A time as a person reads it: to the second, in local time with its UTC offset,
/// `2026-12-06 10:15:31 +01:00` (never nanoseconds). Local is what `TZ` says (a zone name such
/// as `Europe/Paris`, or a POSIX rule such as `CET-1CEST,M3.5.0,M10.5.0/3`), else
/// `/etc/localtime`, else UTC. Machine-read outputs (JSON, CSV, the journal) keep RFC 3339 in
/// UTC instead.
pub fn local_time(t: time::OffsetDateTime) -> String {
    time_at_offset(t, local_offset(t))
}

/// [`local_time`] at a given offset.
pub fn time_at_offset(t: time::OffsetDateTime, offset: time::UtcOffset) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    let t = t.to_offset(offset);
    t.format(&fmt).unwrap_or_else(|_| t.to_string())
}

/// The local UTC offset at instant `t` (see [`local_time`]); UTC when it cannot be known.
pub fn local_offset(t: time::OffsetDateTime) -> time::UtcOffset {
    use chrono::{Offset, TimeZone};
    let seconds = match chrono::Local.timestamp_opt(t.unix_timestamp(), 0) {
        chrono::LocalResult::Single(l) => l.offset().fix().local_minus_utc(),
        _ => 0,
    };
    time::UtcOffset::from_whole_seconds(seconds).unwrap_or(time::UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_replaces_only_forbidden_characters() {
        assert_eq!(clean_text("a\tb\nc\r<&>é"), "a\tb\nc\r<&>é");
        assert_eq!(
            clean_text("\u{1b}[0m\u{0}\u{7f}\u{85}\u{fffe}\u{1ffff}\u{fdd0}"),
            "\u{fffd}[0m\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}"
        );
    }

    #[test]
    fn xml_escape_is_attribute_safe() {
        assert_eq!(xml_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
        assert_eq!(xml_escape("a\nb\r\tc\u{1b}"), "a&#10;b&#13;&#9;c\u{fffd}");
    }

    #[test]
    fn regions_compare_without_spaces_and_ascii_case() {
        assert_eq!(normalize_region(" East US 2 "), "eastus2");
        assert_eq!(normalize_region("WestEurope"), "westeurope");
        // Only ASCII letters are folded: no Azure region has another.
        assert_eq!(normalize_region("Ä"), "Ä");
    }

    #[test]
    fn times_for_people_are_to_the_second_with_the_offset() {
        let t = time::macros::datetime!(2026-12-06 09:15:31.987654321 UTC);
        assert_eq!(time_at_offset(t, time::UtcOffset::UTC), "2026-12-06 09:15:31 +00:00");
        let cet = time::UtcOffset::from_hms(1, 0, 0).unwrap();
        assert_eq!(time_at_offset(t, cet), "2026-12-06 10:15:31 +01:00");
        let west = time::UtcOffset::from_hms(-3, -30, 0).unwrap();
        assert_eq!(time_at_offset(t, west), "2026-12-06 05:45:31 -03:30");
    }
}
