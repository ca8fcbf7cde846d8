//! The Azure client: credentials, the ARM pipeline (request IDs, retries, throttling, long-running
//! operations, paging), typed resources that round-trip unknown fields. Knows nothing of runbooks.
