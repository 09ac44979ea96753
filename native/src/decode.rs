//! base64 and gzip, accepting only what `cloudwatch.decode_base64` and `cloudwatch.gunzip` surely accept.

use flate2::{Decompress, FlushDecompress, Status};

/// `cloudwatch.MAX_DECOMPRESSED_BYTES`: larger payloads are gzip bombs (the Python path reports them).
pub const MAX_DECOMPRESSED_BYTES: usize = 16 * 1024 * 1024;

const INVALID: u8 = 0xff;

const fn decode_table() -> [u8; 256] {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
}

static DECODE: [u8; 256] = decode_table();

/// Canonical standard base64 (padded, no whitespace, zero unused bits), else None.
pub fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    if input.is_empty() || input.len() % 4 != 0 {
        return None;
    }
    let padding = input.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return None;
    }
    let body = &input[..input.len() - 4];
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    for chunk in body.chunks_exact(4) {
        let (a, b, c, d) = (
            DECODE[chunk[0] as usize],
            DECODE[chunk[1] as usize],
            DECODE[chunk[2] as usize],
            DECODE[chunk[3] as usize],
        );
        if (a | b | c | d) == INVALID || (a | b | c | d) & 0xc0 != 0 {
            return None;
        }
        let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let last = &input[input.len() - 4..];
    let values: Vec<u8> = last[..4 - padding].iter().map(|&b| DECODE[b as usize]).collect();
    if values.contains(&INVALID) {
        return None;
    }
    let mut n = 0u32;
    for (index, &v) in values.iter().enumerate() {
        n |= u32::from(v) << (18 - 6 * index);
    }
    let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    let keep = 3 - padding;
    if n & (0x00ff_ffff >> (8 * keep)) != 0 {
        return None; // non-zero unused bits: not canonical
    }
    out.extend_from_slice(&bytes[..keep]);
    Some(out)
}

/// One gzip member as zlib (wbits 31) reads it, up to `MAX_DECOMPRESSED_BYTES`; None on anything else.
/// Only the plain header CloudWatch Logs writes (deflate, no optional fields) is taken.
pub fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 18 || data[..4] != [0x1f, 0x8b, 0x08, 0x00] {
        return None;
    }
    let limit = MAX_DECOMPRESSED_BYTES + 1;
    let mut decompressor = Decompress::new_gzip(15);
    let mut out = Vec::with_capacity(data.len().saturating_mul(8).clamp(64 * 1024, limit));
    loop {
        let (read, written) = (decompressor.total_in(), decompressor.total_out());
        let input = &data[usize::try_from(read).ok()?..];
        let status = decompressor
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .ok()?;
        if status == Status::StreamEnd {
            break;
        }
        if out.len() == out.capacity() {
            if out.len() >= limit {
                return None;
            }
            out.reserve_exact(out.capacity().min(limit - out.len()));
        } else if decompressor.total_in() == read && decompressor.total_out() == written {
            return None; // truncated: the input ends before the gzip trailer
        }
    }
    (out.len() <= MAX_DECOMPRESSED_BYTES).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_canonical_only() {
        assert_eq!(decode_base64(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64(b"aGVsbA==").unwrap(), b"hell");
        assert_eq!(decode_base64(b"aGVs").unwrap(), b"hel");
        assert!(decode_base64(b"aGVsbG9=").is_none());
        assert!(decode_base64(b"aGVsbG8").is_none());
        assert!(decode_base64(b"aGV=bG8=").is_none());
        assert!(decode_base64(b"").is_none());
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The two base64 characters of every 12-bit value.
const fn pair_table() -> [[u8; 2]; 4096] {
    let mut table = [[0u8; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        table[i] = [ALPHABET[i >> 6], ALPHABET[i & 63]];
        i += 1;
    }
    table
}

static PAIRS: [[u8; 2]; 4096] = pair_table();

/// Standard padded base64 of `data` into `out`, which is exactly `(data.len() + 2) / 3 * 4` bytes long.
pub fn encode_base64(data: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), data.len().div_ceil(3) * 4);
    // Six input bytes (read as eight) give eight characters at a time.
    let wide = if data.len() >= 8 { (data.len() - 8) / 6 + 1 } else { 0 };
    let mut done = 0;
    for index in 0..wide {
        let at = index * 6;
        let n = u64::from_be_bytes(data[at..at + 8].try_into().expect("eight bytes"));
        let chars = [
            PAIRS[(n >> 52) as usize & 0xfff],
            PAIRS[(n >> 40) as usize & 0xfff],
            PAIRS[(n >> 28) as usize & 0xfff],
            PAIRS[(n >> 16) as usize & 0xfff],
        ];
        out[index * 8..index * 8 + 8].copy_from_slice(chars.as_flattened());
        done = at + 6;
    }
    let (data, out) = (&data[done..], &mut out[done / 3 * 4..]);
    let mut groups = data.chunks_exact(3);
    let mut chunks = out.chunks_exact_mut(4);
    for (group, chunk) in (&mut groups).zip(&mut chunks) {
        let n = (usize::from(group[0]) << 16) | (usize::from(group[1]) << 8) | usize::from(group[2]);
        chunk[..2].copy_from_slice(&PAIRS[n >> 12]);
        chunk[2..].copy_from_slice(&PAIRS[n & 0xfff]);
    }
    let rest = groups.remainder();
    if let Some(chunk) = chunks.next() {
        let b0 = usize::from(rest[0]);
        let b1 = rest.get(1).map_or(0, |&b| usize::from(b));
        let n = (b0 << 16) | (b1 << 8);
        chunk[..2].copy_from_slice(&PAIRS[n >> 12]);
        chunk[2] = if rest.len() == 2 { PAIRS[n & 0xfff][0] } else { b'=' };
        chunk[3] = b'=';
    }
}

#[cfg(test)]
mod encode_tests {
    use super::*;

    #[test]
    fn round_trip() {
        let long: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for length in 0..long.len() {
            let text = &long[..length];
            let mut out = vec![0u8; text.len().div_ceil(3) * 4];
            encode_base64(text, &mut out);
            if !text.is_empty() {
                assert_eq!(decode_base64(&out).unwrap(), text);
            }
        }
        let mut out = vec![0u8; 8];
        encode_base64(b"hello", &mut out);
        assert_eq!(&out, b"aGVsbG8=");
    }
}
