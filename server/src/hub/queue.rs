//! A connection's bounded outbound queue of encoded frames: the hub pushes without waiting
//! ([`FrameSender::try_push`]), the transport's writer task awaits ([`FrameReceiver::recv`]).
//!
//! Hand-written rather than `tokio::sync::mpsc` because an idle socket should cost nothing
//! here: tokio's bounded channel allocates its first block of 32 slots (about 1.5 KiB) when it
//! is created, while this queue allocates only when frames arrive and gives a large buffer back
//! once it is drained. One mutex guards the frames and the waiting writer (never held across an
//! `.await`); a push wakes the writer only when the queue goes from empty to non-empty, since a
//! writer that is awake drains it anyway.
//!
//! Bounded twice: in frames and in bytes (the frames' lengths, which share their buffers with
//! every other member's queue but keep them alive). A frame always fits an empty queue, so one
//! large frame (a `joined` with its replay) never closes a reader that keeps up.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

/// A drained queue whose buffer holds more slots than this gives the buffer back.
const KEEP_SLOTS: usize = 64;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds its capacity already.
    Full,
    /// The receiver is gone: nobody will write the frame.
    Closed,
}

/// A queue bounded to `capacity` frames (at least 1) and `capacity_bytes` bytes of frames: its
/// sending and receiving halves.
pub fn frame_queue(capacity: usize, capacity_bytes: usize) -> (FrameSender, FrameReceiver) {
    let shared = Arc::new(Shared {
        capacity: capacity.max(1),
        capacity_bytes,
        state: Mutex::new(State {
            frames: VecDeque::new(),
            bytes: 0,
            waiter: None,
            sender_gone: false,
            receiver_gone: false,
        }),
    });
    (
        FrameSender {
            shared: Arc::clone(&shared),
        },
        FrameReceiver { shared },
    )
}

#[derive(Debug)]
struct Shared {
    capacity: usize,
    capacity_bytes: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Bytes>,
    /// The summed length of `frames`.
    bytes: usize,
    /// The receiver's task, when it found the queue empty.
    waiter: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a single push, pop or flag: a panic elsewhere cannot leave it half done.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The hub's half. Dropping it ends the queue: the receiver gets what is queued, then `None`.
#[derive(Debug)]
pub struct FrameSender {
    shared: Arc<Shared>,
}

impl FrameSender {
    /// Queues `frame` without waiting.
    pub fn try_push(&self, frame: Bytes) -> Result<(), PushError> {
        self.push_within(frame, self.shared.capacity, self.shared.capacity_bytes)
    }

    /// Queues `frame` only while the queue, with it, stays within half its capacity in frames
    /// and in bytes (an empty queue takes one frame): best-effort frames never crowd out the
    /// room for frames that must arrive.
    pub fn try_push_spare(&self, frame: Bytes) -> Result<(), PushError> {
        self.push_within(
            frame,
            (self.shared.capacity / 2).max(1),
            self.shared.capacity_bytes / 2,
        )
    }

