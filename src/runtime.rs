//! The I/O runtime: where every connection to the outside lives.

/// The runtime every outgoing call runs on (Stripe, Hasura, Redis): two threads of its own,
/// started once per process and never stopped.
///
/// Why not the caller's runtime: actix-web runs each worker on its own single-threaded
/// runtime, and a connection reqwest opens lives (its driver task) on the runtime that opened
/// it, while the connection pool is shared by all workers. On SIGTERM an idle worker stops
/// first and its runtime takes its connections with it, so a request still in flight on
/// another worker that reused one of them failed with `STRIPE_UNAVAILABLE`. With every
/// Stripe connection opened here, and the cache's calls running here too, no worker's
/// shutdown can break another's call.
pub fn io() -> std::io::Result<tokio::runtime::Handle> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime.handle().clone());
    }
    let _one_at_a_time = STARTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime.handle().clone());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("stripe-io")
        .enable_all()
        .build()?;
    Ok(RUNTIME.get_or_init(|| runtime).handle().clone())
}
