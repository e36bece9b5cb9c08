//! The ceiling for the counter's benchmarks: a bare hyper HTTP/1.1 server
//! answering "hello" to everything, on the same runtime settings as the
//! counter. A request body is read to its end and dropped frame by frame
//! (the ceiling for uploads). Prints `listening on ADDR` and serves until
//! killed.
#![forbid(unsafe_code)]

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(|req: Request<hyper::body::Incoming>| async {
                let mut body = req.into_body();
                while let Some(Ok(_)) = body.frame().await {}
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
