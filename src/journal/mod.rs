//! The checkpoint of a run: an append-only, fsync'd, hash-chained JSON Lines file per run, with a
//! format version and an exclusive lock. Knows no step kinds.
