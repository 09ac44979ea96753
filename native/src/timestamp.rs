//! `parsing.parse_timestamp`: epoch milliseconds from ISO-8601 text or an epoch number.

use crate::json::Value;
use crate::pytext::{py_float, py_strip, PyFloat};

/// Some(Some(ms)), Some(None) when Python gives None, or None when only Python can tell.
pub fn parse_timestamp(value: Option<&Value<'_>>) -> Option<Option<i64>> {
    let number = match value {
        Some(Value::Str(text)) => {
            if !text.is_ascii() {
                return None;
            }
            let text = py_strip(text);
            if text.len() >= 10 && text.as_bytes()[4] == b'-' {
                return iso_timestamp(text);
            }
            match py_float(text) {
                PyFloat::Value(number) => number,
                PyFloat::Invalid => return Some(None),
                PyFloat::Unsure => return None,
            }
        }
        Some(Value::Int(number)) => *number as f64,
        Some(Value::Float(number)) => *number,
        Some(Value::OtherNumber) => return None,
        _ => return Some(None),
    };
    Some(epoch_number(number))
}

fn epoch_number(number: f64) -> Option<i64> {
    if !(0.0 < number && number < 1e18) {
        return None;
    }
    Some(if number < 1e11 {
        (number * 1000.0) as i64
    } else if number < 1e14 {
        number as i64
    } else {
        (number / 1000.0) as i64
    })
}

/// `datetime.fromisoformat` for the forms logs use: `YYYY-MM-DD`, optionally `T` or space, `HH:MM:SS`, a
/// `.`/`,` fraction of 1-9 digits, and `Z`, `±HH:MM` or `±HHMM`. Other spellings are left to Python.
fn iso_timestamp(text: &str) -> Option<Option<i64>> {
    let s = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if s[7] != b'-' {
        return None;
    }
    let (mut hour, mut minute, mut second, mut micros, mut offset_minutes) = (0, 0, 0, 0i64, 0i64);
    if s.len() > 10 {
        if !(s[10] == b'T' || s[10] == b' ') || s.len() < 19 || s[13] != b':' || s[16] != b':' {
            return None;
        }
        (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        let mut i = 19;
        if i < s.len() && (s[i] == b'.' || s[i] == b',') {
            i += 1;
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            let count = i - start;
            if !(1..=9).contains(&count) {
                return None;
            }
            let used = count.min(6);
            micros = num(start, used)? * 10i64.pow((6 - used) as u32);
        }
        if i < s.len() {
            match s[i] {
                b'Z' if i + 1 == s.len() => {}
                b'+' | b'-' => {
                    let sign = if s[i] == b'+' { 1 } else { -1 };
                    let rest = &s[i + 1..];
                    let (hh, mm) = match rest.len() {
                        5 if rest[2] == b':' => (num(i + 1, 2)?, num(i + 4, 2)?),
                        4 => (num(i + 1, 2)?, num(i + 3, 2)?),
                        _ => return None,
                    };
                    if hh > 23 || mm > 59 {
                        return None;
                    }
                    offset_minutes = sign * (hh * 60 + mm);
                }
                _ => return None,
            }
        }
    }
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Some(None);
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Some(None);
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    let total_micros = seconds.checked_mul(1_000_000)?.checked_add(micros)?;
    if total_micros.unsigned_abs() >= 1 << 53 {
        return None; // Python divides big integers exactly; keep to where a double division agrees
    }
    // datetime.timestamp() is microseconds / 10**6 as a float; parse_timestamp multiplies by 1000 and truncates.
    Some(Some(((total_micros as f64 / 1e6) * 1000.0) as i64))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn ts(text: &str) -> Option<Option<i64>> {
        parse_timestamp(Some(&Value::Str(Cow::Borrowed(text))))
    }

    #[test]
    fn iso_forms() {
        assert_eq!(ts("2026-01-01T10:00:00.123Z"), Some(Some(1_767_261_600_123)));
        assert_eq!(ts("2026-01-01 10:00:00,123+0000"), Some(Some(1_767_261_600_123)));
        assert_eq!(ts("2026-01-01"), Some(Some(1_767_225_600_000)));
        assert_eq!(ts("2026-02-30"), Some(None));
        assert_eq!(ts("2026-01-01x10:00:00"), None);
        assert_eq!(ts("1767261600.5"), Some(Some(1_767_261_600_500)));
        assert_eq!(ts("soon"), Some(None));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }
}
