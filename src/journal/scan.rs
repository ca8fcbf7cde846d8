//! The fast reader of a journal: what replay and the watchers use instead of [`super::parse`].
//!
//! It verifies exactly what [`super::parse`] verifies (the hash chain over the same bytes, `seq`,
//! the header's format version, every payload valid JSON), but only for lines laid out as this
//! build writes them (`{"seq":..,"time":"..","kind":"..","payload":..,"prev":"..","hash":".."}`,
//! with `"sim_time":".."` after `time` in a simulated run, no whitespace, no escapes outside the
//! payload), and it does not build [`super::Entry`]
//! values: the line is hashed as it is, the shell is read by position, and the payload is handed
//! to the caller's `decode` as text (the runner parses `event` payloads straight into
//! `engine::Event`). One pass over the bytes, spread over the cores.
//!
//! It never reports an error itself: anything it does not vouch for (a damaged line, a broken
//! chain, a line laid out differently, a payload `decode` refuses) is an [`Unvouched`], and the
//! caller reads the journal again with [`super::parse`], the reference, which accepts it or names
//! the error exactly as it always has. So the fast reader can only be faster, never different:
//! when it accepts a line, [`super::parse`] accepts it with the same values (`tests` checks this
//! on mutated lines).

use super::{check_header_payload, EntryTime, FORMAT_MAJOR};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A place in a journal's hash chain: what the next line must continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPos {
    /// Byte offset just past the last verified line's newline (where the next line starts).
    pub offset: u64,
    /// Byte offset where the last verified line starts (`offset` of an empty journal).
    pub last_start: u64,
    /// The `seq` the next line must carry: the number of verified entries.
    pub next_seq: u64,
    /// SHA-256 of the last verified line without its newline: the next line's `prev`.
    pub last_hash: [u8; 32],
}

impl ChainPos {
    /// The start of a journal: the header comes next.
    pub fn start() -> ChainPos {
        ChainPos { offset: 0, last_start: 0, next_seq: 0, last_hash: [0; 32] }
    }

    /// The position after the valid prefix `bytes[..valid_len]` whose last line hashes to
    /// `last_line_hash` (hex), as [`super::parse`] reports them.
    pub fn after(bytes: &[u8], valid_len: u64, entries: u64, last_line_hash: &str) -> ChainPos {
        let end = (valid_len as usize).min(bytes.len());
        let body = end.saturating_sub(1);
        let last_start = memchr::memrchr(b'\n', &bytes[..body]).map_or(0, |i| i + 1);
        let mut last_hash = [0; 32];
        let _ = hex::decode_to_slice(last_line_hash, &mut last_hash);
        ChainPos { offset: end as u64, last_start: last_start as u64, next_seq: entries, last_hash }
    }
}

/// What [`scan`] verified.
#[derive(Debug)]
pub struct Scan<T> {
    /// The header's times and payload, when the scan started at the beginning of the journal.
    pub header: Option<(EntryTime, Value)>,
    /// Every verified entry after the header, in order, by stretch of the file (one per
    /// thread): its times and what `decode` made of it.
    stretches: Vec<Vec<(EntryTime, T)>>,
    /// Where the chain stands after the last complete line.
    pub end: ChainPos,
    /// Bytes after the last complete line (a line still being written, or torn by a crash):
    /// ignored, as [`super::parse`] ignores them.
    pub torn: bool,
}

impl<T> Scan<T> {
    /// The verified entries after the header, in order.
    pub fn entries(&self) -> impl Iterator<Item = &(EntryTime, T)> {
        self.stretches.iter().flatten()
    }

    /// The last verified entry after the header.
    pub fn last(&self) -> Option<&(EntryTime, T)> {
        self.stretches.iter().rev().find_map(|s| s.last())
    }

    /// The number of verified entries after the header.
    pub fn len(&self) -> usize {
        self.stretches.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The verified entries after the header, in order.
    pub fn into_entries(self) -> Vec<(EntryTime, T)> {
        let mut stretches = self.stretches.into_iter();
        let mut all = stretches.next().unwrap_or_default();
        for s in stretches {
            all.extend(s);
        }
        all
    }
}

/// Why the fast reader does not vouch for a journal (the caller reads it with
/// [`super::parse`] instead, which accepts it or names the error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unvouched {
    /// 1-based line number in the file.
    pub line: u64,
    pub why: &'static str,
}

