//! A minimal spin lock for the queues (the crate's only lock).
//!
//! `no_std` has no mutex; the queue paths are short and bounded (every wait inside them
//! ends after the platform's poll budget), so a test-and-set spin lock is enough. It is
//! not fair and not IRQ-safe: an OS that drains the event queue from an interrupt handler
//! must not also drain it from thread context on the same CPU with interrupts enabled.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A value protected by a spin lock.
pub(crate) struct SpinMutex<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out at most one guard at a time (acquire/release on `locked`),
// so `&SpinMutex<T>` gives exclusive access to `T` to one thread at a time, which is
// sound when `T` can be sent between threads.
unsafe impl<T: Send> Sync for SpinMutex<T> {}

impl<T> SpinMutex<T> {
    /// A new, unlocked mutex.
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Spins until the lock is free, then takes it.
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        loop {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
    }

    /// Takes the lock if it is free.
    pub(crate) fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinGuard { mutex: self })
    }

    /// The value, through exclusive access to the mutex (no locking needed).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// Exclusive access to the value of a [`SpinMutex`]; unlocks when dropped.
pub(crate) struct SpinGuard<'a, T> {
    mutex: &'a SpinMutex<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock, so no other
        // reference to the value exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; `&mut self` makes this the only access through the
        // guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::SpinMutex;

    #[test]
    fn excludes_and_counts() {
        let m = SpinMutex::new(0u64);
        let threads = 4;
        let per = if cfg!(miri) { 50 } else { 10_000 };
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..per {
                        *m.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(*m.lock(), threads * per);
    }

    #[test]
    fn try_lock_fails_while_held() {
        let mut m = SpinMutex::new(1u8);
        {
            let g = m.lock();
            assert!(m.try_lock().is_none());
            assert_eq!(*g, 1);
        }
        assert!(m.try_lock().is_some());
        *m.get_mut() = 2;
        assert_eq!(*m.lock(), 2);
    }
}
