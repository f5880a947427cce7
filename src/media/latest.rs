//! The "latest frame wins" hand-off between a capture thread and an encoder.
//!
//! A slot holds at most one value. Capture puts each new frame in; if the encoder has not
//! taken the previous one yet, that one is replaced and counted as dropped, so a slow encoder
//! always works on the freshest picture instead of a queue of stale ones.
//!
//! Offline runs (`record` unpaced, benchmarks) have no real time to keep up with and want every
//! frame: they use [`LatestSlot::put_when_empty`], which waits for the consumer instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[derive(Debug)]
struct State<T> {
    value: Option<T>,
    closed: bool,
}

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled on every put, take and close.
    changed: Condvar,
    put: AtomicU64,
    taken: AtomicU64,
    dropped: AtomicU64,
}

/// A one-value mailbox shared by a producer and a consumer; clones share the slot.
#[derive(Debug)]
pub struct LatestSlot<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for LatestSlot<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Default for LatestSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> LatestSlot<T> {
    /// An empty, open slot.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    value: None,
                    closed: false,
                }),
                changed: Condvar::new(),
                put: AtomicU64::new(0),
                taken: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// A panic on the other side must not take this side down with it: the state is a plain
    /// `Option` and stays consistent, so a poisoned lock is simply used.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores `value`; returns true if it replaced one nobody had taken (counted as dropped).
    pub fn put(&self, value: T) -> bool {
        let replaced = self.lock().value.replace(value).is_some();
        self.shared.put.fetch_add(1, Ordering::Relaxed);
        if replaced {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.changed.notify_all();
        replaced
    }

    /// Waits until the slot is empty, then stores `value`: nothing is ever dropped. Returns
    /// false (and drops `value`) if the slot was closed meanwhile.
    pub fn put_when_empty(&self, value: T) -> bool {
        let mut state = self.lock();
        while state.value.is_some() && !state.closed {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if state.closed {
            return false;
        }
        state.value = Some(value);
        drop(state);
        self.shared.put.fetch_add(1, Ordering::Relaxed);
        self.shared.changed.notify_all();
        true
    }

    /// Takes the value if there is one.
    pub fn take(&self) -> Option<T> {
        let value = self.lock().value.take();
        if value.is_some() {
            self.shared.taken.fetch_add(1, Ordering::Relaxed);
            self.shared.changed.notify_all();
        }
        value
    }

    /// Waits for a value and takes it; `None` once the slot is closed and empty.
    pub fn wait_take(&self) -> Option<T> {
        let mut state = self.lock();
        loop {
            if let Some(value) = state.value.take() {
                drop(state);
                self.shared.taken.fetch_add(1, Ordering::Relaxed);
                self.shared.changed.notify_all();
                return Some(value);
            }
            if state.closed {
                return None;
            }
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Tells the consumer no more values will come; a value still in the slot can be taken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.shared.changed.notify_all();
    }

    /// Whether [`LatestSlot::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Values replaced before anyone took them.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Values put so far.
    pub fn put_count(&self) -> u64 {
        self.shared.put.load(Ordering::Relaxed)
    }

    /// Values taken so far.
    pub fn taken(&self) -> u64 {
        self.shared.taken.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_latest_value_wins_and_drops_are_counted() {
        let slot = LatestSlot::new();
        assert!(!slot.put(1));
        assert!(slot.put(2));
        assert!(slot.put(3));
        assert_eq!(slot.take(), Some(3));
        assert_eq!(slot.take(), None);
        assert!(!slot.put(4));
        assert_eq!(slot.take(), Some(4));
        assert_eq!((slot.dropped(), slot.put_count(), slot.taken()), (2, 4, 2));
    }

    #[test]
    fn clones_share_the_slot() {
        let producer = LatestSlot::new();
        let consumer = producer.clone();
        producer.put("frame");
        assert_eq!(consumer.take(), Some("frame"));
        assert_eq!(producer.taken(), 1);
    }

    #[test]
    fn a_slow_consumer_sees_fresh_values_only() {
        let slot = LatestSlot::new();
        let consumer = slot.clone();
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while let Some(value) = consumer.wait_take() {
                seen.push(value);
                std::thread::sleep(Duration::from_millis(2));
            }
            seen
        });
        for n in 0..200u32 {
            slot.put(n);
            std::thread::sleep(Duration::from_micros(100));
        }
        slot.close();
        let seen = reader.join().unwrap();
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order");
        assert_eq!(seen.last(), Some(&199), "the last value must not be lost");
        assert_eq!(seen.len() as u64 + slot.dropped(), 200);
        assert!(slot.dropped() > 0);
    }

    #[test]
    fn put_when_empty_loses_nothing() {
        let slot = LatestSlot::new();
        let consumer = slot.clone();
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while let Some(value) = consumer.wait_take() {
                seen.push(value);
            }
            seen
        });
        for n in 0..1000u32 {
            assert!(slot.put_when_empty(n));
        }
        slot.close();
        assert_eq!(reader.join().unwrap(), (0..1000).collect::<Vec<_>>());
        assert_eq!(slot.dropped(), 0);
        assert!(!slot.put_when_empty(5), "a closed slot takes nothing");
    }

    #[test]
    fn close_wakes_a_waiting_consumer() {
        let slot: LatestSlot<u8> = LatestSlot::new();
        let consumer = slot.clone();
        let reader = std::thread::spawn(move || consumer.wait_take());
        std::thread::sleep(Duration::from_millis(20));
        slot.close();
        assert_eq!(reader.join().unwrap(), None);
        assert!(slot.is_closed());
    }
}