impl std::fmt::Display for Unvouched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// Turns the payload of an entry after the header into what the caller keeps. `kind` and the
/// payload's JSON text are given; it must refuse (`Err`) any text that is not valid JSON as
/// `serde_json::Value` reads it: parse it into a typed value that buffers every field (an
/// internally tagged enum does) or into a `Value`.
pub type Decode<'d, T> = dyn Fn(&str, &str) -> Result<T, Refused> + Sync + 'd;

/// A payload [`Decode`] refuses (the reference reader then decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// Journals shorter than this are verified on one thread.
const PARALLEL_FROM: usize = 1 << 20;

/// Verifies the lines in `bytes`, which start at `from.offset` of the journal and continue the
/// chain at `from`.
pub fn scan<T: Send>(
    bytes: &[u8],
    from: &ChainPos,
    decode: &Decode<'_, T>,
) -> Result<Scan<T>, Unvouched> {
    // Asking for the cores reads the cgroup's files: only when there is much to read.
    let threads = match bytes.len() {
        n if n < PARALLEL_FROM => 1,
        _ => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8),
    };
    scan_on(bytes, from, decode, threads)
}

/// [`scan`] on up to `threads` threads.
fn scan_on<T: Send>(
    bytes: &[u8],
    from: &ChainPos,
    decode: &Decode<'_, T>,
    threads: usize,
) -> Result<Scan<T>, Unvouched> {
    let complete = memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1);
    let torn = complete < bytes.len();
    let body = &bytes[..complete];
    let stretches: Vec<Stretch<T>> = if threads <= 1 {
        vec![check_stretch(body, 0, from, decode)]
    } else {
        // One stretch of whole lines per thread, each checked and chained on its own; only
        // where they meet is checked afterwards.
        let mut cuts = vec![0];
        for t in 1..threads {
            let at = (body.len() * t / threads).max(*cuts.last().unwrap_or(&0));
            let cut = memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |i| at + i + 1);
            cuts.push(cut);
        }
        cuts.push(body.len());
        cuts.dedup();
        std::thread::scope(|s| {
            let handles: Vec<_> = cuts
                .windows(2)
                .map(|w| {
                    let (a, b) = (w[0], w[1]);
                    s.spawn(move || check_stretch(&body[a..b], a, from, decode))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Stretch::failed("reader thread failed")))
                .collect()
        })
    };
    let mut header = None;
    let mut entries = Vec::with_capacity(stretches.len());
    let mut pos = from.clone();
    for st in stretches {
        let at = |index: u64, why| Unvouched { line: pos.next_seq + index + 1, why };
        if let Some((seq, prev)) = st.first {
            if seq != pos.next_seq {
                return Err(at(0, "sequence number out of order"));
            }
            if prev != pos.last_hash {
                return Err(at(0, "hash chain broken"));
            }
        }
        if let Some((index, why)) = st.error {
            return Err(at(index, why));
        }
        if let Some((start, end, hash)) = st.last {
            pos = ChainPos {
                offset: from.offset + end as u64,
                last_start: from.offset + start as u64,
                next_seq: pos.next_seq + st.lines,
                last_hash: hash,
            };
        }
        if st.header.is_some() {
            header = st.header;
        }
        entries.push(st.entries);
    }
    if pos.next_seq == 0 {
        return Err(Unvouched { line: 1, why: "no header" });
    }
    Ok(Scan { header, stretches: entries, end: pos, torn })
}

/// What one thread verified: a stretch of whole lines, chained among themselves.
struct Stretch<T> {
    /// The first line's `seq` and `prev` (to check against the stretch before).
    first: Option<(u64, [u8; 32])>,
    /// The last line: where it starts and ends (past its newline) in the scanned bytes, and
    /// its hash.
    last: Option<(usize, usize, [u8; 32])>,
    lines: u64,
    header: Option<(EntryTime, Value)>,
    entries: Vec<(EntryTime, T)>,
    /// The first line not vouched for: its index in the stretch, and why.
    error: Option<(u64, &'static str)>,
}

impl<T> Stretch<T> {
    fn new(capacity: usize) -> Stretch<T> {
        Stretch {
            first: None,
            last: None,
            lines: 0,
            header: None,
            entries: Vec::with_capacity(capacity),
            error: None,
        }
    }

