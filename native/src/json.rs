//! A strict JSON reader that accepts exactly what `orjson.loads` accepts, and says so when it cannot be
//! sure what orjson would give (large integers, numbers near the double range, duplicate keys where they
//! matter, very deep nesting). The caller then leaves the record to the Python path.

use std::borrow::Cow;

/// Nesting deeper than this is left to Python (orjson itself stops at 1024).
const MAX_DEPTH: usize = 256;

#[derive(Debug)]
pub enum Value<'a> {
    Null,
    Bool,
    Int(i64),
    Float(f64),
    /// A number orjson reads as a Python int beyond i64, or as a float from an integer literal.
    OtherNumber,
    Str(Cow<'a, str>),
    /// A container that was checked but not kept (see `parse_log_line`).
    Skipped,
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// `dict.get(key)`: with duplicate keys a Python dict keeps the last value.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum JsonError {
    /// orjson.loads raises on this input.
    Invalid,
    /// Valid or not, this reader cannot promise the same result as orjson.
    Unsure,
}

pub type Result<T> = std::result::Result<T, JsonError>;

/// Parse a whole document. `text` is valid UTF-8 (a `&str`).
pub fn parse(text: &str) -> Result<Value<'_>> {
    parse_with(text, false)
}

/// Parse a JSON log line, keeping only the nested objects the parser reads (the service, log, record and
/// metrics objects); other containers are checked as orjson would and become `Value::Skipped`.
pub fn parse_log_line(text: &str) -> Result<Value<'_>> {
    parse_with(text, true)
}

fn keeps_container(key: &str) -> bool {
    matches!(
        key,
        "service" | "service_name" | "serviceName" | "app" | "application" | "log" | "record" | "metrics"
    )
}

fn parse_with(text: &str, skip_unused: bool) -> Result<Value<'_>> {
    let mut reader = Reader {
        s: text.as_bytes(),
        text,
        i: 0,
        skip_unused,
    };
    reader.skip_ws();
    let value = reader.value(0)?;
    reader.skip_ws();
    if reader.i != reader.s.len() {
        return Err(JsonError::Invalid);
    }
    Ok(value)
}

struct Reader<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    skip_unused: bool,
}

impl<'a> Reader<'a> {
    fn skip_ws(&mut self) {
        while let Some(&b) = self.s.get(self.i) {
            if b == b' ' || b == b'\n' || b == b'\r' || b == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>> {
        match self.s.get(self.i) {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') if self.skip_unused => {
                self.skip_value(depth)?;
                Ok(Value::Skipped)
            }
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool),
            Some(b'f') => self.literal(b"false", Value::Bool),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(JsonError::Invalid),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value<'a>) -> Result<Value<'a>> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(value)
        } else {
            Err(JsonError::Invalid)
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>> {
        if depth > MAX_DEPTH {
            return Err(JsonError::Unsure);
        }
        self.i += 1;
        let mut members = Vec::with_capacity(if depth == 1 { 32 } else { 4 });
        self.skip_ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(JsonError::Invalid);
            }
            let key = self.string()?;
            self.skip_ws();
            if self.s.get(self.i) != Some(&b':') {
                return Err(JsonError::Invalid);
            }
            self.i += 1;
            self.skip_ws();
            let value = if self.skip_unused && matches!(self.s.get(self.i), Some(b'[' | b'{')) && !keeps_container(&key)
            {
                self.skip_value(depth)?;
                Value::Skipped
            } else {
                self.value(depth)?
            };
            members.push((key, value));
            self.skip_ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(JsonError::Invalid),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>> {
        if depth > MAX_DEPTH {
            return Err(JsonError::Unsure);
        }
        self.i += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(JsonError::Invalid),
            }
        }
    }

