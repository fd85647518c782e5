//! The contract every transport, protocol and loop keeps: asyncio's
//! rules, numbered so that tests can name the rule they prove
//! (`framework/tests/tcp_contract/main.rs::t10_high_zero_forces_low_zero`).
//!
//! Names follow asyncio (`write`, `data_received`, `get_extra_info`, …) so
//! that an asyncio user recognises everything; where Rust demands a
//! different shape (callbacks receive `&mut Transport` instead of storing
//! it), the rule says so. Each rule lists the tests that prove it, over
//! real sockets, pipes and child processes.
//!
//! This module holds documentation only.
//!
//! # Transports
//!
//! **T1** Transports are made by the loop (`create_server`,
//!   `create_connection`, `create_datagram_endpoint`, `subprocess_exec`,
//!   `connect_read_pipe`, `connect_write_pipe`), never by user code; the loop
//!   calls `connection_made(transport)` once the channel is established.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/main.rs`: `t1_the_loop_makes_transports_and_calls_connection_made_on_both_sides`
//!   - `framework/tests/tls_contract/main.rs`: `t1_t4_t7_t13_echo_between_shardloop_client_and_server_with_extra_info`
//!
//! **T2** Transports and protocols live on one shard and are `!Send`; a
//!   compile-fail doctest proves it.
//!
//!   Tests: the `compile_fail` doctests on [`Transport`](crate::Transport)
//!   and [`DatagramTransport`](crate::DatagramTransport).
//!
//! **T3** `close()`: stop receiving at once; flush what is buffered; then
//!   call `connection_lost(None)` once. A second `close()` does nothing.
//!   `is_closing()` is true from `close()`/`abort()` on. Beyond asyncio:
//!   closing a socket that still has unread input makes the kernel send a
//!   reset, which can destroy the tail of what was just flushed; so after the
//!   flush, shut down the write side and discard input until the peer closes
//!   (nginx's lingering close), or until a whole `linger_timeout` passes in
//!   which the peer neither sent anything nor acknowledged any byte still
//!   in the kernel's send queue. The peer receives every byte, then a clean
//!   FIN. A peer that only keeps sending, with nothing of ours left to
//!   acknowledge, holds the lingering close for `linger_time` at most
//!   (nginx's `lingering_time`, 30 s). A graceful runtime shutdown waits
//!   for lingering closes too. The peer's FIN (or reset) ends a lingering
//!   close at once whatever state it arrived in — while the transport
//!   flushed, or between its flush and `connection_lost`: its edge is not
//!   repeated, so the transport keeps it and the lingering close reads at
//!   its start.
//!
//!   Tests:
//!   - `framework/tests/virtual_time.rs`: `t3_a_lingering_close_fed_without_end_is_held_for_linger_time_of_loop_time_then_dropped`
//!   - `framework/tests/virtual_time.rs`: `t3_a_peer_fin_that_came_before_connection_lost_ends_the_lingering_close_without_a_timer`
//!   - `framework/src/transport/lifecycle.rs`: `t3_a_readable_edge_while_finishing_is_kept_for_the_lingering_close`
//!   - `framework/src/transport/lifecycle.rs`: `t3_close_flushes_then_finishes_once_and_a_second_close_does_nothing`
//!   - `framework/src/transport/timeouts.rs`: `t3_a_lingering_close_goes_on_while_acknowledged_and_for_linger_time_while_fed`
//!   - `framework/tests/tcp_contract/writes.rs`: `t3_close_flushes_multi_megabyte_queue_to_slow_reader_before_lost`
//!   - `framework/tests/tcp_contract/writes.rs`: `t3_close_stops_receiving_at_once`
//!   - `framework/tests/tcp_contract/writes.rs`: `t3_lingering_close_delivers_answer_then_fin_while_peer_still_sends`
//!   - `framework/tests/tcp_contract/main.rs`: `t3_a_peer_that_only_keeps_sending_cannot_hold_a_lingering_close_beyond_linger_time`
//!   - `framework/tests/udp_contract.rs`: `t3_t6_close_and_abort_call_connection_lost_once_on_a_later_iteration`
//!   - `apps/tests/drain.rs`: `sigterm_drain_waits_for_slow_readers_every_accepted_byte_comes_back_then_a_clean_eof`
//!
//! **T4** `get_extra_info(name, default)`: `peername`, `sockname`, `socket`
//!   (the raw fd or a borrowed socket); over TLS also `cipher` (suite name,
//!   protocol version, secret bits), `peercert`, `compression` (None),
//!   `sslcontext`; pipes: `pipe`; subprocesses: `subprocess`. An unknown name
//!   returns the default.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/writes.rs`: `t4_sockname_still_answers_in_connection_lost_after_abort_and_after_a_reset`
//!   - `framework/tests/tcp_contract/writes.rs`: `t4_get_extra_info_names_and_default`
//!   - `framework/tests/tls_contract/main.rs`: `t1_t4_t7_t13_echo_between_shardloop_client_and_server_with_extra_info`
//!   - `framework/tests/udp_contract.rs`: `t4_sockname_still_answers_after_abort`
//!   - `framework/tests/unix_and_interop.rs`: `l2_unix_server_and_connection_echo_with_t4_t7_t13`
//!
//! **T5** `pause_reading()`: no `data_received` until `resume_reading()`;
//!   data (and EOF) that arrived meanwhile is delivered after resume, in
//!   order. Both are idempotent; `is_reading()` tells the state.
//!
//!   Tests:
//!   - `framework/tests/subprocess.rs`: `t5_a_paused_stdout_holds_output_and_eof_until_resumed`
//!   - `framework/tests/tcp_contract/writes.rs`: `t5_pause_reading_holds_data_and_eof_until_resume_in_order`
//!   - `framework/src/transport/lifecycle.rs`: `t5_input_that_came_while_paused_is_read_after_resume_and_never_after_eof`
//!
//! **T6** `abort()`: close now, drop buffered data, receive nothing more;
//!   `connection_lost(None)` follows on a later loop iteration, not inside
//!   `abort()`.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/writes.rs`: `t6_abort_discards_queue_and_lost_follows_later`
//!   - `framework/src/transport/lifecycle.rs`: `t6_abort_skips_the_flush_and_lost_follows_once`
//!   - `framework/tests/udp_contract.rs`: `t3_t6_close_and_abort_call_connection_lost_once_on_a_later_iteration`
//!
//! **T7** `can_write_eof()`: true for TCP, Unix sockets and write pipes;
//!   false for TLS.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/writes.rs`: `t7_can_write_eof_for_tcp`
//!   - `framework/tests/tls_contract/main.rs`: `t1_t4_t7_t13_echo_between_shardloop_client_and_server_with_extra_info`
//!   - `framework/tests/unix_and_interop.rs`: `l2_unix_server_and_connection_echo_with_t4_t7_t13`
//!
//! **T8** `get_write_buffer_size()`: bytes queued and not yet handed to the
//!   kernel.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/main.rs`: `t8_write_buffer_size_counts_only_unsent_bytes`
//!
//! **T9** `get_write_buffer_limits()` returns `(low, high)`.
//!
//!   Tests: the T10 tests read every limit back with
//!   `get_write_buffer_limits`.
//!
//! **T10** `set_write_buffer_limits(high, low)`, both optional: no high and
//!   no low → 64 KiB and 16 KiB; only low → high = 4 × low; only high → low =
//!   high / 4 (so high 0 forces low 0); low > high is a clear error. Setting
//!   limits re-checks the buffer at once and may pause.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/main.rs`: `t10_high_zero_forces_low_zero`
//!   - `framework/tests/tcp_contract/main.rs`: `t10_setting_limits_rechecks_the_buffer_at_once`
//!   - `framework/tests/tcp_contract/main.rs`: `t10_limits_defaults_derivations_and_invalid`
//!
//! **T11** `write(data)` never blocks: try the socket when nothing is queued,
//!   queue the rest, flush when writable. Bytes leave in the order written.
//!   Empty data is a no-op. After `write_eof()` a write is an error; after
//!   `close()`/`abort()` or a lost connection it is dropped, and the caller
//!   can tell.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/writes.rs`: `t11_writes_never_block_and_keep_order_through_the_queue`
//!   - `framework/tests/tcp_contract/writes.rs`: `t11_write_after_write_eof_is_an_error_and_after_close_is_dropped`
//!
//! **T12** `writelines(parts)` equals writing each part in turn, but costs
//!   one vectored syscall when the socket takes it, and obeys flow control
//!   exactly like `write` (CPython once forgot that: gh-127655).
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/writes.rs`: `t12_writelines_equals_the_writes_in_turn`
//!
//! **T13** `write_eof()`: after the queue drains, shut down the write side;
//!   data can still be received. On TLS it is an unsupported-operation error.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/writes.rs`: `t13_write_eof_flushes_then_half_closes_and_data_still_arrives`
//!   - `framework/tests/tls_contract/main.rs`: `t1_t4_t7_t13_echo_between_shardloop_client_and_server_with_extra_info`
//!
//! **T14** `DatagramTransport::sendto(data, addr)`: `None` sends to the
//!   remote address given at creation; on a connected endpoint any other
//!   address is an error. Never blocks; queues when the kernel says
//!   WouldBlock. `abort` as T6.
//!
//!   Tests:
//!   - `framework/tests/udp_contract.rs`: `t14_sendto_none_goes_to_the_remote_and_other_addresses_are_rejected`
//!   - `framework/tests/udp_contract.rs`: `t14_a_65507_byte_datagram_round_trips_whole`
//!
//! **T15** Subprocess transport: `get_pid`, `get_pipe_transport(0|1|2)` (None
//!   when that stream was not piped; other fds None), `get_returncode` (None
//!   until exit), `kill` (SIGKILL), `send_signal(n)`, `terminate` (SIGTERM),
//!   `close()` (terminate if still running, then close every pipe transport).
//!
//!   Tests:
//!   - `framework/tests/subprocess.rs`: `t15_stdin_written_from_connection_made_flows_through_cat`
//!   - `framework/tests/subprocess.rs`: `t15_terminate_kill_and_close_end_the_child_with_its_signal`
//!
//! **T16** `sendfile(file, offset, count)` (asyncio's `loop.sendfile`,
//!   beyond the seed): the range leaves after every byte written before it
//!   and before every byte written after; it counts in the write buffer for
//!   flow control; a file shorter than the count fails the connection with
//!   `UnexpectedEof`; over TLS the range is read and written encrypted.
//!   `write_then_sendfile(head, …)` sends the head with `MSG_MORE` so it
//!   shares packets with the file.
//!
//!   Tests:
//!   - `framework/tests/sendfile.rs`: `t16_sendfile_bytes_leave_after_what_was_written_before_and_before_what_is_written_after`
//!   - `framework/tests/sendfile.rs`: `t16_a_queued_file_counts_for_flow_control_and_a_slow_reader_gets_it_all`
//!   - `framework/tests/sendfile.rs`: `t16_a_file_shorter_than_the_count_fails_the_connection_with_unexpected_eof`
//!   - `framework/tests/sendfile.rs`: `t16_over_tls_sendfile_reads_and_writes_the_range_encrypted`
//!   - `framework/tests/sendfile.rs`: `t16_write_then_sendfile_keeps_the_head_before_the_file_queued_or_not`
//!
//! # Protocols
//!
//! **P1** Three kinds: stream `Protocol` (TCP, TLS, Unix, pipes),
//!   `DatagramProtocol` (UDP), `SubprocessProtocol`. Every callback has an
//!   empty default, so a protocol implements only what it needs.
//!
//!   Tests:
//!   - `framework/tests/protocol_contract.rs`: `p1_a_protocol_with_no_callbacks_serves_and_closes_on_eof`
//!
//! **P2** `connection_made` and `connection_lost` are called exactly once per
//!   successful connection; every other callback comes between them.
//!
//!   Tests:
//!   - `framework/tests/protocol_contract.rs`: `p2_connection_made_and_lost_exactly_once_when_closed_from_both_sides_at_once`
//!   - `framework/tests/robustness.rs`: `p2_a_panic_in_one_entry_of_a_deferred_batch_does_not_hold_up_the_others_connection_lost`
//!
//! **P3** `connection_lost(error)`: `None` after a regular EOF or a local
//!   close/abort; the error otherwise (reset, timeout, TLS failure…).
//!
//!   Tests:
//!   - `framework/tests/protocol_contract.rs`: `p3_connection_lost_reports_a_reset`
//!   - `framework/tests/tcp_contract/main.rs`: `p3_p8_a_reset_while_paused_reports_the_error_and_never_resumes`
//!   - `framework/tests/tls_contract/main.rs`: `p3_a_peer_that_closes_without_close_notify_is_reported_as_truncation`
//!   - `framework/src/transport/lifecycle.rs`: `p3_the_first_fatal_error_is_what_lost_reports`
//!
//! **P4** `data_received(data)`: never empty, always in order, chunked
//!   arbitrarily.
//!
//!   Tests:
//!   - `framework/tests/protocol_contract.rs`: `p6_state_machine_and_p4_data_in_order_never_empty`
//!
//! **P5** `eof_received()` at most once, never followed by `data_received`.
//!   Returning false closes the transport; true leaves closing to the
//!   protocol (half-open). On TLS, true does not keep the connection open.
//!
//!   Tests:
//!   - `framework/src/transport/lifecycle.rs`: `p5_only_eof_received_true_on_a_half_closable_transport_stays_open`
//!   - `framework/tests/protocol_contract.rs`: `p5_eof_received_true_keeps_half_open_and_we_can_still_write`
//!   - `framework/tests/protocol_contract.rs`: `p5_eof_received_false_closes_the_transport`
//!   - `framework/tests/tls_contract/main.rs`: `p5_eof_received_true_does_not_keep_a_tls_connection_open`
//!
//! **P6** Stream state machine, enforced and tested: `connection_made →
//!   data_received* → eof_received? → connection_lost`.
//!
//!   Tests:
//!   - `framework/tests/protocol_contract.rs`: `p6_state_machine_and_p4_data_in_order_never_empty`
//!
//! **P7** `datagram_received(data, addr)`; `error_received(error)` when a
//!   send or receive fails (e.g. ICMP port unreachable on a connected
//!   endpoint) — the endpoint stays usable.
//!
//!   Tests:
//!   - `framework/tests/udp_contract.rs`: `p7_error_received_after_sending_to_a_closed_port_and_the_endpoint_stays_usable`
//!
//! **P8** `pause_writing()` once when the queue goes *strictly over* high
//!   (not at equal, and not again while paused however much it grows);
//!   `resume_writing()` once when it drains to *at or under* low. Always
//!   paired; correct with either mark at zero.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/main.rs`: `p8_queue_exactly_at_high_does_not_pause`
//!   - `framework/tests/tcp_contract/main.rs`: `p8_one_byte_over_high_pauses_once_and_drain_to_low_resumes_once`
//!   - `framework/tests/tcp_contract/main.rs`: `p8_high_zero_pauses_whenever_queue_non_empty_and_resumes_at_empty`
//!   - `framework/tests/tcp_contract/main.rs`: `p8_writelines_pauses_like_write`
//!   - `framework/tests/tcp_contract/main.rs`: `p3_p8_a_reset_while_paused_reports_the_error_and_never_resumes`
//!   - `framework/tests/tls_contract/main.rs`: `p8_pause_and_resume_count_plaintext_to_a_peer_that_does_not_read`
//!   - `framework/tests/udp_contract.rs`: `p8_answers_queued_over_high_during_a_batch_pause_once_and_resume_once`
//!
//! **P9** Subprocess: `pipe_data_received(fd, data)` for stdout/stderr,
//!   `pipe_connection_lost(fd, error)` when a pipe closes, `process_exited()`
//!   when the child exits; `connection_lost` only after the child exited and
//!   all pipes closed.
//!
//!   Tests:
//!   - `framework/tests/subprocess.rs`: `p9_output_exit_code_and_the_order_of_callbacks`
//!
//! **P10** Rust adaptation: callbacks receive `&mut` access to their
//!   transport, and a protocol is never re-entered from inside one of its own
//!   transport calls. A flow-control callback triggered by `write` is
//!   delivered as soon as the current callback returns, before any other
//!   event of that connection; the buffer size is already visible to
//!   `get_write_buffer_size()` inside the callback.
//!
//!   Tests:
//!   - `framework/tests/tcp_contract/main.rs`: `p10_pause_is_delivered_when_the_writing_callback_returns_with_size_visible`
//!   - `framework/src/transport/lifecycle.rs`: `p10_a_due_pause_is_taken_once_and_asks_for_a_settle`
//!
//! **P11** Beyond asyncio: `drain_started(transport)` tells a connection
//!   that the server began a graceful drain (SIGTERM, or a takeover by a
//!   new process). It comes at most once, between `connection_made` and
//!   `connection_lost`, after the input the kernel already held was
//!   delivered; for a connection that has not sent its first byte, only
//!   once the drain's grace for new connections passed. The default
//!   `close()`s (T3). A protocol with framing overrides it to end at a
//!   boundary of its own — finish the request being received, answer it,
//!   then close — and the drain aborts whatever is still open at its
//!   deadline.
//!
//!   Tests:
//!   - `framework/tests/runtime/udp.rs`: `p11_drain_started_is_told_once_and_a_protocol_ends_its_request_before_closing`
//!   - `framework/tests/runtime/main.rs`: `a_request_racing_the_drain_is_served_and_a_silent_connection_closed_after_its_grace`
//!
//! # Loop
//!
//! **L1** `call_soon`, `call_later`/`call_at` (cancellable handles), `stop`,
//!   `run_forever`, and a run-until-done for clients. Timers run on the
//!   loop's [`Clock`](crate::Clock): the system's, or a manual one that
//!   tests move by hand.
//!
//!   Tests:
//!   - `framework/tests/virtual_time.rs`: `l1_call_later_runs_in_deadline_order_as_the_clock_passes_each`
//!   - `framework/tests/loop_contract.rs`: `l1_call_soon_is_fifo_and_runs_on_a_later_iteration`
//!   - `framework/tests/loop_contract.rs`: `l1_call_later_and_call_at_run_by_deadline_and_cancel_prevents`
//!   - `framework/tests/loop_contract.rs`: `l1_stop_ends_run_forever_and_a_stop_before_running_does_one_iteration`
//!   - `framework/tests/loop_contract.rs`: `l1_running_the_loop_from_inside_itself_is_an_error`
//!   - `framework/tests/loop_contract.rs`: `l1_a_panicking_callback_is_logged_and_the_loop_goes_on`
//!
//! **L2** `create_server(factory, addr)` → a server with its sockets,
//!   `close()` and `wait_closed()`; `create_connection(factory, addr)` and
//!   `create_connection(factory, sock)` for an already connected socket (TCP
//!   or Unix, as in the seed's socketpair example); Unix-socket servers too.
//!   Failures asyncio raises from `run_until_complete` (address in use,
//!   refused) come back as an error at the call. A listening socket that
//!   stops listening under the server (another process holding it called
//!   `shutdown(2)`: every accept fails with EINVAL) is closed, and the loop
//!   serves on; it is never retried in a loop.
//!
//!   Tests:
//!   - `framework/tests/loop_contract.rs`: `l2_address_in_use_is_returned_naming_the_address`
//!   - `framework/tests/loop_contract.rs`: `l2_connection_refused_is_returned_from_create_connection`
//!   - `framework/tests/loop_contract.rs`: `l2_server_close_stops_accepting_and_wait_closed_waits_for_its_connections`
//!   - `framework/tests/loop_contract.rs`: `l2_server_close_refuses_the_next_connect_at_once_and_empties_sockets`
//!   - `framework/tests/unix_and_interop.rs`: `l2_unix_server_and_connection_echo_with_t4_t7_t13`
//!   - `framework/tests/unix_and_interop.rs`: `l2_unix_server_replaces_a_stale_socket_file`
//!   - `framework/tests/unix_and_interop.rs`: `l2_create_connection_from_a_connected_socketpair`
//!   - `framework/tests/unix_and_interop.rs`: `l2_create_connection_from_a_connected_tcp_socket`
//!   - `framework/tests/robustness.rs`: `l2_a_listening_socket_that_stops_listening_is_closed_and_the_loop_serves_on`
//!
//! **L3** `add_reader`/`add_writer` on any fd; read/write pipe transports.
//!
//!   Tests:
//!   - `framework/tests/loop_contract.rs`: `l3_add_reader_is_level_triggered_until_remove_reader`
//!   - `framework/tests/loop_contract.rs`: `l3_add_writer_runs_when_writable_and_a_new_reader_replaces_the_old`
//!   - `framework/tests/pipes.rs`: `l3_a_read_pipe_delivers_a_childs_output_then_eof_and_lost`
//!   - `framework/tests/pipes.rs`: `l3_a_write_pipe_streams_megabytes_through_cat_with_flow_control_then_closes`
//!   - `framework/tests/pipes.rs`: `l3_a_write_pipe_whose_reader_exits_reports_broken_pipe_only_with_data_queued`
//!
//! # Tasks
//!
//! Beyond asyncio's transports and protocols, the seed's "coroutines"
//! section: `async` code on a shard ([`LoopHandle::spawn_local`](crate::LoopHandle::spawn_local)).
//!
//! **K1** A task runs on the shard that spawned it, never elsewhere, so it
//!   may hold `!Send` state; `run_until_complete` runs the loop until a
//!   future is done and returns its output; tasks start in the order
//!   spawned.
//!
//!   Tests:
//!   - `framework/tests/tasks.rs`: `run_until_complete_returns_the_output_and_tasks_run_in_order_with_not_send_state`
//!
//! **K2** `sleep`, `sleep_until` and `timeout` run on the loop's timers; a
//!   `timeout` that runs out drops its future and says `Elapsed`.
//!
//!   Tests:
//!   - `framework/tests/tasks.rs`: `sleep_and_timeout_run_on_the_loops_timers`
//!   - `framework/tests/virtual_time.rs`: `k2_sleep_and_timeout_complete_when_the_loop_clock_reaches_them`
//!
//! **K3** A cancelled task is never polled again, and its state is dropped
//!   on its shard; a task cancelled while blocked in a stream read closes
//!   its connection (its writer is dropped).
//!
//!   Tests:
//!   - `framework/tests/tasks.rs`: `a_cancelled_task_is_never_polled_again_and_its_state_is_dropped`
//!   - `framework/tests/streams/main.rs`: `s7_cancelling_a_task_blocked_in_read_closes_its_connection`
//!
//! **K4** A waker used from another thread reaches the shard through its
//!   mailbox and wakes the loop.
//!
//!   Tests:
//!   - `framework/tests/tasks.rs`: `a_waker_used_from_another_thread_wakes_the_shard`
//!
//! **K5** A task that panics reports `TaskError::Panicked` through its
//!   handle; the shard, its other tasks and its connections live on.
//!
//!   Tests:
//!   - `framework/tests/tasks.rs`: `a_panicking_task_reports_its_error_and_the_loop_serves_on`
//!   - `framework/tests/streams/main.rs`: `s8_a_panicking_stream_task_costs_its_connection_only`
//!
//! **K6** At most `TASK_BUDGET` tasks are polled per loop iteration, so a
//!   task that keeps waking itself cannot starve I/O.
//!
//!   Tests:
//!   - `framework/tests/tasks.rs`: `a_task_that_never_yields_to_io_cannot_starve_the_loop`
//!
//! **K7** A cross-shard call is a future resolved on the calling shard.
//!
//!   Tests:
//!   - `framework/tests/tasks.rs`: `a_cross_shard_call_is_a_future`
//!
//! # Streams
//!
//! asyncio's streams ([`crate::streams`]): `open_connection`,
//! `start_server`, `StreamReader`, `StreamWriter`, on a
//! `StreamReaderProtocol` over the stream transport.
//!
//! **S1** A reader returns the bytes in the order they arrived, each once,
//!   whatever mix of `read`, `readline`, `readexactly`, `readuntil` and
//!   `read_to_end` consumes them.
//!
//!   Tests:
//!   - `framework/tests/streams/main.rs`: `s1_reads_come_out_in_order_each_byte_once_across_read_readline_readexactly_readuntil`
//!
//! **S2** After the peer's EOF, what is buffered is still read; then `read`
//!   returns empty and `at_eof()` is true. The connection stays half-open:
//!   the writer can still answer.
//!
//!   Tests:
//!   - `framework/tests/streams/main.rs`: `s2_after_eof_the_buffered_bytes_are_read_then_read_returns_empty_and_at_eof_holds`
//!
//! **S3** `readexactly(n)` at EOF before `n` bytes fails with
//!   `IncompleteRead` carrying the partial data; `readuntil` fails with
//!   `LimitOverrun` when no separator is within the limit, and `readline`
//!   then drops the over-long line.
//!
//!   Tests:
//!   - `framework/tests/streams/main.rs`: `s3_readexactly_at_eof_fails_carrying_the_partial_data_and_readuntil_past_the_limit_overruns`
//!
//! **S4** More than twice the limit buffered pauses the transport's
//!   reading; reading it down to the limit resumes it (and a read that
//!   would wait resumes it first).
//!
//!   Tests:
//!   - `framework/tests/streams/main.rs`: `s4_the_reader_pauses_reading_above_twice_its_limit_and_resumes_when_read_down`
//!
//! **S5** `drain()` returns at once unless the transport paused writing;
//!   then it waits for `resume_writing`. A writer that drains never holds
//!   more than the high-water mark plus its last write.
//!
//!   Tests:
//!   - `framework/tests/streams/main.rs`: `s5_drain_waits_while_the_peer_does_not_read_and_returns_once_it_reads`
//!
//! **S6** `drain()` fails once the connection is lost, with its error.
//!
//!   Tests:
//!   - `framework/tests/streams/main.rs`: `s6_drain_fails_once_the_connection_is_lost`
//!
//! **S7** `start_server` runs its callback as a task per connection;
//!   `open_connection` returns a connected pair; `close()` then
//!   `wait_closed()` ends a connection; as in asyncio, a connection whose
//!   both directions ended stays open until closed. `get_extra_info`
//!   answers as the transport's. Connect failures are returned.
//!
//!   Tests:
//!   - `framework/tests/streams/servers.rs`: `s9_start_server_and_open_connection_echo_lines_on_one_loop_with_peername`
//!   - `framework/tests/streams/servers.rs`: `s10_open_connection_to_a_closed_port_fails_with_connection_refused`
//!
//! **S8** Streams work over Unix sockets and TLS (a failed handshake is
//!   the error of `open_tls_connection`), and through the runtime, whose
//!   stream server spreads its connections over the shards.
//!
//!   Tests:
//!   - `framework/tests/streams/servers.rs`: `s11_streams_over_unix_sockets_and_tls`
//!   - `framework/tests/streams/servers.rs`: `s12_a_runtime_stream_server_spreads_its_connections_over_the_shards`
//!
//! **S9** A reader can stand alone, fed by hand (`StreamReader::detached`
//!   and its `StreamFeed`: `feed_data`, `feed_eof`, `set_exception`), as
//!   asyncio's can: a read waiting on it wakes when it is fed.
//!
//!   Tests:
//!   - `framework/tests/streams/servers.rs`: `s13_a_detached_reader_is_fed_by_hand_and_wakes_a_waiting_read`