    fn failed(why: &'static str) -> Stretch<T> {
        Stretch { error: Some((0, why)), ..Stretch::new(0) }
    }
}

struct Line<T> {
    seq: u64,
    time: EntryTime,
    item: Item<T>,
    /// The `prev` field, decoded.
    prev: [u8; 32],
    /// SHA-256 of the line.
    hash: [u8; 32],
}

enum Item<T> {
    Header(Value),
    Entry(T),
}

fn check_stretch<T>(
    body: &[u8],
    base: usize,
    from: &ChainPos,
    decode: &Decode<'_, T>,
) -> Stretch<T> {
    // Lines are a few hundred bytes: room for the entries in one allocation, mostly.
    let mut st = Stretch::new(body.len() / 256 + 1);
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', body) {
        // Only the very first line of the file is the header.
        let is_header = from.offset == 0 && base + start == 0;
        let line = match check_line(&body[start..nl], is_header, decode) {
            Ok(line) => line,
            Err(why) => {
                st.error = Some((st.lines, why));
                return st;
            }
        };
        match st.last {
            None => st.first = Some((line.seq, line.prev)),
            Some((_, _, hash)) => {
                let why = if line.seq != st.first.map_or(0, |(seq, _)| seq) + st.lines {
                    "sequence number out of order"
                } else if line.prev != hash {
                    "hash chain broken"
                } else {
                    ""
                };
                if !why.is_empty() {
                    st.error = Some((st.lines, why));
                    return st;
                }
            }
        }
        match line.item {
            Item::Header(value) => st.header = Some((line.time, value)),
            Item::Entry(item) => st.entries.push((line.time, item)),
        }
        st.last = Some((base + start, base + nl + 1, line.hash));
        st.lines += 1;
        start = nl + 1;
    }
    st
}

/// The end of every line this build writes: `,"prev":"<64 hex>","hash":"<64 hex>"}`.
const PREV: &[u8] = br#","prev":""#;
const HASH: &[u8] = br#"","hash":""#;
const TAIL_LEN: usize = PREV.len() + 64 + HASH.len() + 64 + 2;

