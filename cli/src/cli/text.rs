//! Text from files and arguments made safe for a terminal: a realm, a path or an echoed
//! argument can hold control characters (an escape sequence could recolour the screen, move the
//! cursor or forge a whole output line) or bidirectional overrides (which reorder what a reader
//! sees). Everything the CLI prints that it did not write itself goes through here. Must not
//! change text that holds none of these, so ordinary output stays byte-identical.

use std::borrow::Cow;

/// Whether `c` could act on a terminal or reorder displayed text: C0 controls (line breaks
/// and tabs included), DEL, C1 controls, and the Unicode bidirectional formatting characters.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every unsafe character written as a Rust-style escape (`\u{1b}`); borrowed when
/// there is none.
pub(crate) fn safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A path for display, made [`safe`].
pub(crate) fn safe_path(path: &std::path::Path) -> String {
    safe(&path.display().to_string()).into_owned()
}

/// JSON text with the characters serde_json leaves raw inside strings (DEL, C1 controls,
/// bidirectional formatting) written as `\uXXXX` escapes, which JSON readers decode to the same
/// string; serde_json already escapes the C0 controls. Outside strings JSON text is ASCII, so
/// every such character is inside a string.
pub(crate) fn safe_json(json: String) -> String {
    // C0 controls outside strings are JSON's own whitespace (line breaks, indentation).
    let in_string_only = |c: char| is_unsafe(c) && u32::from(c) >= 0x20;
    if !json.chars().any(in_string_only) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if in_string_only(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one \u escape.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{safe, safe_json};

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        for (input, expected) in [
            ("mainnet", "mainnet"),
            ("café-net", "café-net"),
            ("a\x1b[31mred", "a\\u{1b}[31mred"),
            ("line\nkdf: none", "line\\u{a}kdf: none"),
            ("cr\rtab\t", "cr\\u{d}tab\\u{9}"),
            ("del\x7f", "del\\u{7f}"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("rlo\u{202e}txt", "rlo\\u{202e}txt"),
            ("iso\u{2066}x\u{2069}", "iso\\u{2066}x\\u{2069}"),
        ] {
            assert_eq!(safe(input), expected, "{input:?}");
        }
    }

    #[test]
    fn json_escapes_decode_to_the_same_string() {
        let original = "x\u{7f}\u{9b}\u{202e}y\u{1b}";
        let text = serde_json::to_string_pretty(&[original]).expect("a string serializes");
        let escaped = safe_json(text);
        assert!(escaped.is_ascii(), "{escaped}");
        let back: Vec<String> = serde_json::from_str(&escaped).expect("still JSON");
        assert_eq!(back, [original]);
    }
}
