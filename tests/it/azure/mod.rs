//! Integration tests of the Azure client and `lifeboat connectors`, against local stub servers
//! on 127.0.0.1 only. Nothing here contacts Azure or the instance metadata address.

mod backup_versions;
mod cli;
mod contract;
mod doctor;
mod journal;
mod lro;
mod negotiation;
mod pipeline;
pub mod principal;
mod proxy;
mod query;
mod redirects;
mod sim;

use lifeboat::azure::credential::{AccessToken, StaticToken};
use lifeboat::azure::pipeline::{Pipeline, PipelineOptions, RetryPolicy};
use lifeboat::azure::timer::VirtualTimer;
use lifeboat::azure::ArmClient;
use std::sync::Arc;
use std::time::Duration;

/// A fake bearer token the tests look for in logs and errors.
pub const TOKEN: &str = "eyJ0eXAiOiJKV1QifQ.eyJ1cG4iOiJ0ZXN0QGNvbnRvc28uY29tIn0.SECRET-SIGNATURE";

/// A client on the stub with virtual time (every wait is instant and recorded).
pub fn client(url: &str) -> (ArmClient, VirtualTimer) {
    let timer = VirtualTimer::new();
    let pipeline = Pipeline::new(PipelineOptions {
        endpoint: url::Url::parse(url).unwrap(),
        scope: "https://management.azure.com/.default".into(),
        token: Some(Arc::new(StaticToken(Some(AccessToken::new(TOKEN))))),
        timer: Arc::new(timer.clone()),
        retry: RetryPolicy::new(5, Duration::from_millis(500), Duration::from_secs(30), Some(1)),
        throttle: true,
        timeout: Duration::from_secs(10),
        observer: None,
    })
    .unwrap();
    (ArmClient::new(pipeline), timer)
}
