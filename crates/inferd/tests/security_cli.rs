//! Keys and TLS through the binary's own options: generated keys land in an
//! owner-only file whose path (never the keys) is printed; `curl` speaks
//! HTTPS to the server over HTTP/1.1 and HTTP/2; bad certificate files stop
//! start-up naming the file.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{repo_models, start};

struct Pem {
    cert: PathBuf,
    key: PathBuf,
}

fn certificate(dir: &Path, name: &str) -> Pem {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = Pem {
        cert: dir.join(format!("{name}-cert.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    std::fs::write(&pem.cert, cert.pem()).unwrap();
    std::fs::write(&pem.key, key.serialize_pem()).unwrap();
    pem
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl is installed")
}

#[test]
fn curl_over_https_with_generated_keys() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certificate(dir.path(), "good");
    let keys_path = dir.path().join("keys.json");
    let server = start(&[
        "--auth-enabled",
        "true",
        "--generated-keys-file",
        keys_path.to_str().unwrap(),
        "--ssl-enabled",
        "true",
        "--ssl-certificate",
        pem.cert.to_str().unwrap(),
        "--ssl-key",
        pem.key.to_str().unwrap(),
    ]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&keys_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "generated keys are owner-only");
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&keys_path).unwrap()).unwrap();
    let primary = keys["primaryKey"].as_str().unwrap().to_owned();
    let secondary = keys["secondaryKey"].as_str().unwrap().to_owned();
    let printed = server.stderr.lock().unwrap().clone();
    assert!(printed.contains(keys_path.to_str().unwrap()), "{printed}");
    assert!(
        !printed.contains(&primary) && !printed.contains(&secondary),
        "a key was printed"
    );

    let url = format!("https://localhost:{}/score", server.port);
    let resolve = format!("localhost:{}:127.0.0.1", server.port);
    let body = r#"{"data": [[10,9,8,7,6,5,4,3,2,1]]}"#;
    for (key, protocol, expect) in [
        (Some(&primary), "--http2", "200 2"),
        (Some(&secondary), "--http1.1", "200 1.1"),
        (None, "--http2", "401 2"),
        (
            Some(&"not-the-key-0123456789".to_owned()),
            "--http1.1",
            "401 1.1",
        ),
    ] {
        let auth = key.map(|k| format!("Authorization: Bearer {k}"));
        let mut args = vec![
            protocol,
            "--cacert",
            pem.cert.to_str().unwrap(),
            "--resolve",
            resolve.as_str(),
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
        ];
        if let Some(auth) = &auth {
            args.extend(["-H", auth.as_str()]);
        }
        args.push(url.as_str());
        let output = curl(&args);
        let written = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            written,
            expect,
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Liveness stays open; plain HTTP on the TLS port gets no answer.
    let live = curl(&[
        "--cacert",
        pem.cert.to_str().unwrap(),
        "--resolve",
        &resolve,
        &format!("https://localhost:{}/", server.port),
    ]);
    assert_eq!(String::from_utf8_lossy(&live.stdout), "Healthy");
    let plain = curl(&[&format!("http://127.0.0.1:{}/", server.port)]);
    assert!(!plain.status.success());
    let again = curl(&[
        "--cacert",
        pem.cert.to_str().unwrap(),
        "--resolve",
        &resolve,
        &format!("https://localhost:{}/", server.port),
    ]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), "Healthy");
}

fn assert_start_fails(args: &[&str], message: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_inferd"))
        .args(["serve", "--port", "0", "--log-format", "json"])
        .arg("--registry")
        .arg(repo_models())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

#[test]
fn bad_certificates_and_keys_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (certificate(dir.path(), "a"), certificate(dir.path(), "b"));
    let s = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let tls = |cert: &str, key: &str| {
        vec![
            "--ssl-enabled".to_owned(),
            "true".to_owned(),
            "--ssl-certificate".to_owned(),
            cert.to_owned(),
            "--ssl-key".to_owned(),
            key.to_owned(),
        ]
    };
    let cases = [
        (
            tls(&s(&a.cert), &s(&b.key)),
            "does not belong to the certificate".to_owned(),
        ),
        (
            tls("/nonexistent/c.pem", &s(&a.key)),
            "sslCertificate /nonexistent/c.pem".to_owned(),
        ),
        (
            tls(&s(&a.key), &s(&a.key)),
            "no PEM 'CERTIFICATE' block".to_owned(),
        ),
        (
            tls(&s(&a.cert), &s(&a.cert)),
            format!("sslKey {}", s(&a.cert)),
        ),
        (
            vec!["--ssl-enabled".to_owned(), "true".to_owned()],
            "needs both sslCertificate and sslKey".to_owned(),
        ),
        (
            vec![
                "--auth-enabled=true".to_owned(),
                "--primary-key=short".to_owned(),
            ],
            "primaryKey is shorter than 16 characters".to_owned(),
        ),
        (
            vec![
                "--auth-enabled=true".to_owned(),
                "--keys-file=/nonexistent/keys".to_owned(),
            ],
            "cannot read the keys file /nonexistent/keys".to_owned(),
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_start_fails(&args, &message);
    }
}
