//! Operation metering. Boa runs a script as a future that yields each time a budget of
//! instruction cost units is spent (every opcode has a fixed cost): polling it ourselves and
//! counting the yields gives a count of operations, not of time, so every node stops a runaway
//! call at the same instruction. Functions that native builtins call back run outside this loop;
//! the prelude (prelude.js) replaces or removes the builtins that would do that.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// Result of a metered run.
pub enum Metered<T> {
    Done {
        value: T,
        steps: u64,
    },
    /// The budget ran out after `steps` steps; the future was dropped mid-run.
    Exhausted {
        steps: u64,
    },
}

/// Polls `future` until it completes or has yielded `max_steps` times.
pub fn run<F: Future>(future: F, max_steps: u64) -> Metered<F::Output> {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let mut steps = 0;
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return Metered::Done { value, steps },
            Poll::Pending => {
                steps += 1;
                if steps >= max_steps {
                    return Metered::Exhausted { steps };
                }
            }
        }
    }
}

fn noop_waker() -> Waker {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(|_| RAW, |_| {}, |_| {}, |_| {});
    const RAW: RawWaker = RawWaker::new(std::ptr::null(), &VTABLE);
    // SAFETY: every vtable function ignores the (null) data pointer.
    unsafe { Waker::from_raw(RAW) }
}
