//! Memory under hostile bodies, on the real process: after rounds of huge
//! strings, a million rows, deep nesting and out-of-range numbers (each a
//! 400), to `/score` and to the v2 infer route (JSON and binary framing),
//! the server's resident memory comes back near its base and its floor
//! does not rise from round to round. Read from /proc/<pid>/status (Linux).
#![cfg(target_os = "linux")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn post(port: u16, body: &[u8]) -> u16 {
    post_to(port, "/score", "", body)
}

/// POSTs `body` to `path` with `extra` header lines (each ending in CRLF).
fn post_to(port: u16, path: &str, extra: &str, body: &[u8]) -> u16 {
    post_typed(port, path, "application/json", extra, body)
}

/// [`post_to`] with the body's `Content-Type`.
fn post_typed(port: u16, path: &str, content_type: &str, extra: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer[9..12].parse().unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn hostile_bodies() -> Vec<Vec<u8>> {
    let depth = 100_000;
    vec![
        format!(
            r#"{{"data": [["{}",1,2,3,4,5,6,7,8,9]]}}"#,
            "x".repeat(16 << 20)
        )
        .into_bytes(),
        format!(r#"{{"data": [{}]}}"#, vec!["[0]"; 1_000_000].join(",")).into_bytes(),
        format!(r#"{{"data": {}{}}}"#, "[".repeat(depth), "]".repeat(depth)).into_bytes(),
        br#"{"data": [[1e400,1,2,3,4,5,6,7,8,9]]}"#.to_vec(),
        format!(
            r#"{{"ignored": "{}", "data": [[1]]}}"#,
            "y".repeat(16 << 20)
        )
        .into_bytes(),
    ]
}

const V2_INFER: &str = "/v2/models/diabetes-ridge/infer";

/// Hostile v2 infer bodies, each with its extra header lines: a 16 MB
/// string as data, a million values for a shape of ten, a shape whose
/// elements overflow, a header length past the body, and binary sizes that
/// disagree with a 16 MB binary part.
fn hostile_v2_bodies() -> Vec<(String, Vec<u8>)> {
    let input = |shape: &str, data: &str| {
        format!(r#"{{"inputs": [{{"name": "input", "shape": {shape}, "datatype": "FP32", "data": {data}}}]}}"#)
            .into_bytes()
    };
    let header = br#"{"inputs": [{"name": "input", "shape": [1, 10], "datatype": "FP32", "parameters": {"binary_data_size": 40}}]}"#;
    let mut binary = header.to_vec();
    binary.extend(vec![0u8; 16 << 20]);
    let length = |n: usize| format!("Inference-Header-Content-Length: {n}\r\n");
    vec![
        (
            String::new(),
            input("[1, 10]", &format!(r#"["{}"]"#, "x".repeat(16 << 20))),
        ),
        (
            String::new(),
            input("[1, 10]", &format!("[{}]", vec!["0"; 1_000_000].join(","))),
        ),
        (String::new(), input("[4611686018427387904, 4]", "[0]")),
        (length(1 << 30), binary.clone()),
        (length(header.len()), binary),
    ]
}

#[test]
fn memory_returns_to_its_base_after_hostile_bodies() {
    // The allocator (mimalloc) hands freed memory back 100 ms after it is
    // freed, at its next call; so right after a round, what it still holds
    // of the last huge body can be resident (~32 MB over idle here).
    let server = support::start(&[]);
    let (pid, port) = (server.child.id(), server.port);
    let good = br#"{"data": [[10,9,8,7,6,5,4,3,2,1]]}"#;
    let bodies = hostile_bodies();
    let v2_bodies = hostile_v2_bodies();
    let round = || {
        for body in &bodies {
            assert_eq!(post(port, body), 400);
        }
        for (extra, body) in &v2_bodies {
            assert_eq!(post_to(port, V2_INFER, extra, body), 400, "{extra}");
        }
        for _ in 0..20 {
            assert_eq!(post(port, good), 200);
        }
    };
    let idle = rss_kib(pid);
    // One round first: the allocator keeps some arenas it grew; that is
    // its base under load, not a leak.
    round();
    let mut after = Vec::new();
    for _ in 0..8 {
        round();
        after.push(rss_kib(pid));
    }
    eprintln!("RSS KiB: idle {idle}, after each round {after:?}");
    // The allocator keeps or returns freed pages as it likes, so one reading
    // swings by tens of MB; a leak raises the floor instead. The floor of
    // the last four rounds against that of the four before: a leak of even
    // one 16 MB body per round would lift it by 64 MB.
    let base = after[..4].iter().copied().min().unwrap();
    let last = after[4..].iter().copied().min().unwrap();
    assert!(
        last <= base + 48 * 1024,
        "RSS floor grew from {base} KiB to {last} KiB over rounds of hostile bodies: {after:?}"
    );
    assert!(
        last <= idle + 64 * 1024,
        "RSS stayed {last} KiB against {idle} KiB idle"
    );
}

/// The resident set after large valid requests (and large refused ones)
/// is back within 24 MB of idle within 1.5 s of the last answer, and
/// stays there: the server hands large requests' memory back a quarter of
/// a second after them, not whenever the allocator next runs.
#[test]
fn memory_is_handed_back_soon_after_large_requests() {
    let server = support::start(&["--max-queue-wait-ms", "60000"]);
    let (pid, port) = (server.child.id(), server.port);
    let row = "[10,9,8,7,6,5,4,3,2,1]";
    // About 16 MB of rows, scored; and the same refused (400) at the end.
    let rows = (16 << 20) / (row.len() + 1);
    let good = format!(r#"{{"data": [{}]}}"#, vec![row; rows].join(","));
    let bad = good.replacen("[10,", "[\"x\",", 1);
    let idle = rss_kib(pid);
    let margin = 24 * 1024;
    for round in 0..3 {
        let peak = std::thread::scope(|s| {
            let posts: Vec<_> = (0..2)
                .map(|_| s.spawn(|| post(port, good.as_bytes())))
                .collect();
            let mut peak = 0;
            while posts.iter().any(|p| !p.is_finished()) {
                peak = peak.max(rss_kib(pid));
                std::thread::yield_now();
            }
            for p in posts {
                assert_eq!(p.join().unwrap(), 200);
            }
            peak
        });
        assert_eq!(post(port, bad.as_bytes()), 400);
        let answered = std::time::Instant::now();
        let mut back = None;
        let mut curve = Vec::new();
        while answered.elapsed() < Duration::from_millis(2500) {
            let now = rss_kib(pid);
            curve.push((answered.elapsed().as_millis(), now));
            if back.is_none() && now <= idle + margin {
                back = Some(answered.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("round {round}: idle {idle} KiB, peak {peak} KiB, back after {back:?}");
        let back =
            back.unwrap_or_else(|| panic!("never within {margin} KiB of {idle} KiB: {curve:?}"));
        assert!(
            back <= Duration::from_millis(1500),
            "back only after {back:?}: {curve:?}"
        );
        let last = curve.last().unwrap().1;
        assert!(last <= idle + margin, "rose again to {last} KiB: {curve:?}");
    }
}

/// A 28x28 GIF of `frames` frames (only the first is ever decoded).
fn gif_of_frames(frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        for n in 0..frames {
            let shade = (n % 256) as u8;
            let frame =
                image::RgbaImage::from_pixel(28, 28, image::Rgba([shade, shade, shade, 255]));
            encoder.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    out
}

/// A `side` x `side` PNG of one colour: small on the wire, `side`² pixels
/// decoded.
fn large_png(side: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(side, side, image::Rgb([120, 30, 200]))
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

#[test]
fn memory_returns_to_its_base_after_hostile_and_large_images() {
    let server = support::start(&["--inference-config", "../../examples/inference/images.json"]);
    let (pid, port) = (server.child.id(), server.port);
    let seven = std::fs::read("../../examples/images/seven.png").unwrap();
    let mnist = "/models/cnn-mnist/score";
    let rgb = "/models/rgb-cnn/score";
    let hostile: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        (
            mnist,
            "image/png",
            support::images::png_claiming(100_000, 100_000),
            413,
        ),
        (
            mnist,
            "image/png",
            support::images::png_claiming(4096, 4096),
            400,
        ),
        (mnist, "image/png", seven[..seven.len() - 20].to_vec(), 400),
        (mnist, "image/gif", gif_of_frames(3000), 200),
        (rgb, "image/png", large_png(4096), 200),
        (
            rgb,
            "image/png",
            support::images::png_claiming(5000, 10),
            413,
        ),
    ];
    let round = || {
        for (path, content_type, body, status) in &hostile {
            assert_eq!(
                post_typed(port, path, content_type, "", body),
                *status,
                "{content_type} of {} bytes to {path}",
                body.len()
            );
        }
        for _ in 0..20 {
            assert_eq!(post_typed(port, mnist, "image/png", "", &seven), 200);
        }
    };
    let idle = rss_kib(pid);
    round();
    let mut after = Vec::new();
    for _ in 0..6 {
        round();
        after.push(rss_kib(pid));
    }
    eprintln!("RSS KiB: idle {idle}, after each round {after:?}");
    // A 4096x4096 image is 48 MB of RGB while it is resized: a leak of one
    // a round would lift the floor by 144 MB over the last three rounds.
    let base = after[..3].iter().copied().min().unwrap();
    let last = after[3..].iter().copied().min().unwrap();
    assert!(
        last <= base + 48 * 1024,
        "RSS floor grew from {base} KiB to {last} KiB over rounds of hostile images: {after:?}"
    );
    assert!(
        last <= idle + 96 * 1024,
        "RSS stayed {last} KiB against {idle} KiB idle"
    );
}
