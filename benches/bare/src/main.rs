//! `inferd-bare [PORT] [BODY]`: reads each request's body and answers 200
//! with a constant JSON body (default `[4042.2642]`, the Ridge model's
//! answer), on 127.0.0.1. What a server that does no work costs over HTTP on
//! this machine: the ceiling inferd's throughput is compared with.
#![forbid(unsafe_code)]

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, header, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(5902);
    let body = Bytes::from(args.next().unwrap_or_else(|| "[4042.2642]".to_owned()));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(port, body))
}

async fn serve(port: u16, body: Bytes) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on {}", listener.local_addr()?);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let body = body.clone();
            async move {
                // Read the body as a real handler must.
                let _ = request.into_body().collect().await;
                let mut response = Response::new(Full::new(body));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                Ok::<_, Infallible>(response)
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(connection);
    }
}
