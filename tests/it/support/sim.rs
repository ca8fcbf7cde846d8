//! The simulated Azure, in-process on 127.0.0.1, and ARM clients connected to it the way the
//! binary connects (`azure::connect`, `--auth none`).

use lifeboat::azure::timer::Timer;
use lifeboat::azure::{self, ArmClient, ConnectOptions};
use lifeboat::azure::{AuthMode, CloudName};
use lifeboat::sim::throttle::ThrottleConfig;
use lifeboat::sim::{self, RunningSim, SimConfig, TenantSource};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Starts a simulator.
pub async fn start(cfg: SimConfig) -> RunningSim {
    sim::start(cfg).await.expect("the simulator starts")
}

/// The `small` tenant with a frozen clock (simulated time moves only by `advance`), long-running
/// operations that end at once, and no throttling: the Azure of the recovery and step tests.
pub fn quiet() -> SimConfig {
    SimConfig {
        tenant: TenantSource::Small,
        time_scale: 0.0,
        lro_delay: Duration::ZERO,
        throttle: ThrottleConfig { enabled: false, ..ThrottleConfig::default() },
        ..SimConfig::default()
    }
}

/// What `--arm-endpoint URL --auth none` gives the binary.
fn options(url: &str) -> ConnectOptions {
    ConnectOptions {
        arm_endpoint: Some(url.to_owned()),
        auth: AuthMode::None,
        cloud: CloudName::Public,
    }
}

/// A client on `url` with the real timer.
pub fn client(url: &str) -> ArmClient {
    azure::connect(&options(url), &HashMap::new()).expect("a loopback endpoint connects").client
}

/// A client on `url` whose waits go through `timer` (scaled to the simulator's clock, or
/// virtual).
pub fn client_with_timer(url: &str, timer: Arc<dyn Timer>) -> ArmClient {
    azure::connect_with(&options(url), &HashMap::new(), timer, None)
        .expect("a loopback endpoint connects")
        .client
}

/// POSTs `body` to the simulator's control API (`/_sim/...`) and returns its JSON answer.
pub async fn control(sim: &RunningSim, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", sim.url().trim_end_matches('/')))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// Takes `region` down (`fail`) or brings it back (`restore`).
pub async fn region(sim: &RunningSim, region: &str, action: &str) {
    control(sim, &format!("/_sim/regions/{region}/{action}"), Value::Null).await;
}
