//! Where log lines go: each thread appends its entries to its own shelf (a
//! buffer the writer takes whole, with no lock either waits on; see
//! `shelf`), and one writer thread empties the shelves onto stderr.
//! Writing a log line (the access line of every request above all) so
//! never waits on the terminal or the pipe behind stderr, allocates
//! nothing and sends no message.
//!
//! An entry is a finished line ([`Entry::Text`], what the subscriber wrote)
//! or an access record ([`Entry::Access`]): the facts of an access line in
//! binary, which the writer thread formats. The request's thread then pays
//! for copying ~100 bytes instead of formatting a JSON line: that is most of
//! what logging cost a request.
//!
//! The writer sleeps until a line comes after a quiet spell (the one
//! wake-up), then empties the shelves every [`BUSY_PAUSE`] until a pause
//! passes with nothing new. A shelf past [`SHELF_BYTES`] (the writer has
//! fallen behind) drops lines and counts them; the count is written once
//! the writer catches up. [`flush`] writes out every shelf, with a bound,
//! before the process exits.

use std::cell::OnceCell;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::access_lines::{self, Anchor};
use crate::shelf::Shelf;

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

/// A shelf's entry starts with its kind, then its length as a
/// little-endian `u32`; its bytes follow.
const HEADER: usize = 5;

/// What an entry on a shelf holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Entry {
    /// A whole line, newline included, written out as it is.
    Text = 0,
    /// An access record (`access_lines::encode`), formatted by the writer.
    Access = 1,
}

/// Appends one entry of `kind`, made by `write` in place, framed.
fn frame(lines: &mut Vec<u8>, kind: Entry, write: impl FnOnce(&mut Vec<u8>)) {
    let start = lines.len();
    lines.extend_from_slice(&[kind as u8, 0, 0, 0, 0]);
    write(lines);
    let length = u32::try_from(lines.len() - start - HEADER).unwrap_or(u32::MAX);
    lines[start + 1..start + HEADER].copy_from_slice(&length.to_le_bytes());
}

