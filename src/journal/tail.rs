//! Following a journal while another process appends to it: each [`Tail::poll`] reads and
//! verifies only the lines appended since the last look, continuing the hash chain from the last
//! verified line (what `status --watch` and the drill's watcher use, through
//! `engine::replay::Watcher`).
//!
//! A journal only grows by whole lines. Anything else makes [`Tail::poll`] answer
//! [`Growth::Reread`] and the caller reads the journal again from the start, where the full
//! reader accepts it or names the damage: the file was replaced (another inode), it shrank (a
//! torn line cut off by the next writer), it changed without growing, the last line read no
//! longer hashes to what it did, or a new line is not one the fast reader vouches for
//! ([`super::scan`]). What a tail does not see: a change to an earlier line that leaves the last
//! line read and the length alone. It reads only, for a view; the writer (`runner::drive` and
//! the commands) reads the whole journal with [`super::parse`]'s checks before it appends.

use super::scan::{scan, ChainPos, Decode};
use super::EntryTime;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What a look at a file found: which file, how long, when last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    id: (u64, u64),
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(file: &File) -> std::io::Result<Stamp> {
        let m = file.metadata()?;
        #[cfg(unix)]
        let id = {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        };
        #[cfg(not(unix))]
        let id = (0, 0);
        Ok(Stamp { id, len: m.len(), modified: m.modified().ok() })
    }
}

/// Reads a whole journal for a [`Tail`] to continue: its bytes, and the stamp of the file they
/// came from (taken before reading, so an append during the read is seen as growth).
pub fn read_stamped(path: &Path) -> std::io::Result<(Vec<u8>, Stamp)> {
    let mut file = File::open(path)?;
    let stamp = Stamp::of(&file)?;
    let mut bytes = Vec::with_capacity(stamp.len as usize + 1);
    file.read_to_end(&mut bytes)?;
    Ok((bytes, stamp))
}

/// What [`Tail::poll`] found.
#[derive(Debug)]
pub enum Growth<T> {
    /// No new complete line (perhaps part of one still being written).
    Same,
    /// The verified entries appended since the last look, in order: their times and what
    /// `decode` made of them.
    Appended(Vec<(EntryTime, T)>),
    /// The journal is not a continuation of what was read: read it again from the start (and
    /// [`Tail::restart`] there). Says why, for the log.
    Reread(String),
}

/// A reader that keeps its place in a journal: the end of the last verified line and its hash.
#[derive(Debug, Clone)]
pub struct Tail {
    path: PathBuf,
    pos: ChainPos,
    seen: Stamp,
}

impl Tail {
    /// A tail at `pos` of the journal at `path`, whose bytes up to `pos` were read from the file
    /// `stamp` describes ([`read_stamped`]).
    pub fn new(path: &Path, pos: ChainPos, stamp: Stamp) -> Tail {
        Tail { path: path.to_path_buf(), pos, seen: stamp }
    }

    /// Continues from a fresh read of the whole journal (after [`Growth::Reread`]).
    pub fn restart(&mut self, pos: ChainPos, stamp: Stamp) {
        self.pos = pos;
        self.seen = stamp;
    }

    /// Where the verified part ends.
    pub fn pos(&self) -> &ChainPos {
        &self.pos
    }

    /// Reads and verifies what was appended since the last look.
    pub fn poll<T: Send>(&mut self, decode: &Decode<'_, T>) -> Growth<T> {
        let reread = |why: &str| Growth::Reread(format!("{}: {why}", self.path.display()));
        let Ok(mut file) = File::open(&self.path) else {
            return reread("cannot open it");
        };
        let Ok(stamp) = Stamp::of(&file) else {
            return reread("cannot read its metadata");
        };
        if stamp.id != self.seen.id {
            return reread("the file was replaced");
        }
        if stamp.len < self.pos.offset {
            return reread("the file shrank");
        }
        if stamp == self.seen {
            return Growth::Same;
        }
        if stamp.len == self.seen.len {
            return reread("the file changed without growing");
        }
        // From the start of the last line read: it must still be there, unchanged.
        let mut bytes = Vec::with_capacity((stamp.len - self.pos.last_start) as usize + 1);
        if file.seek(SeekFrom::Start(self.pos.last_start)).is_err()
            || file.read_to_end(&mut bytes).is_err()
        {
            return reread("cannot read it");
        }
        let known = (self.pos.offset - self.pos.last_start) as usize;
        if self.pos.next_seq > 0 {
            let unchanged = bytes.len() >= known
                && known > 0
                && bytes[known - 1] == b'\n'
                && Sha256::digest(&bytes[..known - 1]).as_slice() == self.pos.last_hash;
            if !unchanged {
                return reread("the last entry read has changed");
            }
        }
        match scan(&bytes[known.min(bytes.len())..], &self.pos, decode) {
            Ok(s) => {
                self.pos = s.end.clone();
                self.seen = stamp;
                Growth::Appended(s.into_entries())
            }
            Err(u) => reread(&format!("new entries not verified ({u})")),
        }
    }
}
