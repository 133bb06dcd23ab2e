//! Where log lines go: each thread appends its lines to a buffer of its
//! own (its shelf), and one writer thread empties every shelf onto stderr,
//! so writing a line never waits on the terminal or the pipe behind stderr.
//!
//! The writer sleeps until a line comes after a quiet spell (the one
//! wake-up), then empties the shelves every [`BUSY_PAUSE`], with one
//! `write` for all their lines, until a pause passes with nothing new.
//! A shelf past [`SHELF_BYTES`] (the writer has fallen behind) drops
//! lines and counts them; once it catches up the writer says how many.
//! [`finish`] writes out every shelf, with a bound, before the process
//! exits.
//!
//! Why not `tracing-appender`'s non-blocking writer, which does the same
//! job: it hands each line to its thread through a channel, and waking
//! that thread for each line cost the server 0.3 to 0.6 context switches
//! and ~20% of its requests a second at 64 connections (diabetes-ridge,
//! `benches/old_vs_new.sh`, `benches/RESULTS.md`).

use std::cell::OnceCell;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use tracing_subscriber::fmt::MakeWriter;

/// The most one thread's unwritten lines may hold; past it lines are dropped.
pub const SHELF_BYTES: usize = 1 << 20;

/// While lines keep coming, the writer empties the shelves this often
/// instead of being woken for each line: a wake-up costs the logging
/// thread a system call, a pause costs a log line at most this much delay.
const BUSY_PAUSE: Duration = Duration::from_millis(5);

/// What wakes the writer: the first line after a quiet spell, or a flush.
enum Message {
    Wake,
    Flush(Sender<()>),
}

/// One thread's unwritten lines.
type Shelf = Mutex<Vec<u8>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct LogWriter {
    /// To the writer thread; it only carries wake-ups and flushes.
    sender: Sender<Message>,
    /// Every thread's shelf; locked when a thread writes its first line,
    /// and by the writer to list them.
    shelves: Mutex<Vec<Arc<Shelf>>>,
    /// The writer is (about to be) asleep on its channel: the next line
    /// must wake it.
    idle: AtomicBool,
    dropped: AtomicU64,
    /// After [`finish`], lines go to stderr directly.
    finished: AtomicBool,
}

static WRITER: OnceLock<&'static LogWriter> = OnceLock::new();

thread_local! {
    static SHELF: OnceCell<Arc<Shelf>> = const { OnceCell::new() };
}

impl LogWriter {
    fn new(sender: Sender<Message>) -> LogWriter {
        LogWriter {
            sender,
            shelves: Mutex::new(Vec::new()),
            idle: AtomicBool::new(true),
            dropped: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        }
    }

