//! Issue 17: run state on Azure Blob Storage. `placement`: where the state lives is checked
//! (a store in the failed region is refused).

mod placement;
