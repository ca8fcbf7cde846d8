//! Backups of connector configuration: content-addressed, incremental, encrypted snapshots in a
//! store where nothing is ever overwritten. Knows nothing of the engine.
