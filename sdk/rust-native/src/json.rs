//! A small JSON helper for plugins that need no JSON library: reading a
//! string member of a flat object, and quoting a string. Real plugins may
//! use any JSON crate; the ABI only moves bytes.

/// Returns the string value of member `key` of the JSON object `text`, or
/// None if there is none (or it is not a string). It reads top-level
/// members only and decodes the usual escapes.
pub fn string_member(text: &[u8], key: &str) -> Option<String> {
    let s = std::str::from_utf8(text).ok()?;
    let mut chars = s.char_indices().peekable();
    let mut depth = 0usize;
    let mut expect_key = false;
    while let Some((_, c)) = chars.next() {
        match c {
            '{' | '[' => {
                depth += 1;
                expect_key = depth == 1 && c == '{';
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            ',' => expect_key = depth == 1,
            '"' => {
                let name = read_string(&mut chars)?;
                if !expect_key {
                    continue;
                }
                expect_key = false;
                while matches!(chars.peek(), Some((_, ' ' | '\t' | '\n' | '\r' | ':'))) {
                    chars.next();
                }
                if name == key {
                    return match chars.next() {
                        Some((_, '"')) => read_string(&mut chars),
                        _ => None,
                    };
                }
            }
            _ => {}
        }
    }
    None
}

fn read_string(chars: &mut std::iter::Peekable<std::str::CharIndices>) -> Option<String> {
    let mut out = String::new();
    loop {
        let (_, c) = chars.next()?;
        match c {
            '"' => return Some(out),
            '\\' => {
                let (_, e) = chars.next()?;
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                        char::from_u32(u32::from_str_radix(&hex, 16).ok()?).unwrap_or('\u{fffd}')
                    }
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
}

/// Returns s as a JSON string, quotes included.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_top_level_strings() {
        let t = br#"{"a":{"name":"inner"},"name":"ada \"l\"\u00e9","n":1}"#;
        assert_eq!(string_member(t, "name").as_deref(), Some("ada \"l\"\u{e9}"));
        assert_eq!(string_member(t, "n"), None);
        assert_eq!(string_member(t, "missing"), None);
        assert_eq!(string_member(b"{\"k\": \"v\"}", "k").as_deref(), Some("v"));
    }

    #[test]
    fn quotes() {
        assert_eq!(quote("a\"b\\\n\u{1}"), "\"a\\\"b\\\\\\n\\u0001\"");
    }
}
