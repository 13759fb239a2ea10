//! Escaping for the XML the packages carry (launchd plist, PackageInfo, Distribution, the xar
//! table of contents): values come from the caller (URLs hold `&`), never trusted as markup.

/// `text` safe inside an element or a double-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            escape(r#"https://f.example/?a=1&b=<2>"'"#),
            "https://f.example/?a=1&amp;b=&lt;2&gt;&quot;&apos;"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
