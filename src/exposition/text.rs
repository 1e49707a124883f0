//! The text format writer: sample values, label sets and `# HELP`/`# TYPE` headers,
//! written straight into a `String` (no formatting machinery on the hot path).

use std::fmt::Write as _;

use crate::model::labels::escape_label;

/// Writes a sample value: integers without a fraction, everything else in shortest form.
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        write_integer(out, v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes an integer in decimal (the formatting machinery is several times slower, and
/// most values are integers).
fn write_integer(out: &mut String, v: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// A sample line `name{labels} v`, the labels escaped here.
pub(super) fn line(out: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    line_with(out, name, "", labels, v);
}

/// A line whose labels start with `block`, labels already written and escaped.
pub(super) fn line_with(
    out: &mut String,
    name: &str,
    block: &str,
    labels: &[(&str, &str)],
    v: f64,
) {
    out.push_str(name);
    out.push('{');
    out.push_str(block);
    let mut first = block.is_empty();
    for (k, val) in labels {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_label(out, val);
        out.push('"');
    }
    out.push_str("} ");
    write_value(out, v);
    out.push('\n');
}

/// The `# HELP` and `# TYPE` lines of a family.
pub(super) fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_like_prometheus() {
        let cases = [
            (10000.0, "10000"),
            (0.0, "0"),
            (0.5, "0.5"),
            (-1.0, "-1"),
            (1600560000.123, "1600560000.123"),
            (-2147483648.0, "-2147483648"),
            (999_999_999_999_999.0, "999999999999999"),
            (1e15, "1000000000000000"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            write_value(&mut s, v);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn labels_are_escaped() {
        let mut s = String::new();
        escape_label(&mut s, "a\"b\\c\nd");
        assert_eq!(s, r#"a\"b\\c\nd"#);
    }

    #[test]
    fn lines_join_the_block_and_the_labels() {
        let mut s = String::new();
        line_with(&mut s, "m", "a=\"1\"", &[("b", "x\"y")], 2.5);
        line(&mut s, "n", &[], 1.0);
        assert_eq!(s, "m{a=\"1\",b=\"x\\\"y\"} 2.5\nn{} 1\n");
    }
}
