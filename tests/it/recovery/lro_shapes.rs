//! A region-outage recovery under each long-running-operation shape ARM's RPC allows (issue 12
//! item 5): every setting is live at the end, and the simulator's request log shows that no
//! write was counted as confirmed before its operation ended: the last request of each write's
//! logical call (its correlation ID: the write and its polls) came at or after the simulated
//! time the operation ended (`confirmed_at`).

use crate::recovery::common::*;
use lifeboat::sim::throttle::ThrottleConfig;
use lifeboat::sim::{self, LroShape, SimConfig, TenantSource};
use std::time::Duration;

async fn recover_under(shape: LroShape, run: &str) {
    // The clock runs (20 simulated seconds per second) so operations take time to end.
    let sim = sim::start(SimConfig {
        tenant: TenantSource::Small,
        time_scale: 20.0,
        lro_delay: Duration::from_secs(4),
        throttle: ThrottleConfig { enabled: false, ..ThrottleConfig::default() },
        lro_shape: shape,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let world = World::new();
    let snapshot = take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), run);
    drive_to_end(&sim, &world, run, &args, &Kill::default()).await.unwrap();
    assert_recovered(&sim, &world, &snapshot).await;

    let log = sim.requests();
    let writes: Vec<_> = log
        .iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "PATCH") && r.status < 300)
        // The connectors and their DevOps resources (support tickets are not long-running).
        .filter(|r| r.path.contains("/Microsoft.Security/"))
        .collect();
    assert!(!writes.is_empty(), "{shape}: the recovery wrote");
    let mut waited = 0;
    for w in &writes {
        let confirmed =
            w.confirmed_at.unwrap_or_else(|| panic!("{shape}: {} has no confirmed_at", w.path));
        let last = log
            .iter()
            .filter(|r| r.correlation_id == w.correlation_id)
            .map(|r| r.time)
            .fold(f64::MIN, f64::max);
        assert!(
            last >= confirmed,
            "{shape}: {} {} was counted as confirmed at {last} s, before its operation ended at {confirmed} s",
            w.method,
            w.path
        );
        if confirmed > w.time {
            waited += 1;
        }
    }
    if shape != LroShape::Sync200 {
        assert!(waited > 0, "{shape}: some write was long-running");
    }
    sim.shutdown().await.unwrap();
}

macro_rules! shape_tests {
    ($($name:ident => $shape:expr,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            recover_under($shape, stringify!($name)).await;
        }
    )*};
}

shape_tests! {
    recovery_under_lro_sync200 => LroShape::Sync200,
    recovery_under_lro_created201_async => LroShape::Created201Async,
    recovery_under_lro_accepted202_location => LroShape::Accepted202Location,
    recovery_under_lro_accepted202_async => LroShape::Accepted202Async,
    recovery_under_lro_accepted202_both => LroShape::Accepted202Both,
    recovery_under_lro_ok200_async => LroShape::Ok200Async,
    recovery_under_lro_created201_no_header => LroShape::Created201NoHeader,
    recovery_under_lro_mixed => LroShape::Mixed(12),
}
