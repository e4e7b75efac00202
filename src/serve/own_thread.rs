//! Work that must not queue behind the clients' connections (the shard link,
//! the ledger) runs on a thread of its own, with a runtime of its own.

use std::future::Future;

use anyhow::Context;

/// Runs `task` to completion on a new thread called `name`, on a
/// current-thread runtime built here (so a failure to build it is this call's
/// error). What `task` creates, sockets and connections, belongs to that
/// runtime.
pub(crate) fn spawn<F>(name: &str, task: F) -> anyhow::Result<std::thread::JoinHandle<()>>
where
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .with_context(|| format!("cannot start the {name} thread's runtime"))?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(task))
        .with_context(|| format!("cannot start the {name} thread"))
}