    fn number(&mut self) -> Result<Value<'a>> {
        let start = self.i;
        let s = self.s;
        let mut i = self.i;
        if s[i] == b'-' {
            i += 1;
        }
        let int_start = i;
        match s.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while i < s.len() && s[i].is_ascii_digit() {
                    i += 1;
                }
            }
            _ => return Err(JsonError::Invalid),
        }
        let int_digits = i - int_start;
        let mut is_float = false;
        if s.get(i) == Some(&b'.') {
            is_float = true;
            i += 1;
            let frac_start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            if i == frac_start {
                return Err(JsonError::Invalid);
            }
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            is_float = true;
            i += 1;
            if matches!(s.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp_start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            if i == exp_start {
                return Err(JsonError::Invalid);
            }
        }
        if s.get(i).is_some_and(|b| b.is_ascii_digit()) {
            return Err(JsonError::Invalid); // a leading zero followed by digits
        }
        self.i = i;
        let literal = &self.text[start..i];
        if !is_float {
            if let Ok(value) = literal.parse::<i64>() {
                return Ok(Value::Int(value));
            }
            // orjson gives a Python int up to u64, else a float: infinite (an error) past ~309 digits.
            return if int_digits < 300 {
                Ok(Value::OtherNumber)
            } else {
                Err(JsonError::Unsure)
            };
        }
        match literal.parse::<f64>() {
            Ok(value) if value.is_finite() && value.abs() < 1e300 => Ok(Value::Float(value)),
            _ => Err(JsonError::Unsure),
        }
    }

    /// Check a value the way `value` does, without building it.
    fn skip_value(&mut self, depth: usize) -> Result<()> {
        match self.s.get(self.i) {
            Some(&open @ (b'{' | b'[')) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(JsonError::Unsure);
                }
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.skip_ws();
                if self.s.get(self.i) == Some(&close) {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip_ws();
                    if open == b'{' {
                        if self.s.get(self.i) != Some(&b'"') {
                            return Err(JsonError::Invalid);
                        }
                        self.skip_string()?;
                        self.skip_ws();
                        if self.s.get(self.i) != Some(&b':') {
                            return Err(JsonError::Invalid);
                        }
                        self.i += 1;
                        self.skip_ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.skip_ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(&b) if b == close => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(JsonError::Invalid),
                    }
                }
            }
            Some(b'"') => self.skip_string(),
            _ => self.value(depth).map(drop),
        }
    }

    fn skip_string(&mut self) -> Result<()> {
        let special = find_special(self.s, self.i + 1);
        self.i = self.string_end(special)? + 1;
        Ok(())
    }

    /// The index of the closing quote of the string whose first special byte is at `i`, checking every
    /// escape and rejecting control characters as orjson does.
    fn string_end(&self, mut i: usize) -> Result<usize> {
        let s = self.s;
        loop {
            match s.get(i) {
                Some(b'"') => return Ok(i),
                Some(b'\\') => {
                    i += 2;
                    match s.get(i - 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                        Some(b'u') => {
                            let high = hex4(s, i)?;
                            i += 4;
                            if (0xD800..0xDC00).contains(&high) {
                                if s.get(i) != Some(&b'\\') || s.get(i + 1) != Some(&b'u') {
                                    return Err(JsonError::Invalid);
                                }
                                if !(0xDC00..0xE000).contains(&hex4(s, i + 2)?) {
                                    return Err(JsonError::Invalid);
                                }
                                i += 6;
                            } else if (0xDC00..0xE000).contains(&high) {
                                return Err(JsonError::Invalid);
                            }
                        }
                        _ => return Err(JsonError::Invalid),
                    }
                }
                _ => return Err(JsonError::Invalid), // a control character, or the end of the input
            }
            i = find_special(s, i);
        }
    }

    /// A string at `self.i` (the opening quote); borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        let s = self.s;
        let start = self.i + 1;
        let mut i = find_special(s, start);
        if s.get(i) == Some(&b'"') {
            self.i = i + 1;
            return Ok(Cow::Borrowed(&self.text[start..i]));
        }
        let mut out: Vec<u8> = Vec::with_capacity((s.len() - start).min(4096));
        out.extend_from_slice(&s[start..i]);
        loop {
            match s.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    let escape = *s.get(i + 1).ok_or(JsonError::Invalid)?;
                    i += 2;
                    let simple = match escape {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => 0,
                        _ => return Err(JsonError::Invalid),
                    };
                    if escape == b'u' {
                        let high = hex4(s, i)?;
                        i += 4;
                        let code = if (0xD800..0xDC00).contains(&high) {
                            if s.get(i) != Some(&b'\\') || s.get(i + 1) != Some(&b'u') {
                                return Err(JsonError::Invalid);
                            }
                            let low = hex4(s, i + 2)?;
                            if !(0xDC00..0xE000).contains(&low) {
                                return Err(JsonError::Invalid);
                            }
                            i += 6;
                            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..0xE000).contains(&high) {
                            return Err(JsonError::Invalid);
                        } else {
                            high
                        };
                        let decoded = char::from_u32(code).ok_or(JsonError::Invalid)?;
                        out.extend_from_slice(decoded.encode_utf8(&mut [0u8; 4]).as_bytes());
                    } else {
                        out.push(simple);
                    }
                }
                _ => return Err(JsonError::Invalid), // a control character, or the end of the input
            }
            let next = find_special(s, i);
            out.extend_from_slice(&s[i..next]);
            i = next;
        }
        self.i = i + 1;
        // Runs of the (valid UTF-8) input are cut only at ASCII bytes, and escapes add whole characters.
        String::from_utf8(out).map(Cow::Owned).map_err(|_| JsonError::Invalid)
    }
}

