//! Python `str` semantics the parser relies on: `str.isspace`, `str.strip` and the ASCII meaning of the
//! `re` classes. Regular expressions only run on ASCII text; anything else is left to the Python path.

/// `str.isspace()` of CPython 3.11 for one character.
pub fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\x0b'
            | '\x0c'
            | '\r'
            | '\x1c'..='\x1f'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `str.strip()` without arguments.
pub fn py_strip(text: &str) -> &str {
    text.trim_matches(is_py_space)
}

/// The first `n` characters (`text[:n]`).
pub fn head_chars(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// `int(s)` for a string of ASCII digits, when it fits in an i64.
pub fn parse_ascii_int(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: i64 = 0;
    for b in digits.bytes() {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(value)
}

/// What `float(s)` gives for a string, as far as it can be known without the Python runtime.
pub enum PyFloat {
    Value(f64),
    Invalid,
    Unsure,
}

/// `float(s)`: a plain decimal (sign, digits, point, exponent) is parsed exactly (Rust and CPython both
/// round correctly); a string with a character `float()` never accepts is invalid; the rest (underscores,
/// inf, nan, surrounding whitespace, non-ASCII digits) is unsure.
pub fn py_float(text: &str) -> PyFloat {
    if text.is_empty() {
        return PyFloat::Invalid;
    }
    if !text.is_ascii() {
        return PyFloat::Unsure;
    }
    if text
        .bytes()
        .any(|b| !b"0123456789+-._eEiInNfFtTyYaA \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f".contains(&b))
    {
        return PyFloat::Invalid;
    }
    if !is_plain_decimal(text.as_bytes()) {
        return PyFloat::Unsure;
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => PyFloat::Value(value),
        _ => PyFloat::Unsure,
    }
}

/// `[+-]?(digits[.digits?] | .digits)([eE][+-]?digits)?`
fn is_plain_decimal(s: &[u8]) -> bool {
    let mut i = 0;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < s.len() && s[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_matches_python() {
        assert_eq!(py_strip("\u{1c} x \u{3000}"), "x");
        assert_eq!(py_strip("\u{180e}x"), "\u{180e}x");
    }

    #[test]
    fn floats() {
        assert!(matches!(py_float("12.5"), PyFloat::Value(v) if v == 12.5));
        assert!(matches!(py_float("abc"), PyFloat::Invalid));
        assert!(matches!(py_float("1_0"), PyFloat::Unsure));
        assert!(matches!(py_float("."), PyFloat::Unsure));
        assert!(matches!(py_float("1e999"), PyFloat::Unsure));
    }
}
