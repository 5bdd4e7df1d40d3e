//! Freeing large values off the caller's thread.
//!
//! The strings of a million export rows take a tenth of a second to free, and the records of a committed
//! stream batch about 8% of the streaming writer's time: neither the run nor the acknowledgement needs to wait
//! for it. [`free_later`] hands the value to one long-lived thread that drops what it receives, in order.

use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

/// A value to drop.
type Garbage = Box<dyn Send>;

/// The dropping thread's queue; `None` when the thread could not be started (values are then freed in place).
static QUEUE: OnceLock<Option<Sender<Garbage>>> = OnceLock::new();

/// Frees `value` on the dropping thread (started on first use), or here when there is none.
pub(crate) fn free_later<T: Send + 'static>(value: T) {
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Garbage>();
        let thread = std::thread::Builder::new().name("rapport-free".to_owned()).spawn(move || {
            for garbage in rx {
                drop(garbage);
            }
        });
        thread.ok().map(|_| tx)
    });
    if let Some(queue) = queue {
        // A send fails only when the thread is gone; the value then comes back and is freed here.
        let _ = queue.send(Box::new(value));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn every_value_handed_over_is_dropped_on_another_thread() {
        let dropped = Arc::new(AtomicUsize::new(0));
        for _ in 0..1_000 {
            free_later(Counted(dropped.clone()));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while dropped.load(Ordering::SeqCst) < 1_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 1_000);
    }
}
