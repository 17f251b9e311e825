//! Uploads whose caller stopped waiting but which may still complete.
//!
//! A large upload runs as a task of its own, so that a caller who gives up (Ctrl-C, a timeout)
//! never cuts a request in half: the opening request must be answered for an abort to know the
//! upload. Once its whole body was handed over, such an upload completes in the background,
//! and landing then it would overwrite whatever the caller wrote to the same path since. So a
//! write or a delete of a path first waits, boundedly, for the abandoned uploads of that path to
//! finish: what the caller does after giving up lands after them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

/// The longest a write waits for an abandoned upload of its path; past it, it goes ahead.
const SETTLE_BOUND: Duration = Duration::from_mins(1);

/// The abandoned uploads of one backend that are still running, by path.
#[derive(Debug, Default)]
pub(crate) struct Landing {
    running: Mutex<HashMap<String, Vec<watch::Receiver<bool>>>>,
}

impl Landing {
    /// Starts following an upload of `path`: the task holds the [`Finished`] until it ends, the
    /// caller the [`Abandoned`] until it has the task's answer.
    pub(crate) fn follow(self: &Arc<Self>, path: &str) -> (Finished, Abandoned) {
        let (sender, receiver) = watch::channel(false);
        let abandoned = Abandoned {
            landing: Arc::clone(self),
            path: path.to_owned(),
            receiver: Some(receiver),
        };
        let finished = Finished { landing: Arc::clone(self), path: path.to_owned(), sender };
        (finished, abandoned)
    }

    /// Forgets the finished uploads of `path`.
    fn forget_finished(&self, path: &str) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(uploads) = running.get_mut(path) {
            uploads.retain(|upload| !*upload.borrow());
            if uploads.is_empty() {
                running.remove(path);
            }
        }
    }

    /// Waits until every upload of `path` abandoned by its caller has finished, at most
    /// [`SETTLE_BOUND`] in all.
    pub(crate) async fn settle(&self, path: &str) {
        let waiting = {
            let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(uploads) = running.get(path) else { return };
            uploads.clone()
        };
        let all = futures::future::join_all(waiting.into_iter().map(|mut upload| async move {
            // An error means the task is gone: finished, or dropped with the runtime.
            let _ = upload.wait_for(|finished| *finished).await;
        }));
        if tokio::time::timeout(SETTLE_BOUND, all).await.is_err() {
            tracing::warn!(
                path,
                "an abandoned upload of this path is still running; writing anyway"
            );
        }
        self.forget_finished(path);
    }
}

/// Held by an upload's task: dropping it marks the upload finished.
pub(crate) struct Finished {
    landing: Arc<Landing>,
    path: String,
    sender: watch::Sender<bool>,
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.sender.send_replace(true);
        self.landing.forget_finished(&self.path);
    }
}

/// Held by an upload's caller; dropped before [`Abandoned::answered`] (the caller gave up), it
/// records the upload as running until its task ends.
pub(crate) struct Abandoned {
    landing: Arc<Landing>,
    path: String,
    receiver: Option<watch::Receiver<bool>>,
}

impl Abandoned {
    /// The caller has the task's answer: nothing is left running.
    pub(crate) fn answered(mut self) {
        self.receiver = None;
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        let Some(receiver) = self.receiver.take() else { return };
        if *receiver.borrow() {
            return;
        }
        let mut running = self.landing.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.entry(std::mem::take(&mut self.path)).or_default().push(receiver);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_waits_for_an_abandoned_upload_of_its_path_only() {
        let landing = Arc::new(Landing::default());
        let (finished, abandoned) = landing.follow("k");
        drop(abandoned);
        let (other, answered) = landing.follow("k");
        answered.answered();
        drop(other);

        // Another path does not wait; this one waits until the task ends.
        tokio::time::timeout(Duration::from_millis(100), landing.settle("other"))
            .await
            .expect("another path does not wait");
        let waited = tokio::time::timeout(Duration::from_millis(100), landing.settle("k")).await;
        assert!(waited.is_err(), "a write waits for the abandoned upload");
        drop(finished);
        tokio::time::timeout(Duration::from_secs(5), landing.settle("k"))
            .await
            .expect("the upload finished");
        assert!(landing.running.lock().expect("lock").is_empty(), "nothing is left recorded");
    }
}
