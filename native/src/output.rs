//! Writing JSON exactly as `orjson.dumps` does: compact, UTF-8, only `"`, `\` and control characters
//! escaped, and floats in orjson's shortest round-trip format.

use std::io::Write;

use crate::json::find_special;

pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let s = text.as_bytes();
    out.push(b'"');
    let mut start = 0;
    loop {
        let i = find_special(s, start);
        out.extend_from_slice(&s[start..i]);
        if i >= s.len() {
            break;
        }
        match s[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.push(b'"');
}

pub fn write_int(out: &mut Vec<u8>, value: i64) {
    let mut buf = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// A finite float as orjson writes it: the shortest digits that round-trip, positional from 1e-5 up to
/// 1e16 (with ".0" when integral), otherwise scientific with a signed exponent ("1e+16", "1.5e-7").
pub fn write_float(out: &mut Vec<u8>, value: f64) {
    debug_assert!(value.is_finite());
    let magnitude = value.abs();
    if (1e-5..1e16).contains(&magnitude) {
        // Here orjson's format is Rust's shortest positional one, with ".0" when integral.
        let start = out.len();
        write!(out, "{value}").expect("writing to a Vec cannot fail");
        if !out[start..].contains(&b'.') {
            out.extend_from_slice(b".0");
        }
        return;
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{value:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("LowerExp always has an exponent");
    let exponent: i32 = exponent.parse().expect("LowerExp exponent is an integer");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: Vec<u8> = mantissa.bytes().filter(|b| *b != b'.').collect();
    if negative {
        out.push(b'-');
    }
    if (-5..16).contains(&exponent) {
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                out.extend_from_slice(&digits);
                out.resize(out.len() + int_len - digits.len(), b'0');
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-exponent - 1) as usize, b'0');
            out.extend_from_slice(&digits);
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exponent > 0 { b'+' } else { b'-' });
        write_int(out, i64::from(exponent.abs()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(value: f64) -> String {
        let mut out = Vec::new();
        write_float(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_like_orjson() {
        for (value, text) in [
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-7, "1.5e-7"),
            (0.0001, "0.0001"),
            (1e-5, "0.00001"),
            (1.234e-5, "0.00001234"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (123456789012345.6, "123456789012345.6"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123.456, "123.456"),
            (-1.5e16, "-1.5e+16"),
        ] {
            assert_eq!(float(value), text);
        }
    }

    #[test]
    fn strings_like_orjson() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"\\\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}é");
        assert_eq!(
            out,
            "\"a\\\"\\\\\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\u{7f}é\"".as_bytes()
        );
    }
}
