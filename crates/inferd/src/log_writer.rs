//! Where log lines go: each thread appends its lines to its own shelf (a
//! buffer behind a lock that only the writer thread also takes), and one
//! writer thread empties the shelves onto stderr. Writing a log line (the
//! access line of every request above all) so never waits on the terminal
//! or the pipe behind stderr, allocates nothing and sends no message.
//!
//! The writer sleeps until a line comes after a quiet spell (the one
//! wake-up), then empties the shelves every [`BUSY_PAUSE`] until a pause
//! passes with nothing new. A shelf past [`SHELF_BYTES`] (the writer has
//! fallen behind) drops lines and counts them; the count is written once
//! the writer catches up. [`flush`] writes out every shelf, with a bound,
//! before the process exits.

use std::cell::OnceCell;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use tracing_subscriber::fmt::MakeWriter;

/// The most one thread's unwritten lines may hold; past it lines are dropped.
const SHELF_BYTES: usize = 1 << 20;

/// While lines keep coming, the writer empties the shelves this often
/// instead of being woken for each line: a wake-up costs the writing
/// thread a system call, a pause costs a log line at most this much delay.
const BUSY_PAUSE: Duration = Duration::from_millis(5);

/// What wakes the writer: the first line after a quiet spell, or a flush.
enum Message {
    Wake,
    Flush(Sender<()>),
}

/// One thread's unwritten lines.
type Shelf = Mutex<Vec<u8>>;

struct Queue {
    /// To the writer thread; it only carries wake-ups and flushes.
    sender: Sender<Message>,
    dropped: AtomicU64,
    /// Every thread's shelf; locked when a thread writes its first line and
    /// by the writer.
    shelves: Mutex<Vec<Arc<Shelf>>>,
    /// The writer is (about to be) asleep on its channel: the next line
    /// must wake it.
    idle: AtomicBool,
}

static QUEUE: OnceLock<&'static Queue> = OnceLock::new();

thread_local! {
    static SHELF: OnceCell<Arc<Shelf>> = const { OnceCell::new() };
}

impl Queue {
    /// Appends one line, made by `write`, to this thread's shelf; dropped
    /// and counted when the shelf is full. A thread whose shelf is already
    /// gone (it is exiting) writes to stderr itself.
    fn append(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut write = Some(write);
        let shelved = SHELF.try_with(|cell| {
            let shelf = cell.get_or_init(|| self.new_shelf());
            let mut lines = lock(shelf);
            if lines.len() >= SHELF_BYTES {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            } else if let Some(write) = write.take() {
                write(&mut lines);
            }
        });
        if shelved.is_err() {
            if let Some(write) = write.take() {
                write_now(write);
            }
            return;
        }
        // After the append: a writer that went idle before it took our
        // shelf's lock has seen the line; one that went idle after it is
        // seen idle here, and woken.
        if self.idle.load(Ordering::SeqCst) && self.idle.swap(false, Ordering::SeqCst) {
            let _ = self.sender.try_send(Message::Wake);
        }
    }

    /// A queue whose writer thread writes to `out`. It lives as long as
    /// the process (its threads' shelves point at it).
    fn start(out: impl Write + Send + 'static) -> io::Result<&'static Queue> {
        // Wake-ups only: one pending is enough, plus room for flushes.
        let (sender, receiver) = crossbeam_channel::bounded(64);
        let queue: &'static Queue = Box::leak(Box::new(Queue {
            sender,
            dropped: AtomicU64::new(0),
            shelves: Mutex::new(Vec::new()),
            idle: AtomicBool::new(true),
        }));
        std::thread::Builder::new()
            .name("inferd-log".into())
            .spawn(move || queue.write_lines(receiver, out))?;
        Ok(queue)
    }

    fn new_shelf(&self) -> Arc<Shelf> {
        let shelf = Arc::new(Mutex::new(Vec::with_capacity(16 * 1024)));
        self.shelves
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(shelf.clone());
        shelf
    }

    /// Writes out every shelf; whether there was anything. Shelves of
    /// threads that have exited are forgotten once empty. The list is not
    /// locked while writing, so a thread's first line never waits on stderr.
    fn empty_shelves(&self, out: &mut impl Write, spare: &mut Vec<u8>) -> bool {
        let shelves = {
            let mut list = self.shelves.lock().unwrap_or_else(PoisonError::into_inner);
            // Only the list holds it: its thread is gone.
            list.retain(|shelf| Arc::strong_count(shelf) > 1 || !lock(shelf).is_empty());
            list.clone()
        };
        let mut any = false;
        for shelf in &shelves {
            std::mem::swap(&mut *lock(shelf), spare);
            if !spare.is_empty() {
                any = true;
                let _ = out.write_all(spare);
                spare.clear();
            }
        }
        any
    }

    /// The writer thread's loop, for the life of the process.
    fn write_lines(&self, receiver: Receiver<Message>, mut out: impl Write) {
        let mut spare = Vec::with_capacity(16 * 1024);
        let mut reported = 0;
        // Idle: block until a line comes (one wake-up). Busy: sleep, then
        // empty the shelves without being woken.
        while let Ok(first) = receiver.recv() {
            let mut next = Some(first);
            loop {
                let mut busy = false;
                while let Some(message) = next.take().or_else(|| receiver.try_recv().ok()) {
                    busy = true;
                    if let Message::Flush(done) = message {
                        self.write_out(&mut out, &mut spare, &mut reported);
                        let _ = done.send(());
                    }
                }
                busy |= self.write_out(&mut out, &mut spare, &mut reported);
                if !busy {
                    // Quiet for a whole pause: idle. Lines shelved before
                    // the flag turned are written here; later ones wake us.
                    self.idle.store(true, Ordering::SeqCst);
                    self.write_out(&mut out, &mut spare, &mut reported);
                    break;
                }
                std::thread::sleep(BUSY_PAUSE);
            }
        }
    }

    /// Empties the shelves into `out`, then says how many lines were
    /// dropped since the last report, if any; whether there were lines.
    fn write_out(&self, out: &mut impl Write, spare: &mut Vec<u8>, reported: &mut u64) -> bool {
        let any = self.empty_shelves(out, spare);
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > *reported {
            let _ = writeln!(
                out,
                "{{\"level\":\"WARN\",\"message\":\"log lines dropped: the log writer fell behind\",\"dropped_total\":{dropped}}}"
            );
            *reported = dropped;
        }
        let _ = out.flush();
        any
    }

    /// Writes out every shelved line, waiting at most `timeout`.
    fn flush(&self, timeout: Duration) {
        let (done, finished) = crossbeam_channel::bounded(1);
        if self
            .sender
            .send_timeout(Message::Flush(done), timeout)
            .is_ok()
        {
            let _ = finished.recv_timeout(timeout);
        }
    }
}

