//! Who is acting: the OS user and host (`Actor::current`) and, when the command has an Azure
//! credential, the Azure principal the claims of its ARM token name (object id, UPN or
//! application id, tenant). lifeboat reads these claims; it does not verify them (ARM verifies
//! the token when it is used): the record says "claimed by token".
//!
//! `run`, `resume`, `approve`, `attest` and `skip` identify the person this way whenever the run
//! calls Azure (its plan needs the Azure client) and `--auth` is not `none`; a run that never
//! calls Azure records the OS user only, as before. A token without an `oid` or a `tid` claim is
//! an authentication error (exit 5) before anything is journaled.

use super::Globals;
use crate::azure::{ArmClient, AuthMode, Principal};
use crate::catalog::ServiceNeed;
use crate::engine::Actor;
use crate::error::UserError;

/// The actor of a command whose Azure client is `client` (`None`: no Azure for this run): the
/// OS user, with the principal of the client's token when it has a credential. Gets a token
/// (the client caches it for the calls that follow).
pub async fn actor(client: Option<&ArmClient>) -> Result<Actor, UserError> {
    let me = Actor::current();
    let Some(client) = client else { return Ok(me) };
    match client.identify().await.map_err(crate::azure::user_error)? {
        None => Ok(me),
        Some(p) => with(me, &p),
    }
}

/// The actor whose principal `client` already identified (no token fetched): for guided mode,
/// after [`actor`] ran for the command.
pub fn known(client: Option<&ArmClient>) -> Actor {
    let me = Actor::current();
    match client.and_then(ArmClient::principal) {
        Some(p) => with(me.clone(), &p).unwrap_or(me),
        None => me,
    }
}

fn with(me: Actor, p: &Principal) -> Result<Actor, UserError> {
    let (oid, tid) = p.require_identity().map_err(crate::azure::user_error)?;
    Ok(me.with_principal(oid, p.name.clone(), tid))
}

/// The actor of `approve`, `attest` or `skip` on a run whose plan is `plan`: with a credential
/// (`--auth` not `none`) and a run that calls Azure, the principal of an ARM token too.
pub async fn for_run(plan: &crate::runbook::Plan, g: &Globals) -> Result<Actor, UserError> {
    if g.auth == AuthMode::None || !crate::steps::plan_needs(plan, ServiceNeed::Azure) {
        return Ok(Actor::current());
    }
    let conn = g.connect()?;
    actor(Some(&conn.client)).await
}
