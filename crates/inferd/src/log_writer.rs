//! Where log lines go: a bounded queue to one thread that writes stderr, so
//! that writing a log line (the access line of every request above all)
//! never waits on the terminal or the pipe behind stderr. When the thread
//! falls behind, lines are dropped and counted, and the count is written
//! once it catches up; [`flush`] writes out what is queued, with a bound,
//! before the process exits.

use std::io::{self, BufWriter, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait for the writer thread.
const QUEUE_LINES: usize = 16 * 1024;

enum Message {
    Line(Vec<u8>),
    Flush(Sender<()>),
}

/// The queue's sending side, shared by the subscriber and [`flush`].
struct Queue {
    sender: Sender<Message>,
    dropped: AtomicU64,
}

static QUEUE: OnceLock<Queue> = OnceLock::new();

impl Queue {
    /// Queues one line without waiting: dropped and counted when full.
    fn push(&self, line: Vec<u8>) {
        if let Err(TrySendError::Full(_)) = self.sender.try_send(Message::Line(line)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The subscriber's writer: each event's formatted bytes become one queued line.
#[derive(Clone, Copy)]
pub struct QueuedStderr {
    queue: &'static Queue,
}

impl QueuedStderr {
    /// Starts the writer thread (once per process).
    pub fn start() -> io::Result<QueuedStderr> {
        if let Some(queue) = QUEUE.get() {
            return Ok(QueuedStderr { queue });
        }
        let (sender, receiver) = crossbeam_channel::bounded(QUEUE_LINES);
        std::thread::Builder::new()
            .name("inferd-log".into())
            .spawn(move || write_lines(receiver))?;
        let queue = QUEUE.get_or_init(|| Queue {
            sender,
            dropped: AtomicU64::new(0),
        });
        Ok(QueuedStderr { queue })
    }
}

impl<'a> MakeWriter<'a> for QueuedStderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            bytes: Vec::with_capacity(256),
            queue: self.queue,
        }
    }
}

/// One event's bytes, queued when the subscriber is done writing them.
pub struct Line {
    bytes: Vec<u8>,
    queue: &'static Queue,
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.bytes.is_empty() {
            return;
        }
        self.queue.push(std::mem::take(&mut self.bytes));
    }
}

/// While lines keep coming, the writer drains the queue this often instead
/// of being woken for each line: a wake-up costs the sending HTTP thread a
/// system call per request, a pause costs a log line at most this much delay.
const BUSY_PAUSE: Duration = Duration::from_millis(5);

fn write_lines(receiver: Receiver<Message>) {
    let mut out = BufWriter::with_capacity(64 * 1024, io::stderr());
    let mut reported = 0;
    // Idle: block until a line comes (one wake-up). Busy: sleep, then take
    // everything queued meanwhile without blocking.
    while let Ok(first) = receiver.recv() {
        let mut next = Some(first);
        loop {
            while let Some(message) = next.take().or_else(|| receiver.try_recv().ok()) {
                match message {
                    Message::Line(line) => {
                        let _ = out.write_all(&line);
                    }
                    Message::Flush(done) => {
                        let _ = out.flush();
                        let _ = done.send(());
                    }
                }
            }
            let dropped = QUEUE.get().map_or(0, |q| q.dropped.load(Ordering::Relaxed));
            if dropped > reported {
                let _ = writeln!(
                    out,
                    "{{\"level\":\"WARN\",\"message\":\"log lines dropped: the log writer fell behind\",\"dropped_total\":{dropped}}}"
                );
                reported = dropped;
            }
            let _ = out.flush();
            std::thread::sleep(BUSY_PAUSE);
            match receiver.try_recv() {
                Ok(message) => next = Some(message),
                // Nothing came during the pause: idle again.
                Err(_) => break,
            }
        }
    }
}

/// Queues one whole line (newline included) written outside the
/// subscriber; dropped and counted when the writer is behind, written to
/// stderr directly when there is no writer thread.
pub fn queue_line(line: Vec<u8>) {
    match QUEUE.get() {
        Some(queue) => queue.push(line),
        None => {
            let _ = io::stderr().write_all(&line);
        }
    }
}

/// Writes out every queued line, waiting at most `timeout`.
pub fn flush(timeout: Duration) {
    let Some(queue) = QUEUE.get() else {
        return;
    };
    let (done, finished) = crossbeam_channel::bounded(1);
    if queue
        .sender
        .send_timeout(Message::Flush(done), timeout)
        .is_ok()
    {
        let _ = finished.recv_timeout(timeout);
    }
}
