//! The tests, in the order they run. Each file covers one object or one
//! area; each test allocates its own objects. The hostile task runs first,
//! so that every other test shows the kernel survived it; then the stress
//! tests, and the scheduling tests last, so that a trace dump at the end
//! (`rint.trace`, `tests/tests/trace.rs`) holds their events.

mod basics;
mod cnode;
mod errors;
mod fault;
mod fpu;
mod hostile;
mod ipc;
mod irq;
mod notification;
mod sched;
mod stress;
mod thread;
mod trace;
mod untyped;
mod vspace;

use crate::env::Env;
use crate::fmt::TestResult;

pub struct Test {
    pub name: &'static str,
    pub run: fn(&mut Env) -> TestResult,
}

macro_rules! tests {
    ($($module:ident :: $name:ident,)+) => {
        pub const TESTS: &[Test] = &[
            $(Test { name: stringify!($name), run: $module::$name },)+
        ];
    };
}

tests! {
    hostile::hostile,
    basics::boot_info,
    basics::layout,
    basics::initial_caps,
    basics::debug_write,
    basics::yield_now,
    untyped::retype_endpoint_and_notification,
    untyped::retype_frame,
    untyped::retype_large_frame,
    untyped::retype_cnode,
    untyped::retype_thread,
    untyped::retype_vspace_and_page_table,
    untyped::retype_untyped,
    untyped::retype_count,
    untyped::untyped_bad_type,
    untyped::untyped_bad_size,
    untyped::untyped_bad_destination,
    untyped::untyped_exhausted,
    untyped::untyped_revoke_reuses_memory,
    untyped::untyped_device,
    cnode::cnode_copy_rights,
    cnode::cnode_mint_badge,
    cnode::cnode_move,
    cnode::cnode_delete,
    cnode::cnode_revoke,
    cnode::cnode_nested,
    cnode::cnode_errors,
    cnode::cnode_identify,
    cnode::cnode_identify_errors,
    vspace::frame_map_write_read,
    vspace::frame_remap,
    vspace::frame_map_errors,
    vspace::frame_rights,
    vspace::page_tables_in_new_vspace,
    thread::thread_start,
    thread::thread_write_registers_resume,
    thread::thread_read_write_registers,
    thread::thread_suspend_resume,
    thread::thread_suspend_cancels_ipc,
    thread::thread_tls,
    thread::thread_ipc_buffer,
    thread::thread_configure_errors,
    ipc::ipc_call_reply_recv,
    ipc::ipc_reply,
    ipc::ipc_send_recv,
    ipc::ipc_nonblocking_would_block,
    ipc::ipc_nb_send_to_waiting_receiver,
    ipc::cap_transfer_grant,
    ipc::cap_transfer_without_grant,
    ipc::cap_transfer_several,
    notification::notification_signal_poll,
    notification::notification_wait_blocks,
    notification::notification_bound,
    fault::fault_page_fault,
    fault::fault_write_to_read_only,
    fault::fault_unknown_syscall,
    fault::fault_illegal_instruction,
    fault::fault_user_exception,
    fault::fault_reply_label_stops,
    fault::fault_without_handler,
    fpu::fp_state_switches,
    fpu::fp_state_fresh_thread,
    fpu::fp_state_survives_fault,
    irq::irq_control,
    irq::io_ports,
    irq::console_uart,
    trace::trace_call_reply,
    trace::trace_ring_overwrites,
    trace::trace_read_errors,
    errors::errors_bad_cptr,
    errors::errors_wrong_type,
    errors::errors_unknown_label,
    errors::errors_missing_rights,
    errors::errors_bad_message_info,
    stress::stress_ipc,
    stress::stress_retype_revoke,
    sched::sched_priorities_removed,
    sched::sched_configure_errors,
    sched::sched_admission,
    sched::sched_table_full,
    sched::sched_budget_enforced,
    sched::sched_donation,
    sched::sched_donation_after_drop,
    sched::sched_classification,
}