    fn push_within(&self, frame: Bytes, frames: usize, bytes: usize) -> Result<(), PushError> {
        let waiter = {
            let mut state = self.shared.lock();
            if state.receiver_gone {
                return Err(PushError::Closed);
            }
            let over_bytes =
                !state.frames.is_empty() && state.bytes.saturating_add(frame.len()) > bytes;
            if state.frames.len() >= frames || over_bytes {
                return Err(PushError::Full);
            }
            state.bytes += frame.len();
            state.frames.push_back(frame);
            if state.frames.len() == 1 {
                state.waiter.take()
            } else {
                None
            }
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
        Ok(())
    }

    /// Frames waiting to be written.
    pub fn len(&self) -> usize {
        self.shared.lock().frames.len()
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        let waiter = {
            let mut state = self.shared.lock();
            state.sender_gone = true;
            state.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

/// The writer's half.
#[derive(Debug)]
pub struct FrameReceiver {
    shared: Arc<Shared>,
}

impl FrameReceiver {
    /// The next frame, waiting for one; `None` once the sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Bytes> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next frame, waiting for one (see [`FrameReceiver::recv`]).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut state = self.shared.lock();
        if let Some(frame) = pop(&mut state) {
            return Poll::Ready(Some(frame));
        }
        if state.sender_gone {
            return Poll::Ready(None);
        }
        match &mut state.waiter {
            Some(waiter) if waiter.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The next frame if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        pop(&mut self.shared.lock())
    }
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.waiter = None;
        // Frames nobody will write: free them now rather than with the last room that holds
        // the sender.
        state.frames = VecDeque::new();
        state.bytes = 0;
    }
}

fn pop(state: &mut State) -> Option<Bytes> {
    let frame = state.frames.pop_front()?;
    state.bytes -= frame.len();
    if state.frames.is_empty() && state.frames.capacity() > KEEP_SLOTS {
        state.frames = VecDeque::new();
    }
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u8) -> Bytes {
        Bytes::from(vec![n])
    }

    #[tokio::test]
    async fn frames_arrive_in_order_and_the_queue_ends_after_the_sender() {
        let (sender, mut receiver) = frame_queue(4, usize::MAX);
        for n in 0..3 {
            sender.try_push(frame(n)).expect("room");
        }
        assert_eq!(sender.len(), 3);
        drop(sender);
        for n in 0..3 {
            assert_eq!(receiver.recv().await, Some(frame(n)));
        }
        assert_eq!(receiver.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_gone_receiver_closes() {
        let (sender, mut receiver) = frame_queue(2, usize::MAX);
        sender.try_push(frame(1)).expect("room");
        sender.try_push(frame(2)).expect("room");
        assert_eq!(sender.try_push(frame(3)), Err(PushError::Full));
        assert_eq!(receiver.try_recv(), Some(frame(1)));
        sender.try_push(frame(3)).expect("room again");
        drop(receiver);
        assert_eq!(sender.try_push(frame(4)), Err(PushError::Closed));
        assert_eq!(sender.len(), 0, "frames nobody will write are freed");
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_but_an_empty_queue_takes_any_frame() {
        let (sender, mut receiver) = frame_queue(100, 10);
        sender
            .try_push(Bytes::from(vec![0; 50]))
            .expect("an empty queue takes a frame larger than its byte bound");
        assert_eq!(sender.try_push(frame(1)), Err(PushError::Full));
        assert_eq!(receiver.try_recv().map(|frame| frame.len()), Some(50));
        for n in 0..10 {
            sender.try_push(frame(n)).expect("room");
        }
        assert_eq!(
            sender.try_push(frame(10)),
            Err(PushError::Full),
            "10 bytes queued"
        );
        assert_eq!(receiver.try_recv(), Some(frame(0)));
        sender.try_push(frame(10)).expect("a byte freed");
    }

    #[test]
    fn spare_pushes_leave_half_the_queue_for_frames_that_must_arrive() {
        let (sender, mut receiver) = frame_queue(4, 100);
        sender.try_push_spare(frame(1)).expect("spare room");
        sender.try_push_spare(frame(2)).expect("spare room");
        assert_eq!(sender.try_push_spare(frame(3)), Err(PushError::Full));
        sender
            .try_push(frame(3))
            .expect("the other half is still there");
        sender
            .try_push(frame(4))
            .expect("the other half is still there");
        while receiver.try_recv().is_some() {}
        sender
            .try_push_spare(Bytes::from(vec![0; 80]))
            .expect("an empty queue takes one spare frame");
        assert_eq!(
            sender.try_push_spare(frame(5)),
            Err(PushError::Full),
            "over half the bytes"
        );
        sender
            .try_push(frame(5))
            .expect("within the whole byte bound");
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_push_from_another_task() {
        let (sender, mut receiver) = frame_queue(8, usize::MAX);
        let waiting = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(frame) = receiver.recv().await {
                got.push(frame[0]);
            }
            got
        });
        let pushing = tokio::spawn(async move {
            for n in 0..200u8 {
                while sender.try_push(frame(n)) == Err(PushError::Full) {
                    tokio::task::yield_now().await;
                }
                if n % 7 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        pushing.await.expect("pusher");
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("the receiver saw the end of the queue")
            .expect("receiver");
        assert_eq!(got, (0..200u8).collect::<Vec<_>>());
    }

    #[test]
    fn a_drained_queue_gives_a_large_buffer_back() {
        let (sender, mut receiver) = frame_queue(1024, usize::MAX);
        for n in 0..200 {
            sender.try_push(frame(n as u8)).expect("room");
        }
        while receiver.try_recv().is_some() {}
        assert_eq!(sender.shared.lock().frames.capacity(), 0);
        sender.try_push(frame(1)).expect("room");
        assert!(sender.shared.lock().frames.capacity() <= KEEP_SLOTS);
    }
}