    /// A writer whose thread writes to `out`. It lives as long as the
    /// process (its threads' shelves are listed in it).
    fn start(out: impl Write + Send + 'static) -> io::Result<&'static LogWriter> {
        // Wake-ups only: one pending is enough, plus room for flushes.
        let (sender, receiver) = crossbeam_channel::bounded(64);
        let writer: &'static LogWriter = Box::leak(Box::new(LogWriter::new(sender)));
        std::thread::Builder::new()
            .name("inferd-log".into())
            .spawn(move || writer.write_lines(receiver, out))?;
        Ok(writer)
    }

    /// Appends the line `make` writes to this thread's shelf; dropped and
    /// counted when the shelf is full.
    fn append(&self, make: impl FnOnce(&mut Vec<u8>)) {
        let mut make = Some(make);
        let shelved = SHELF.try_with(|cell| {
            let shelf = cell.get_or_init(|| {
                let shelf = Arc::new(Mutex::new(Vec::with_capacity(16 * 1024)));
                lock(&self.shelves).push(shelf.clone());
                shelf
            });
            let mut lines = lock(shelf);
            if lines.len() >= SHELF_BYTES {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            } else if let Some(make) = make.take() {
                make(&mut lines);
            }
        });
        if shelved.is_err() {
            // This thread is exiting and its shelf is gone.
            if let Some(make) = make {
                write_now(make);
            }
            return;
        }
        // After the append: a writer that went idle before it emptied our
        // shelf has taken the line; one that went idle after is seen idle
        // here, and woken.
        if self.idle.load(Ordering::SeqCst) && self.idle.swap(false, Ordering::SeqCst) {
            let _ = self.sender.try_send(Message::Wake);
        }
    }

    /// The writer thread's loop, for the life of the process.
    fn write_lines(&self, receiver: Receiver<Message>, mut out: impl Write) {
        let mut pass = Pass::default();
        // Idle: block until a line comes (one wake-up). Busy: sleep, then
        // empty the shelves without being woken.
        while let Ok(first) = receiver.recv() {
            let mut next = Some(first);
            loop {
                let mut busy = false;
                while let Some(message) = next.take().or_else(|| receiver.try_recv().ok()) {
                    busy = true;
                    if let Message::Flush(done) = message {
                        self.write_out(&mut out, &mut pass);
                        let _ = done.send(());
                    }
                }
                busy |= self.write_out(&mut out, &mut pass);
                if !busy {
                    // Quiet for a whole pause: idle. Lines shelved before
                    // the flag turned are written here; later ones wake us.
                    self.idle.store(true, Ordering::SeqCst);
                    self.write_out(&mut out, &mut pass);
                    break;
                }
                std::thread::sleep(BUSY_PAUSE);
            }
        }
    }

    /// Empties every shelf into `out` with one write, then says how many
    /// lines were dropped since the last report, if any; whether there
    /// were lines. Shelves of threads that have exited are forgotten once
    /// emptied. The list is not locked while writing, so a thread's first
    /// line never waits on stderr.
    fn write_out(&self, out: &mut impl Write, pass: &mut Pass) -> bool {
        let shelves = lock(&self.shelves).clone();
        self.take(&shelves, pass);
        let any = !pass.text.is_empty();
        if any {
            let _ = out.write_all(&pass.text);
            pass.text.clear();
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > pass.reported {
            pass.reported = dropped;
            let _ = out.write_all(&dropped_line(dropped));
        }
        let _ = out.flush();
        any
    }

    /// Takes every line of `shelves` (the list as this pass read it) into
    /// `pass.text`, and forgets the shelves of threads that had exited.
    fn take(&self, shelves: &[Arc<Shelf>], pass: &mut Pass) {
        let mut exited = Vec::new();
        for shelf in shelves {
            // Held by the list and `shelves` only: its thread has exited,
            // so every line it wrote is on the shelf (its last append's
            // unlock came before its exit, and this lock after it), and
            // this take is its last.
            if Arc::strong_count(shelf) == 2 {
                exited.push(Arc::as_ptr(shelf));
            }
            // Swapped, not copied: the shelf gets the spare's allocation.
            std::mem::swap(&mut *lock(shelf), &mut pass.spare);
            pass.text.extend_from_slice(&pass.spare);
            pass.spare.clear();
        }
        if !exited.is_empty() {
            // Only those: a thread that wrote its first line after the
            // list was read is listed but not in `shelves`, and stays.
            lock(&self.shelves).retain(|shelf| !exited.contains(&Arc::as_ptr(shelf)));
        }
    }

    /// Writes out every shelved line, waiting at most `timeout` in all.
    fn flush(&self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        let (done, finished) = crossbeam_channel::bounded(1);
        if self
            .sender
            .send_deadline(Message::Flush(done), deadline)
            .is_ok()
        {
            let _ = finished.recv_deadline(deadline);
        }
    }
}

/// The writer's buffers, kept between passes.
#[derive(Default)]
struct Pass {
    /// Swapped with each shelf in turn.
    spare: Vec<u8>,
    /// Every shelf's lines of this pass, written at once.
    text: Vec<u8>,
    /// Dropped lines already reported.
    reported: u64,
}

/// The line that says how many lines were dropped, in the log's format.
fn dropped_line(dropped: u64) -> Vec<u8> {
    let message = "log lines dropped: the log writer fell behind";
    match crate::format::chosen() {
        Some(crate::LogFormat::Text) => {
            format!("WARN {message} dropped_total={dropped}\n").into_bytes()
        }
        _ => format!(
            "{{\"level\":\"WARN\",\"fields\":{{\"message\":\"{message}\",\"dropped_total\":{dropped}}}}}\n"
        )
        .into_bytes(),
    }
}

fn write_now(make: impl FnOnce(&mut Vec<u8>)) {
    let mut line = Vec::new();
    make(&mut line);
    let _ = io::stderr().write_all(&line);
}

/// Starts the writer thread, once per process.
pub(crate) fn start() -> io::Result<()> {
    if WRITER.get().is_none() {
        let started = LogWriter::start(io::stderr())?;
        // A second writer started meanwhile stays idle for good.
        let _ = WRITER.set(started);
    }
    Ok(())
}

/// Shelves the line `make` writes; written to stderr directly when there
/// is no writer thread (not started, or finished).
pub(crate) fn write_with(make: impl FnOnce(&mut Vec<u8>)) {
    match WRITER.get().filter(|w| !w.finished.load(Ordering::Acquire)) {
        Some(writer) => writer.append(make),
        None => write_now(make),
    }
}

/// Writes out every shelved line, waiting at most `timeout` in all; later
/// lines go to stderr directly. (A line shelved by a thread that was
/// between reading the flag and appending when it turned is not written.)
pub(crate) fn finish(timeout: Duration) {
    if let Some(writer) = WRITER.get() {
        writer.finished.store(true, Ordering::Release);
        writer.flush(timeout);
    }
}

/// The subscriber's writer: each event's bytes become one line on the
/// thread's shelf.
#[derive(Clone, Copy)]
pub struct Lines;

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::with_capacity(256))
    }
}