/// Appends the text of every entry in `shelf` to `out`. Access records
/// get their wall-clock time from `anchor`.
fn render(shelf: &[u8], anchor: &Anchor, out: &mut Vec<u8>) {
    let mut rest = shelf;
    while let Some((header, after)) = rest.split_first_chunk::<HEADER>() {
        let length = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let Some((bytes, after)) = after.split_at_checked(length) else {
            debug_assert!(false, "a torn entry");
            return;
        };
        if header[0] == Entry::Access as u8 {
            access_lines::render(bytes, anchor, out);
        } else {
            out.extend_from_slice(bytes);
        }
        rest = after;
    }
}

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
    /// Appends one entry of `kind`, made by `write`, to this thread's
    /// shelf; dropped and counted when the shelf is full. A thread whose
    /// shelf is already gone (it is exiting) writes to stderr itself.
    fn append(&self, kind: Entry, write: impl FnOnce(&mut Vec<u8>)) {
        let mut write = Some(write);
        let shelved = SHELF.try_with(|cell| {
            let shelf = cell.get_or_init(|| self.new_shelf());
            // SAFETY: a thread-local shelf: only this thread appends to
            // it, and neither `frame` nor `write` logs.
            unsafe {
                shelf.append(|lines| {
                    if lines.len() >= SHELF_BYTES {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    } else if let Some(write) = write.take() {
                        frame(lines, kind, write);
                    }
                })
            }
        });
        if shelved.is_err() {
            if let Some(write) = write.take() {
                write_now(kind, write);
            }
            return;
        }
        // After the append: a writer that went idle before it took our
        // shelf's buffer has seen the line; one that went idle after it is
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
        let shelf = Arc::new(Shelf::with_capacity(16 * 1024));
        self.list().push(shelf.clone());
        shelf
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Shelf>>> {
        self.shelves.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes out every shelf; whether there was anything. Shelves of
    /// threads that have exited are forgotten once emptied. The list is not
    /// locked while writing, so a thread's first line never waits on stderr.
    fn empty_shelves(&self, out: &mut impl Write, spare: &mut Spare) -> bool {
        let shelves = self.list().clone();
        let anchor = Anchor::now();
        let mut exited = Vec::new();
        for shelf in &shelves {
            // Held by the list and `shelves` only: its thread is gone, and
            // (the fence pairs with the `Arc`'s release on drop) its every
            // append happened before this take.
            if Arc::strong_count(shelf) == 2 {
                fence(Ordering::Acquire);
                exited.push(shelf.clone());
            }
            shelf.take(&mut spare.entries);
            render(&spare.entries, &anchor, &mut spare.text);
        }
        if !exited.is_empty() {
            self.list()
                .retain(|shelf| !exited.iter().any(|gone| Arc::ptr_eq(gone, shelf)));
        }
        // One write for every shelf's lines: a write costs the file's
        // lock and its times' update whatever its length.
        let any = !spare.text.is_empty();
        if any {
            let _ = out.write_all(&spare.text);
            spare.text.clear();
        }
        any
    }

    /// The writer thread's loop, for the life of the process.
    fn write_lines(&self, receiver: Receiver<Message>, mut out: impl Write) {
        let mut spare = Spare {
            entries: Box::new(Vec::with_capacity(16 * 1024)),
            text: Vec::with_capacity(32 * 1024),
        };
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
    fn write_out(&self, out: &mut impl Write, spare: &mut Spare, reported: &mut u64) -> bool {
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

/// The writer's buffers, kept between passes: a shelf's entries (swapped
/// with the shelf's own buffer) and their text.
struct Spare {
    #[expect(
        clippy::box_collection,
        reason = "swapped whole with a shelf's (see `shelf`)"
    )]
    entries: Box<Vec<u8>>,
    text: Vec<u8>,
}

fn write_now(kind: Entry, write: impl FnOnce(&mut Vec<u8>)) {
    let mut entry = Vec::new();
    frame(&mut entry, kind, write);
    let mut text = Vec::new();
    render(&entry, &Anchor::now(), &mut text);
    let _ = io::stderr().write_all(&text);
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
                .append(Entry::Text, |lines| lines.extend_from_slice(&self.bytes));
        }
    }
}

/// Shelves one entry written outside the subscriber, made by `write` in
/// place; written to stderr directly when there is no writer thread.
pub fn append(kind: Entry, write: impl FnOnce(&mut Vec<u8>)) {
    match QUEUE.get() {
        Some(queue) => queue.append(kind, write),
        None => write_now(kind, write),
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
                queue.append(Entry::Text, |out| out.extend_from_slice(line.as_bytes()));
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
    fn access_records_are_formatted_by_the_writer_in_their_place() {
        let sink = Sink::default();
        let queue = Queue::start(sink.clone()).unwrap();
        std::thread::spawn(move || {
            queue.append(Entry::Text, |out| out.extend_from_slice(b"before\n"));
            queue.append(Entry::Access, |out| {
                access_lines::encode(
                    out,
                    &inferd_server::access::AccessLine {
                        request_id: b"id-7",
                        method: "GET",
                        path: "/ready",
                        status: 200,
                        model: None,
                        queue: None,
                        score: None,
                        total: Duration::from_micros(5),
                        ended: std::time::Instant::now(),
                        bytes_in: 0,
                        bytes_out: 2,
                    },
                )
            });
            queue.append(Entry::Text, |out| out.extend_from_slice(b"after\n"));
        })
        .join()
        .unwrap();
        queue.flush(Duration::from_secs(10));
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!((lines[0], lines[2]), ("before", "after"));
        let access: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(access["fields"]["request_id"], "id-7");
        assert_eq!(access["fields"]["path"], "/ready");
        assert_eq!(access["fields"]["total_ms"], 0.005);
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