fn check_line<T>(
    line: &[u8],
    is_header: bool,
    decode: &Decode<'_, T>,
) -> Result<Line<T>, &'static str> {
    const NOT_OURS: &str = "not laid out as this build writes lines";
    // The shell, by position: `{"seq":N,"time":"T",["sim_time":"S",]"kind":"K","payload":` P
    // TAIL.
    let rest = line.strip_prefix(br#"{"seq":"#).ok_or(NOT_OURS)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let seq = canonical_u64(&rest[..digits]).ok_or(NOT_OURS)?;
    let rest = rest[digits..].strip_prefix(br#","time":""#).ok_or(NOT_OURS)?;
    let (time, rest) = plain_string(rest).ok_or(NOT_OURS)?;
    let (sim_time, rest) = match rest.strip_prefix(br#","sim_time":""#) {
        Some(rest) => {
            let (sim, rest) = plain_string(rest).ok_or(NOT_OURS)?;
            (Some(sim), rest)
        }
        None => (None, rest),
    };
    let rest = rest.strip_prefix(br#","kind":""#).ok_or(NOT_OURS)?;
    let (kind, rest) = plain_string(rest).ok_or(NOT_OURS)?;
    let rest = rest.strip_prefix(br#","payload":"#).ok_or(NOT_OURS)?;
    if rest.len() < TAIL_LEN {
        return Err(NOT_OURS);
    }
    let (payload, tail) = rest.split_at(rest.len() - TAIL_LEN);
    let tail = tail.strip_prefix(PREV).ok_or(NOT_OURS)?;
    let (prev, tail) = tail.split_at(64);
    let tail = tail.strip_prefix(HASH).ok_or(NOT_OURS)?;
    let (hash_field, tail) = tail.split_at(64);
    if tail != b"\"}" {
        return Err(NOT_OURS);
    }
    // The entry hash covers the line without its `"hash"` field; the line hash, all of it.
    let without_hash = line.len() - (HASH.len() - 1) - 64 - 2;
    let mut hasher = Sha256::new();
    hasher.update(&line[..without_hash]);
    let mut entry = hasher.clone();
    entry.update(b"}");
    let mut entry_hex = [0u8; 64];
    hex_into(&entry.finalize(), &mut entry_hex);
    if hash_field != entry_hex {
        return Err("entry hash is not the hash of the line as written");
    }
    hasher.update(&line[without_hash..]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&hasher.finalize());
    // The reference compares `prev` as text with the lowercase hex of the line before: only
    // lowercase digits decode here, so comparing the bytes is the same test.
    let prev = lower_hex(prev).ok_or("`prev` is not a hash in lowercase hex")?;
    let time = OffsetDateTime::parse(time, &Rfc3339).map_err(|_| NOT_OURS)?;
    let sim_time =
        sim_time.map(|s| OffsetDateTime::parse(s, &Rfc3339)).transpose().map_err(|_| NOT_OURS)?;
    let time = EntryTime { time, sim_time };
    let payload = std::str::from_utf8(payload).map_err(|_| NOT_OURS)?;
    if !shallow(payload.as_bytes()) {
        // Read alone, a payload may nest one level deeper than inside its line.
        return Err("payload nested deeply");
    }
    let item = if is_header {
        if kind != "header" {
            return Err("the first entry is not the header");
        }
        let value: Value = serde_json::from_str(payload).map_err(|_| "invalid header")?;
        match check_header_payload(&value) {
            Some(major) if major <= u64::from(FORMAT_MAJOR) => Item::Header(value),
            _ => return Err("header format missing or newer"),
        }
    } else {
        Item::Entry(decode(kind, payload).map_err(|Refused| "payload not accepted")?)
    };
    Ok(Line { seq, time, item, prev, hash })
}

/// Whether JSON text nests at most [`MAX_DEPTH`] arrays and objects: well below the reference
/// reader's limit (128 levels for the whole line, the line's own object included).
fn shallow(text: &[u8]) -> bool {
    let opening = memchr::memchr2_iter(b'[', b'{', text).take(MAX_DEPTH + 1).count();
    if opening <= MAX_DEPTH {
        return true;
    }
    // Brackets inside strings do not nest: count only those outside.
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

const MAX_DEPTH: usize = 100;

/// A JSON number as serde reads a `u64`: no sign, no leading zero, no overflow.
fn canonical_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The text of a JSON string without escapes or control characters, and what follows its
/// closing quote (`bytes` starts after the opening quote).
fn plain_string(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let end = memchr::memchr2(b'"', b'\\', bytes)?;
    if bytes[end] != b'"' || bytes[..end].iter().any(|b| *b < 0x20) {
        return None;
    }
    Some((std::str::from_utf8(&bytes[..end]).ok()?, &bytes[end + 1..]))
}

/// 64 lowercase hex digits as 32 bytes; anything else is `None`.
fn lower_hex(digits: &[u8]) -> Option<[u8; 32]> {
    // The value of each lowercase hex digit; 0xff for every other byte.
    const VALUE: [u8; 256] = {
        let mut t = [0xffu8; 256];
        let mut d = 0;
        while d < 10 {
            t[b'0' as usize + d] = d as u8;
            d += 1;
        }
        let mut d = 0;
        while d < 6 {
            t[b'a' as usize + d] = 10 + d as u8;
            d += 1;
        }
        t
    };
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = (VALUE[pair[0] as usize], VALUE[pair[1] as usize]);
        bad |= (hi | lo) & 0xf0;
        *o = hi << 4 | lo;
    }
    (bad == 0).then_some(out)
}

fn hex_into(bytes: &[u8], out: &mut [u8; 64]) {
    // 32 bytes always make 64 digits.
    let _ = hex::encode_to_slice(bytes, out);
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Writer};
    use super::*;
    use std::path::Path;

    #[test]
    fn only_lowercase_hex_decodes() {
        let h = "00ff7a".repeat(10) + "0123";
        assert_eq!(lower_hex(h.as_bytes()).map(hex::encode), Some(h.clone()));
        assert_eq!(lower_hex(h.to_uppercase().as_bytes()), None);
        assert_eq!(lower_hex(&h.as_bytes()[1..]), None);
        for bad in [b'g', b'/', b':', b'`', b'G', 0xff, 0] {
            let mut b = h.clone().into_bytes();
            b[7] = bad;
            assert_eq!(lower_hex(&b), None);
        }
    }

    #[test]
    fn deep_payloads_are_left_to_the_reference() {
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert!(shallow(deep(MAX_DEPTH).as_bytes()));
        assert!(!shallow(deep(MAX_DEPTH + 1).as_bytes()));
        // Brackets in strings do not nest.
        let many = format!("[\"{}\"]", "[{".repeat(200));
        assert!(shallow(many.as_bytes()));
        let escaped = format!("[\"\\\"{}\"]", "[".repeat(200));
        assert!(shallow(escaped.as_bytes()));
    }

    fn decode_value(_kind: &str, payload: &str) -> Result<Value, Refused> {
        serde_json::from_str(payload).map_err(|_| Refused)
    }

    fn sample() -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let t = OffsetDateTime::UNIX_EPOCH;
        let mut w = Writer::create(&path, t, serde_json::json!({"run_id": "r"})).unwrap();
        let t = EntryTime::wall(t);
        // A run on a simulated clock carries `sim_time` too (journal format 1.2).
        let sim = EntryTime::simulated(t.time, t.time + time::Duration::days(1));
        w.append_batch(&[
            (t, "event", serde_json::json!({"event": "step_started", "step": "a", "n": [1, 2.5]})),
            (t, "signature", serde_json::json!({"x": "é\"\\\u{1}"})),
            (sim, "event", serde_json::json!({"nested": {"deep": [null, true, -3]}})),
        ])
        .unwrap();
        std::fs::read(&path).unwrap()
    }

    /// Accepted by the fast reader means accepted by the reference with the same values, on
    /// one thread or several (stretches of lines checked apart, then joined).
    fn agree(bytes: &[u8]) {
        let fast = scan(bytes, &ChainPos::start(), &decode_value);
        for threads in [2, 3] {
            let on = scan_on(bytes, &ChainPos::start(), &decode_value, threads);
            assert_eq!(on.as_ref().err(), fast.as_ref().err(), "{threads} threads");
            if let (Ok(on), Ok(fast)) = (&on, &fast) {
                assert_eq!(on.end, fast.end);
                assert_eq!(on.header, fast.header);
                assert_eq!(on.entries().collect::<Vec<_>>(), fast.entries().collect::<Vec<_>>());
            }
        }
        let reference = parse(Path::new("j"), bytes);
        if let Ok(fast) = fast {
            let reference = reference.expect("the reference accepts what the fast reader does");
            let header = fast.header.as_ref().map(|(t, v)| (*t, v));
            assert_eq!(header, Some((reference.entries[0].times(), &reference.entries[0].payload)));
            let payloads: Vec<_> = reference.entries[1..].iter().map(|e| &e.payload).collect();
            assert_eq!(fast.entries().map(|(_, v)| v).collect::<Vec<_>>(), payloads);
            let times: Vec<_> = reference.entries[1..].iter().map(|e| e.times()).collect();
            assert_eq!(fast.entries().map(|(t, _)| *t).collect::<Vec<_>>(), times);
            assert_eq!(fast.end.offset, reference.valid_len);
            assert_eq!(fast.end.next_seq, reference.entries.len() as u64);
            assert_eq!(hex::encode(fast.end.last_hash), reference.last_line_hash);
            assert_eq!(fast.torn, reference.torn_line.is_some());
        }
    }

    #[test]
    fn reads_what_the_writer_writes_as_the_reference_does() {
        let bytes = sample();
        let fast = scan(&bytes, &ChainPos::start(), &decode_value).unwrap();
        assert_eq!(fast.len(), 3);
        let sims: Vec<_> = fast.entries().map(|(t, _)| t.sim_time.is_some()).collect();
        assert_eq!(sims, [false, false, true]);
        agree(&bytes);
        // A torn last line is left out, as the reference leaves it out.
        let mut torn = bytes.clone();
        torn.extend_from_slice(br#"{"seq":4,"time":"19"#);
        let fast = scan(&torn, &ChainPos::start(), &decode_value).unwrap();
        assert!(fast.torn);
        assert_eq!(fast.end.offset, bytes.len() as u64);
        agree(&torn);
    }

    #[test]
    fn continues_a_chain_from_a_position() {
        let bytes = sample();
        let whole = scan(&bytes, &ChainPos::start(), &decode_value).unwrap();
        let first_two = memchr::memchr_iter(b'\n', &bytes).nth(1).unwrap() + 1;
        let head = scan(&bytes[..first_two], &ChainPos::start(), &decode_value).unwrap();
        let rest = scan(&bytes[first_two..], &head.end, &decode_value).unwrap();
        assert!(rest.header.is_none());
        assert_eq!(rest.end, whole.end);
        assert_eq!(rest.len(), 2);
        // Continuing from anywhere else breaks the chain.
        let mut wrong = head.end.clone();
        wrong.last_hash[0] ^= 1;
        assert_eq!(
            scan(&bytes[first_two..], &wrong, &decode_value).unwrap_err().why,
            "hash chain broken"
        );
    }

    #[test]
    fn never_accepts_what_the_reference_refuses_or_reads_differently() {
        // Every single-byte change of every line (a byte replaced by one of a few that matter
        // to JSON), and every deletion: the fast reader either refuses or agrees.
        let bytes = sample();
        let specials = [b'"', b'\\', b'0', b'9', b'a', b'e', b' ', b'}', b',', b'\n', 0x01, 0xff];
        let last_line = memchr::memrchr(b'\n', &bytes[..bytes.len() - 1]).unwrap() + 1;
        for i in 0..bytes.len() {
            for &b in &specials {
                if bytes[i] == b {
                    continue;
                }
                let mut changed = bytes.clone();
                changed[i] = b;
                // The only changes the chain cannot see cut the last line short (a torn line).
                let cuts_last_line = i >= last_line && (b == b'\n' || i == bytes.len() - 1);
                if !cuts_last_line {
                    assert!(scan(&changed, &ChainPos::start(), &decode_value).is_err(), "{i} {b}");
                }
                agree(&changed);
            }
            let mut cut = bytes.clone();
            cut.remove(i);
            agree(&cut);
        }
    }

    #[test]
    fn payloads_valid_only_to_a_lax_reader_are_refused() {
        // A number out of range or a lone surrogate passes a skipping parser but not `Value`:
        // such a line, even correctly hashed, is the reference's to judge.
        for payload in [r#"{"x":1e400}"#, r#"{"x":"\ud800"}"#] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("j.jsonl");
            let t = OffsetDateTime::UNIX_EPOCH;
            drop(Writer::create(&path, t, serde_json::json!({})).unwrap());
            let mut bytes = std::fs::read(&path).unwrap();
            let prev = sha256_hex_of_last(&bytes);
            let unhashed = format!(
                r#"{{"seq":1,"time":"1970-01-01T00:00:00Z","kind":"event","payload":{payload},"prev":"{prev}"}}"#
            );
            let hash = super::super::sha256_hex(unhashed.as_bytes());
            let line = format!("{},\"hash\":\"{hash}\"}}\n", &unhashed[..unhashed.len() - 1]);
            bytes.extend_from_slice(line.as_bytes());
            assert!(scan(&bytes, &ChainPos::start(), &decode_value).is_err(), "{payload}");
            assert!(parse(Path::new("j"), &bytes).is_err(), "{payload}");
        }
    }

    fn sha256_hex_of_last(bytes: &[u8]) -> String {
        let body = &bytes[..bytes.len() - 1];
        let start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
        super::super::sha256_hex(&body[start..])
    }

    #[test]
    fn chain_pos_after_matches_the_scan() {
        let bytes = sample();
        let fast = scan(&bytes, &ChainPos::start(), &decode_value).unwrap();
        let r = parse(Path::new("j"), &bytes).unwrap();
        let pos = ChainPos::after(&bytes, r.valid_len, r.entries.len() as u64, &r.last_line_hash);
        assert_eq!(pos, fast.end);
    }
}