/// One event's bytes, shelved when the subscriber is done writing them.
pub struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            write_with(|lines| lines.extend_from_slice(&self.0));
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each test shelves from threads of its own: a thread's shelf belongs
    //! to the first writer it writes to.

    use super::*;
    use std::sync::Condvar;
    use std::time::Instant;

    /// What the writer wrote; writes wait while `held` (at most 10 s).
    #[derive(Clone, Default)]
    struct Sink {
        written: Arc<Mutex<Vec<u8>>>,
        held: Arc<(Mutex<bool>, Condvar)>,
        /// Signalled after each write.
        wrote: Arc<Condvar>,
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }

        fn hold(&self, held: bool) {
            *self.held.0.lock().unwrap() = held;
            self.held.1.notify_all();
        }

        /// Waits (at most 10 s) until the written text has `needle`.
        fn wait_for(&self, needle: &str) {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut written = self.written.lock().unwrap();
            while !String::from_utf8_lossy(&written).contains(needle) {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "{needle:?} not written within 10 s");
                written = self.wrote.wait_timeout(written, left).unwrap().0;
            }
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, released) = &*self.held;
            let _ = released
                .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(10), |held| *held)
                .unwrap();
            self.written.lock().unwrap().extend_from_slice(buf);
            self.wrote.notify_all();
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn shelve_from_a_thread(writer: &'static LogWriter, lines: Vec<String>) {
        std::thread::spawn(move || {
            for line in lines {
                writer.append(|out| out.extend_from_slice(line.as_bytes()));
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn every_line_of_every_thread_is_written_whole_and_in_order() {
        let sink = Sink::default();
        let writer = LogWriter::start(sink.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                std::thread::spawn(move || {
                    let lines = (0..5000).map(|i| format!("{thread} {i}\n")).collect();
                    shelve_from_a_thread(writer, lines);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        writer.flush(Duration::from_secs(10));
        let mut next = [0; 4];
        for line in sink.text().lines() {
            let (thread, i) = line.split_once(' ').unwrap();
            let thread: usize = thread.parse().unwrap();
            assert_eq!(i.parse::<usize>().unwrap(), next[thread], "{line}");
            next[thread] += 1;
        }
        assert_eq!(next, [5000; 4]);
        assert_eq!(writer.dropped.load(Ordering::Relaxed), 0);
        // Every thread has exited: their shelves are forgotten.
        assert!(lock(&writer.shelves).is_empty());
    }

    #[test]
    fn a_pass_forgets_only_the_shelves_it_found_exited() {
        // A writer without its thread: this test makes the pass itself.
        let (sender, _receiver) = crossbeam_channel::bounded(64);
        let writer: &'static LogWriter = Box::leak(Box::new(LogWriter::new(sender)));
        shelve_from_a_thread(writer, vec!["gone\n".into()]);
        // The list as a pass reads it...
        let read = lock(&writer.shelves).clone();
        // ... before a thread that lives on writes its first line.
        let (appended, shelved) = crossbeam_channel::bounded::<()>(0);
        let (done, finished) = crossbeam_channel::bounded::<()>(0);
        let late = std::thread::spawn(move || {
            writer.append(|out| out.extend_from_slice(b"late\n"));
            appended.send(()).unwrap();
            finished.recv().unwrap();
        });
        shelved.recv().unwrap();
        let mut pass = Pass::default();
        writer.take(&read, &mut pass);
        assert_eq!(pass.text, b"gone\n");
        let listed: Vec<_> = lock(&writer.shelves)
            .iter()
            .map(|s| lock(s).clone())
            .collect();
        assert_eq!(
            listed,
            [b"late\n".to_vec()],
            "the late thread's shelf stays listed"
        );
        done.send(()).unwrap();
        late.join().unwrap();
    }

    #[test]
    fn a_line_after_a_quiet_spell_wakes_the_writer() {
        let sink = Sink::default();
        let writer = LogWriter::start(sink.clone()).unwrap();
        for round in 0..4 {
            let line = format!("round {round}\n");
            shelve_from_a_thread(writer, vec![line.clone()]);
            // No flush: the line alone must wake the writer.
            sink.wait_for(&line);
            // Until the writer has gone idle again, so that the next line
            // comes after a quiet spell.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !writer.idle.load(Ordering::SeqCst) {
                assert!(Instant::now() < deadline, "the writer never went idle");
                std::thread::yield_now();
            }
        }
    }

    #[test]
    fn a_stuck_writer_drops_and_counts_lines_instead_of_blocking() {
        let sink = Sink::default();
        sink.hold(true);
        let writer = LogWriter::start(sink.clone()).unwrap();
        let line = format!("{}\n", "x".repeat(1023));
        // 3 MiB offered while every write waits: the shelf keeps 1 MiB,
        // and no append waits for the stuck writer.
        shelve_from_a_thread(writer, vec![line.clone(); 3 * 1024]);
        let dropped = writer.dropped.load(Ordering::Relaxed);
        assert!(dropped >= 1024, "dropped {dropped}");
        sink.hold(false);
        writer.flush(Duration::from_secs(10));
        let text = sink.text();
        let kept = text.lines().filter(|l| *l == line.trim_end()).count() as u64;
        assert_eq!(kept + dropped, 3 * 1024);
        assert!(
            text.contains(&format!("\"dropped_total\":{dropped}}}")),
            "{}",
            &text[text.len().saturating_sub(300)..]
        );
    }
}
