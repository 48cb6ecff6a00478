//! One write at a time per session in this process: the saves of one session wait for each
//! other instead of racing.
//!
//! A save merges its change set onto the JSON it last saw of the row and writes the result only
//! if the row still holds exactly that JSON (a compare-and-set). Saves of one session that run
//! at once all compare against the same JSON, so only one of them can succeed; the others read
//! the row again and race again, round after round: with 32 requests changing one session at
//! once, each ran its compare-and-set 26 to 28 times, and some gave up. Taking turns, each save
//! compares against what the save before it wrote (this thread remembers it, see `bases`), and
//! succeeds at once unless another process wrote in between.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The sessions being written, each with the lock that its writers queue on (first come, first
/// served). An entry lives while a writer holds or awaits its lock.
#[derive(Default)]
pub(super) struct Turns {
    by_key: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// A writer's turn on a session: the next writer of that session waits until it is dropped.
pub(super) struct Turn<'a> {
    turns: &'a Turns,
    key: &'a str,
    held: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for the turn to write session `key`.
    pub(super) async fn take<'a>(&'a self, key: &'a str) -> Turn<'a> {
        let lock = {
            let mut by_key = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(by_key.entry(key.to_owned()).or_default())
        };
        let held = lock.lock_owned().await;
        Turn {
            turns: self,
            key,
            held: Some(held),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut by_key = self
            .turns
            .by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Released under the map's lock, so that no writer can be between finding the entry
        // and queuing on it when the entry is removed.
        drop(self.held.take());
        if by_key
            .get(self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            by_key.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, rc::Rc, time::Duration};

    use super::*;

    #[test]
    fn writers_of_one_session_take_turns_and_leave_nothing_behind() {
        actix_web::rt::System::new().block_on(async {
            let turns = Rc::new(Turns::default());
            let log = Rc::new(RefCell::new(Vec::new()));
            let writers = (0..3).map(|n| {
                let (turns, log) = (Rc::clone(&turns), Rc::clone(&log));
                actix_web::rt::spawn(async move {
                    let _turn = turns.take("s").await;
                    log.borrow_mut().push(format!("start {n}"));
                    actix_web::rt::time::sleep(Duration::from_millis(5)).await;
                    log.borrow_mut().push(format!("end {n}"));
                })
            });
            // Another session's writer does not wait for them.
            let other = {
                let (turns, log) = (Rc::clone(&turns), Rc::clone(&log));
                actix_web::rt::spawn(async move {
                    actix_web::rt::time::sleep(Duration::from_millis(1)).await;
                    let _turn = turns.take("t").await;
                    log.borrow_mut().push("other".to_owned());
                })
            };
            let writers: Vec<_> = writers.collect();
            for writer in writers {
                writer.await.unwrap();
            }
            other.await.unwrap();
            let log = log.borrow();
            assert_eq!(log[0], "start 0");
            assert_eq!(log[1], "other", "{log:?}");
            assert_eq!(
                log[2..],
                ["end 0", "start 1", "end 1", "start 2", "end 2"],
                "one at a time, in order"
            );
            assert_eq!(turns.len(), 0, "no entry outlives its writers");
        });
    }
}
