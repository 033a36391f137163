//! The scheduler: fixed priorities, round robin among equals, preemption
//! by the timer tick. This is the simple policy the kernel starts with; the
//! joint RR+EDF scheduler with scheduling contexts replaces it.
//!
//! A thread is on the run queue exactly when it is `Running` and not the
//! current thread of a CPU.

use crate::object::tcb::{ThreadState, tcb};
use crate::state::{Kernel, PRIORITIES, TIMESLICE_TICKS};
use libipc::abi::TraceKind;

impl Kernel {
    /// Put `t` at the tail of its priority's queue.
    pub fn enqueue(&mut self, t: u64) {
        let prio = (tcb(t).get().priority as usize).min(PRIORITIES - 1);
        if self.is_queued(t) {
            return;
        }
        let tail = self.queue_tail[prio];
        {
            let th = tcb(t).get_mut();
            th.sched_prev = tail;
            th.sched_next = 0;
        }
        if tail == 0 {
            self.queue_head[prio] = t;
        } else {
            tcb(tail).get_mut().sched_next = t;
        }
        self.queue_tail[prio] = t;
        self.queue_bitmap[prio / 64] |= 1 << (prio % 64);
    }

    fn is_queued(&self, t: u64) -> bool {
        let th = tcb(t).get();
        let prio = (th.priority as usize).min(PRIORITIES - 1);
        th.sched_prev != 0 || self.queue_head[prio] == t
    }

    /// Take `t` off the run queue if it is on it.
    pub fn dequeue(&mut self, t: u64) {
        if !self.is_queued(t) {
            return;
        }
        let (prev, next, prio) = {
            let th = tcb(t).get_mut();
            let r = (th.sched_prev, th.sched_next, (th.priority as usize).min(PRIORITIES - 1));
            th.sched_prev = 0;
            th.sched_next = 0;
            r
        };
        if prev == 0 {
            self.queue_head[prio] = next;
        } else {
            tcb(prev).get_mut().sched_next = next;
        }
        if next == 0 {
            self.queue_tail[prio] = prev;
        } else {
            tcb(next).get_mut().sched_prev = prev;
        }
        if self.queue_head[prio] == 0 {
            self.queue_bitmap[prio / 64] &= !(1 << (prio % 64));
        }
    }

    /// Highest non-empty priority.
    pub fn top_priority(&self) -> Option<usize> {
        (0..self.queue_bitmap.len())
            .rev()
            .find(|&w| self.queue_bitmap[w] != 0)
            .map(|w| w * 64 + 63 - self.queue_bitmap[w].leading_zeros() as usize)
    }

    /// Make `t` runnable.
    pub fn wake(&mut self, t: u64) {
        tcb(t).get_mut().set_state(ThreadState::Running);
        if self.current() != t {
            self.enqueue(t);
        }
    }

    /// Choose what this CPU runs next: the current thread keeps the CPU
    /// unless it stopped running, its slice ran out, or a higher priority
    /// thread is ready.
    pub fn schedule(&mut self) {
        let cur = self.current();
        let cur_ok = cur != 0 && tcb(cur).get().state() == ThreadState::Running;
        let top = self.top_priority();
        if cur_ok {
            let th = tcb(cur).get();
            let prio = th.priority as usize;
            let preempt = match top {
                Some(p) => p > prio || (p == prio && th.timeslice == 0),
                None => false,
            };
            if !preempt {
                if th.timeslice == 0 {
                    tcb(cur).get_mut().timeslice = TIMESLICE_TICKS;
                }
                return;
            }
            // Back to the tail of its queue.
            self.cpu().current = 0;
            self.enqueue(cur);
        } else {
            self.cpu().current = 0;
        }
        if let Some(p) = self.top_priority() {
            let next = self.queue_head[p];
            self.dequeue(next);
            let th = tcb(next).get_mut();
            if th.timeslice == 0 {
                th.timeslice = TIMESLICE_TICKS;
            }
            self.cpu().current = next;
        }
    }

    /// Stop `t` from running: off the run queue, and not current.
    pub fn deschedule(&mut self, t: u64) {
        self.dequeue(t);
        if self.current() == t {
            self.cpu().current = 0;
        }
    }

    /// This CPU leaves the kernel for thread `t` (0: it idles). A thread
    /// other than last time is a context switch: the trace records it here,
    /// on the way out, so every path (the IPC fastpath too) records it the
    /// same way. The next kernel entry stamps its events afresh.
    pub fn ran(&mut self, t: u64) {
        let from = self.cpu().ran;
        if from != t {
            self.cpu().ran = t;
            self.event(TraceKind::Switch, t, from, 0, 0);
        }
        self.cpu().stamp = 0;
    }

    /// A timer tick charged to the current thread.
    pub fn tick(&mut self) {
        self.ticks += 1;
        let cur = self.current();
        if cur != 0 {
            let th = tcb(cur).get_mut();
            th.timeslice = th.timeslice.saturating_sub(1);
        }
    }
}
