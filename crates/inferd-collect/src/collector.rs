//! [`Collector`]: requests hand records to one writer thread through a
//! bounded channel. The request side never waits: when the channel is full
//! (the disk is slower than the traffic) the record is dropped and counted.
//! [`Collector::close`] tells the writer to write out everything already
//! accepted and waits for it, with a bound.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::files::{Files, Rotation};
use crate::record::Record;

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub dir: PathBuf,
    pub rotation: Rotation,
    /// Records that may wait for the writer; past it they are dropped.
    pub queue: usize,
    /// Sleep before writing each record: makes the writer slow on purpose,
    /// to see what a slow disk does (tests). Zero in service.
    pub write_delay: Duration,
}

impl CollectOptions {
    /// 64 MiB files, a new one every hour, 1 GiB in all, 4096 records queued.
    pub fn new(dir: PathBuf) -> CollectOptions {
        CollectOptions {
            dir,
            rotation: Rotation {
                max_file_bytes: 64 << 20,
                max_file_age: Duration::from_secs(3600),
                max_total_bytes: 1 << 30,
            },
            queue: 4096,
            write_delay: Duration::ZERO,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("data collection folder {dir}: {source}")]
    Folder {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the data collection writer: {0}")]
    Thread(std::io::Error),
    #[error(
        "data collection: the total cap ({total} bytes) must be at least one file ({file} bytes)"
    )]
    Cap { total: u64, file: u64 },
}

enum Message {
    Record(Record),
    Close,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
}

/// The request side of data collection. Shared by every request.
pub struct Collector {
    sender: Sender<Message>,
    done: Receiver<()>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counts: std::sync::Arc<Counts>,
}

impl Collector {
    /// Opens the folder (made if missing) and starts the writer thread.
    pub fn start(options: CollectOptions) -> Result<Collector, CollectorError> {
        let rotation = options.rotation;
        if rotation.max_total_bytes < rotation.max_file_bytes {
            return Err(CollectorError::Cap {
                total: rotation.max_total_bytes,
                file: rotation.max_file_bytes,
            });
        }
        let files =
            Files::open(&options.dir, rotation).map_err(|source| CollectorError::Folder {
                dir: options.dir.display().to_string(),
                source,
            })?;
        let (sender, receiver) = crossbeam_channel::bounded(options.queue.max(1));
        let (finished, done) = crossbeam_channel::bounded(1);
        let counts = std::sync::Arc::new(Counts::default());
        let writer = {
            let counts = counts.clone();
            let delay = options.write_delay;
            std::thread::Builder::new()
                .name("inferd-collect".into())
                .spawn(move || {
                    write_all(files, receiver, &counts, delay);
                    let _ = finished.send(());
                })
                .map_err(CollectorError::Thread)?
        };
        Ok(Collector {
            sender,
            done,
            writer: Mutex::new(Some(writer)),
            counts,
        })
    }

    /// Hands `record` to the writer without waiting. `false`: the writer is
    /// behind (or closed) and the record was dropped.
    pub fn record(&self, record: Record) -> bool {
        match self.sender.try_send(Message::Record(record)) {
            Ok(()) => {
                self.counts.accepted.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Records accepted so far.
    pub fn accepted(&self) -> u64 {
        self.counts.accepted.load(Ordering::Relaxed)
    }

    /// Records dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Records written to a file (flushed or buffered).
    pub fn written(&self) -> u64 {
        self.counts.written.load(Ordering::Relaxed)
    }

    /// Writes out every accepted record and stops the writer, waiting at
    /// most `timeout`. `true` when everything was written in time. Records
    /// offered after this are dropped.
    pub fn close(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let asked = self.sender.send_deadline(Message::Close, deadline).is_ok();
        let finished = asked && self.done.recv_deadline(deadline).is_ok();
        if finished && let Some(writer) = self.writer.lock().expect("not poisoned").take() {
            let _ = writer.join();
        }
        finished
    }
}

/// The writer thread: records until told to close (or every sender is
/// gone), then what is left in the channel; flushes whenever the channel
/// runs empty, so files are current when traffic pauses.
fn write_all(mut files: Files, records: Receiver<Message>, counts: &Counts, delay: Duration) {
    let write = |record: Record, files: &mut Files| {
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        match files.append(&record.to_line()) {
            Ok(true) => {
                counts.written.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {
                tracing::warn!(request_id = %record.request_id, "collected record larger than the total cap; not written");
            }
            Err(e) => {
                tracing::warn!(error = %e, request_id = %record.request_id, "cannot write a collected record");
            }
        }
    };
    while let Ok(message) = records.recv() {
        match message {
            Message::Record(record) => write(record, &mut files),
            Message::Close => {
                while let Ok(Message::Record(record)) = records.try_recv() {
                    write(record, &mut files);
                }
                break;
            }
        }
        if records.is_empty()
            && let Err(e) = files.flush()
        {
            tracing::warn!(error = %e, "cannot flush collected records");
        }
    }
    if let Err(e) = files.flush() {
        tracing::warn!(error = %e, "cannot flush collected records");
    }
}
