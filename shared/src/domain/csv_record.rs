//! CSV records for the files admins open in spreadsheets (the host report, campaign exports):
//! quoting by the `csv` crate (RFC 4180, CRLF), and cells that a spreadsheet would run as a
//! formula defused. Hosts choose their own host names and query results, so a cell such as
//! `=HYPERLINK(...)` is hostile input reaching an admin's desktop.

/// Appends one record (CRLF-terminated) to `out`.
pub fn write<I, S>(out: &mut Vec<u8>, fields: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    // A small buffer: one writer per record, and records are short.
    let mut writer = csv::WriterBuilder::new()
        .buffer_capacity(1024)
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    let record: Vec<String> = fields
        .into_iter()
        .map(|field| defused(field.as_ref()))
        .collect();
    // Writing into a Vec cannot fail, and every record is flushed by the writer's drop.
    if writer.write_record(&record).is_err() {
        tracing::warn!("a CSV record could not be written");
    }
    let _ = writer.flush();
}

/// The cell as a spreadsheet should show it: text starting with a formula character gets a
/// leading `'` (OWASP's advice), except numbers such as `-1` or `+3.5`, which stay numbers.
pub fn defused(text: &str) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && text.parse::<f64>().is_err() {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fields: &[&str]) -> String {
        let mut out = Vec::new();
        write(&mut out, fields);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn quotes_what_needs_quoting() {
        assert_eq!(
            line(&["a", "b,c", "say \"hi\"", "two\nlines"]),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
        );
    }

    #[test]
    fn defuses_formulas_but_not_numbers() {
        assert_eq!(
            line(&["=1+1", "@SUM(A1)", "+x", "-cmd", "-1", "+3.5", "1e3"]),
            "'=1+1,'@SUM(A1),'+x,'-cmd,-1,+3.5,1e3\r\n"
        );
        assert_eq!(defused("\tx"), "'\tx");
    }
}
