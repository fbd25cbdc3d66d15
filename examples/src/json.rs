//! A minimal JSON writer (objects, arrays, strings, numbers, booleans, null), enough for
//! the programs' `--json` output without a serialisation dependency.

use std::fmt::Write as _;

/// `s` as a JSON string literal: quoted, with `"`, `\` and control characters escaped.
#[must_use]
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
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON array of already-encoded values.
#[must_use]
pub fn array<I: IntoIterator<Item = String>>(items: I) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// A JSON object built field by field, in insertion order.
#[derive(Debug, Clone, Default)]
pub struct Object {
    fields: Vec<String>,
}

impl Object {
    /// An empty object.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field whose value is already encoded JSON.
    #[must_use]
    pub fn raw(mut self, key: &str, json: String) -> Self {
        self.fields.push(format!("{}:{json}", quote(key)));
        self
    }

    /// Adds a string field.
    #[must_use]
    pub fn string(self, key: &str, value: &str) -> Self {
        self.raw(key, quote(value))
    }

    /// Adds a string field, or `null` for `None`.
    #[must_use]
    pub fn opt_string(self, key: &str, value: Option<&str>) -> Self {
        self.raw(key, value.map_or_else(|| "null".to_owned(), quote))
    }

    /// Adds an unsigned number field.
    #[must_use]
    pub fn number(self, key: &str, value: u64) -> Self {
        self.raw(key, value.to_string())
    }

    /// Adds a boolean field.
    #[must_use]
    pub fn boolean(self, key: &str, value: bool) -> Self {
        self.raw(key, value.to_string())
    }

    /// The encoded object.
    #[must_use]
    pub fn finish(self) -> String {
        format!("{{{}}}", self.fields.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::{Object, array, quote};

    #[test]
    fn escapes() {
        assert_eq!(quote("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let o = Object::new()
            .string("s", "x")
            .number("n", 3)
            .boolean("b", true)
            .opt_string("z", None)
            .raw("a", array(["1".to_owned(), "2".to_owned()]))
            .finish();
        assert_eq!(o, r#"{"s":"x","n":3,"b":true,"z":null,"a":[1,2]}"#);
    }
}