fn lock(shelf: &Shelf) -> std::sync::MutexGuard<'_, Vec<u8>> {
    shelf.lock().unwrap_or_else(PoisonError::into_inner)
}

fn write_now(write: impl FnOnce(&mut Vec<u8>)) {
    let mut line = Vec::new();
    write(&mut line);
    let _ = io::stderr().write_all(&line);
}

/// The subscriber's writer: each event's bytes become one line on the
/// thread's shelf.
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
        let started = Queue::start(io::stderr())?;
        Ok(QueuedStderr {
            queue: QUEUE.get_or_init(|| started),
        })
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

/// One event's bytes, shelved when the subscriber is done writing them.
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
        if !self.bytes.is_empty() {
            self.queue
                .append(|lines| lines.extend_from_slice(&self.bytes));
        }
    }
}

/// Shelves one whole line (newline included) written outside the
/// subscriber, made by `write` in place; written to stderr directly when
/// there is no writer thread.
pub fn append_line(write: impl FnOnce(&mut Vec<u8>)) {
    match QUEUE.get() {
        Some(queue) => queue.append(write),
        None => write_now(write),
    }
}

/// Writes out every shelved line, waiting at most `timeout`.
pub fn flush(timeout: Duration) {
    if let Some(queue) = QUEUE.get() {
        queue.flush(timeout);
    }
}

#[cfg(test)]
mod tests {
    //! Each test shelves from threads of its own: a thread's shelf belongs
    //! to the first queue it writes to.

    use super::*;
    use std::sync::Condvar;
    use std::time::Instant;

    /// What the writer wrote; writes wait while `held` (at most 10 s).
    #[derive(Clone, Default)]
    struct Sink {
        written: Arc<Mutex<Vec<u8>>>,
        held: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }

        fn hold(&self, held: bool) {
            *self.held.0.lock().unwrap() = held;
            self.held.1.notify_all();
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, released) = &*self.held;
            let _ = released
                .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(10), |held| *held)
                .unwrap();
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn shelve_from_a_thread(queue: &'static Queue, lines: Vec<String>) {
        std::thread::spawn(move || {
            for line in lines {
                queue.append(|out| out.extend_from_slice(line.as_bytes()));
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn every_line_of_every_thread_is_written_whole_and_in_order() {
        let sink = Sink::default();
        let queue = Queue::start(sink.clone()).unwrap();
        let writers: Vec<_> = (0..4)
            .map(|thread| {
                std::thread::spawn(move || {
                    let lines = (0..5000).map(|i| format!("{thread} {i}\n")).collect();
                    shelve_from_a_thread(queue, lines);
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        queue.flush(Duration::from_secs(10));
        let mut next = [0; 4];
        for line in sink.text().lines() {
            let (thread, i) = line.split_once(' ').unwrap();
            let thread: usize = thread.parse().unwrap();
            assert_eq!(i.parse::<usize>().unwrap(), next[thread], "{line}");
            next[thread] += 1;
        }
        assert_eq!(next, [5000; 4]);
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_line_after_a_quiet_spell_wakes_the_writer() {
        let sink = Sink::default();
        let queue = Queue::start(sink.clone()).unwrap();
        for round in 0..4 {
            let line = format!("round {round}\n");
            shelve_from_a_thread(queue, vec![line.clone()]);
            // No flush: the line alone must wake the writer.
            let start = Instant::now();
            while !sink.text().contains(&line) {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{line} not written"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            // Long enough for the writer to go idle again.
            std::thread::sleep(BUSY_PAUSE * 4);
        }
    }

    #[test]
    fn a_stuck_writer_drops_and_counts_lines_instead_of_blocking() {
        let sink = Sink::default();
        sink.hold(true);
        let queue = Queue::start(sink.clone()).unwrap();
        let line = format!("{}\n", "x".repeat(1023));
        let start = Instant::now();
        shelve_from_a_thread(queue, vec![line.clone(); 3 * 1024]);
        // 3 MiB offered, while every write waits: the shelf keeps 1 MiB.
        assert!(start.elapsed() < Duration::from_secs(5));
        let dropped = queue.dropped.load(Ordering::Relaxed);
        assert!(dropped >= 1024, "dropped {dropped}");
        sink.hold(false);
        queue.flush(Duration::from_secs(10));
        let text = sink.text();
        let kept = text.lines().filter(|l| *l == line.trim_end()).count() as u64;
        assert_eq!(kept + dropped, 3 * 1024);
        assert!(
            text.contains(&format!("\"dropped_total\":{dropped}}}")),
            "{text}"
        );
    }
}