fn hex4(s: &[u8], i: usize) -> Result<u32> {
    let digits = s.get(i..i + 4).ok_or(JsonError::Invalid)?;
    let mut value = 0u32;
    for &b in digits {
        let digit = (b as char).to_digit(16).ok_or(JsonError::Invalid)?;
        value = value * 16 + digit;
    }
    Ok(value)
}

/// Index of the first `"`, `\` or control character (< 0x20) at or after `from`, or `s.len()`.
/// JSON strings end or escape there, and orjson escapes exactly these bytes when writing.
#[inline]
pub fn find_special(s: &[u8], from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    let from = {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let mut i = from;
        // SAFETY: SSE2 is part of the x86_64 baseline; each load reads 16 bytes inside `s`.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let control_max = _mm_set1_epi8(0x1f);
            while i + 16 <= s.len() {
                let chunk = _mm_loadu_si128(s.as_ptr().add(i).cast::<__m128i>());
                let is_control = _mm_cmpeq_epi8(_mm_min_epu8(chunk, control_max), chunk);
                let hits = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)),
                    is_control,
                );
                let mask = _mm_movemask_epi8(hits);
                if mask != 0 {
                    return i + mask.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
        i
    };
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while i + 8 <= s.len() {
        let word = u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
        let quote = word ^ (LO * u64::from(b'"'));
        let backslash = word ^ (LO * u64::from(b'\\'));
        // A byte is zero in `x` (or below 0x20 in `word`) exactly where the bit trick below sets its high bit;
        // bytes >= 0x80 never trigger it because `!word` clears their high bit.
        let found = (quote.wrapping_sub(LO) & !quote
            | backslash.wrapping_sub(LO) & !backslash
            | word.wrapping_sub(LO * 0x20) & !word)
            & HI;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() {
        let b = s[i];
        if b == b'"' || b == b'\\' || b < 0x20 {
            return i;
        }
        i += 1;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_bytes() {
        let text = "abcdefghij\"klm";
        assert_eq!(find_special(text.as_bytes(), 0), 10);
        assert_eq!(find_special("é\u{1}".as_bytes(), 0), 2);
        for b in 0u8..=255 {
            let mut buf = vec![b'a'; 20];
            buf[13] = b;
            let expected = if b == b'"' || b == b'\\' || b < 0x20 { 13 } else { 20 };
            assert_eq!(find_special(&buf, 0), expected, "byte {b}");
        }
    }

    #[test]
    fn documents() {
        assert!(matches!(parse("{\"a\": [1, 2.5, \"x\\u00e9\"]}"), Ok(Value::Object(_))));
        assert_eq!(parse("01").unwrap_err(), JsonError::Invalid);
        assert_eq!(parse("\"\\ud800\"").unwrap_err(), JsonError::Invalid);
        assert_eq!(parse("1e400").unwrap_err(), JsonError::Unsure);
        assert!(matches!(parse("18446744073709551616"), Ok(Value::OtherNumber)));
        assert_eq!(parse("{\"a\":1,}").unwrap_err(), JsonError::Invalid);
    }
}
