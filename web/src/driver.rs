//! The platform layer: browser WebSockets, a timer for `tick`, a yield between verification
//! slices, the clock. All state lives in one `Rc<RefCell<Inner>>`; callbacks into JavaScript
//! (events) run only after the borrow is released, so a listener may call back into the node.

use crate::json;
use miniledger_core::light::{Io, LightNode};
use miniledger_core::net::ConnId;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, MessageChannel, MessageEvent, WebSocket};

#[wasm_bindgen]
extern "C" {
    /// High-resolution clock of both windows and workers.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Wall-clock milliseconds (protocol timestamps are Unix time).
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

thread_local! {
    static IGNORE_ERROR: Closure<dyn FnMut(Event)> = Closure::new(|_: Event| {});
}

struct Socket {
    ws: WebSocket,
    opened: bool,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

pub struct Inner {
    pub node: LightNode,
    sockets: HashMap<ConnId, Socket>,
    next_conn: ConnId,
    timer: Option<gloo_timers::callback::Timeout>,
    /// When `timer` fires (ms since the epoch).
    timer_at: u64,
    /// A verification slice is queued on the channel.
    work_queued: bool,
    channel: MessageChannel,
    _on_work: Option<Closure<dyn FnMut(MessageEvent)>>,
    on_event: js_sys::Function,
    /// Longest run of verification before yielding to the event loop.
    slice_ms: f64,
    closed: bool,
}

pub type Shared = Rc<RefCell<Inner>>;

pub fn start(
    node: LightNode,
    on_event: js_sys::Function,
    slice_ms: f64,
) -> Result<Shared, JsValue> {
    let shared = Rc::new(RefCell::new(Inner {
        node,
        sockets: HashMap::new(),
        next_conn: 1,
        timer: None,
        timer_at: u64::MAX,
        work_queued: false,
        channel: MessageChannel::new()?,
        _on_work: None,
        on_event,
        slice_ms,
        closed: false,
    }));
    let weak = Rc::downgrade(&shared);
    let on_work = Closure::<dyn FnMut(MessageEvent)>::new(move |_| {
        if let Some(shared) = weak.upgrade() {
            work(&shared);
        }
    });
    {
        let mut inner = shared.borrow_mut();
        inner
            .channel
            .port1()
            .set_onmessage(Some(on_work.as_ref().unchecked_ref()));
        inner._on_work = Some(on_work);
    }
    Ok(shared)
}

/// Runs `f` on the node, then does its I/O and delivers its events.
pub fn with_node<R>(shared: &Shared, f: impl FnOnce(&mut LightNode, u64) -> R) -> R {
    let result = {
        let mut inner = shared.borrow_mut();
        f(&mut inner.node, now_ms())
    };
    pump(shared, Vec::new());
    queue_work(shared);
    result
}

/// Closes every socket and stops the timers; the node answers queries but does nothing more.
pub fn close(shared: &Shared) {
    let mut inner = shared.borrow_mut();
    inner.closed = true;
    inner.timer = None;
    for (_, socket) in inner.sockets.drain() {
        socket.ws.set_onclose(None);
        socket.ws.set_onmessage(None);
        socket.ws.set_onopen(None);
        let _ = socket.ws.close();
    }
    inner.channel.port1().set_onmessage(None);
}

/// Verifies blocks for up to `slice_ms`, then yields (a message to ourselves, which unlike a
/// nested setTimeout is not clamped to 4 ms) if there may be more.
fn work(shared: &Shared) {
    let mut events = Vec::new();
    let more = {
        let mut inner = shared.borrow_mut();
        inner.work_queued = false;
        if inner.closed {
            return;
        }
        let start = performance_now();
        loop {
            let t0 = performance_now();
            let now = now_ms();
            if !inner.node.step(now) {
                break false;
            }
            let took = performance_now() - t0;
            while let Some(event) = inner.node.poll_event() {
                events.push(json::event(&event, took));
            }
            if performance_now() - start >= inner.slice_ms {
                break true;
            }
        }
    };
    pump(shared, events);
    if more {
        queue_work(shared);
    }
}

fn queue_work(shared: &Shared) {
    let mut inner = shared.borrow_mut();
    if !inner.work_queued && !inner.closed {
        inner.work_queued = true;
        let _ = inner.channel.port2().post_message(&JsValue::NULL);
    }
}

/// Performs the node's socket work, re-arms the timer, then hands `events` and the node's own
/// events to the listener.
fn pump(shared: &Shared, mut events: Vec<Value>) {
    {
        let mut inner = shared.borrow_mut();
        if inner.closed {
            return;
        }
        while let Some(io) = inner.node.poll_io() {
            do_io(shared, &mut inner, io);
        }
        while let Some(event) = inner.node.poll_event() {
            events.push(json::event(&event, 0.0));
        }
        arm_timer(shared, &mut inner);
    }
    if events.is_empty() {
        return;
    }
    let on_event = shared.borrow().on_event.clone();
    let text = Value::Array(events).to_string();
    if let Err(e) = on_event.call1(&JsValue::NULL, &JsValue::from_str(&text)) {
        web_sys_log(&format!("event listener threw: {e:?}"));
    }
}

fn web_sys_log(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(message));
}

/// `tick` at the node's next deadline, between 10 ms (no busy loop while a due redial waits
/// for a free peer slot) and 1 s. An earlier timer already set is kept, so a stream of frames
/// cannot keep pushing the tick back.
fn arm_timer(shared: &Shared, inner: &mut Inner) {
    let now = now_ms();
    let delay = inner
        .node
        .next_deadline()
        .saturating_sub(now)
        .clamp(10, 1_000);
    if inner.timer.is_some() && inner.timer_at <= now + delay {
        return;
    }
    let weak = Rc::downgrade(shared);
    inner.timer_at = now + delay;
    inner.timer = Some(gloo_timers::callback::Timeout::new(
        delay as u32,
        move || {
            if let Some(shared) = weak.upgrade() {
                {
                    let mut inner = shared.borrow_mut();
                    // This timeout is the one running; dropping it is safe (wasm-bindgen frees a
                    // running closure after it returns) and lets the pump below arm the next one.
                    inner.timer = None;
                    inner.timer_at = u64::MAX;
                }
                with_node(&shared, |node, now| node.tick(now));
            }
        },
    ));
}

fn do_io(shared: &Shared, inner: &mut Inner, io: Io) {
    match io {
        Io::Send { conn, frame } => {
            if let Some(socket) = inner.sockets.get(&conn) {
                if socket.ws.send_with_str(&frame).is_err() {
                    let _ = socket.ws.close();
                }
            }
        }
        Io::Close { conn, reason } => {
            if let Some(socket) = inner.sockets.get(&conn) {
                // Close reasons are limited to 123 bytes.
                let reason: String = reason.chars().take(60).collect();
                let _ = socket.ws.close_with_code_and_reason(1000, &reason);
            }
        }
        Io::Dial { address } => dial(shared, inner, address),
    }
}

fn dial(shared: &Shared, inner: &mut Inner, address: String) {
    let conn = inner.next_conn;
    inner.next_conn += 1;
    let ws = match WebSocket::new(&address) {
        Ok(ws) => ws,
        Err(_) => {
            // A malformed address: report it as a failed dial on the next turn.
            let weak = Rc::downgrade(shared);
            gloo_timers::callback::Timeout::new(0, move || {
                if let Some(shared) = weak.upgrade() {
                    with_node(&shared, |node, now| node.on_dial_failed(&address, now));
                }
            })
            .forget();
            return;
        }
    };
    let opened = address.clone();
    let on_open = callback(shared, move |inner: &mut Inner, _: Event| {
        if let Some(socket) = inner.sockets.get_mut(&conn) {
            socket.opened = true;
        }
        inner.node.on_open(conn, &opened, now_ms());
    });
    let on_message = callback(shared, move |inner: &mut Inner, event: MessageEvent| {
        if let Some(text) = event.data().as_string() {
            inner.node.on_frame(conn, &text, now_ms());
        }
    });
    let dialed = address;
    let on_close = callback(shared, move |inner: &mut Inner, _: CloseEvent| {
        let now = now_ms();
        match inner.sockets.remove(&conn) {
            Some(socket) if socket.opened => inner.node.on_closed(conn, now),
            _ => inner.node.on_dial_failed(&dialed, now),
        }
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    // The close event that follows says everything; but an `error` event nobody listens to is
    // thrown by Node.js's `ws` (an EventEmitter): a refused redial killed the process. One
    // handler for every socket, alive for good: errors may come after `close` (a socket closed
    // while still connecting).
    IGNORE_ERROR.with(|f| ws.set_onerror(Some(f.as_ref().unchecked_ref())));
    inner.sockets.insert(
        conn,
        Socket {
            ws,
            opened: false,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        },
    );
}

/// A socket callback that runs `f` on the node state, then pumps.
fn callback<E: 'static + wasm_bindgen::convert::FromWasmAbi>(
    shared: &Shared,
    mut f: impl FnMut(&mut Inner, E) + 'static,
) -> Closure<dyn FnMut(E)> {
    let weak: Weak<RefCell<Inner>> = Rc::downgrade(shared);
    Closure::new(move |event: E| {
        let Some(shared) = weak.upgrade() else { return };
        {
            let mut inner = shared.borrow_mut();
            if inner.closed {
                return;
            }
            f(&mut inner, event);
        }
        pump(&shared, Vec::new());
        queue_work(&shared);
    })
}
