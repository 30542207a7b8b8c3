//! The ticker's reads: which readers a tick wakes.

use super::*;
use tokio::io::AsyncWriteExt as _;

/// Lets every woken local task run.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

/// Eight connections wait for answers; bytes come in on one. A tick wakes that one reader
/// and no other: reading every connection in flight at every wake-up cost a `recvmsg` per
/// request in flight, per wake-up, against a slow target.
#[test]
fn a_tick_wakes_only_the_readers_whose_connections_got_bytes() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&rt, async {
        let ticker = Rc::new(
            Ticker::new()
                .await
                .expect("this kernel stamps received packets (SO_TIMESTAMPNS)"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let polls: Rc<Vec<Cell<u32>>> = Rc::new((0..8).map(|_| Cell::new(0)).collect());
        let mut servers = Vec::new();
        let mut readers = Vec::new();
        for k in 0..8 {
            let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
            servers.push(listener.accept().await.expect("accept").0);
            let mut stream = stream_for(client, &ticker).expect("deferred");
            assert!(matches!(stream, Stream::Deferred(_)));
            stream.set_idle(false);
            let polls = polls.clone();
            readers.push(tokio::task::spawn_local(async move {
                let mut buf = [0u8; 16];
                std::future::poll_fn(|cx| {
                    polls[k].set(polls[k].get() + 1);
                    let mut read = ReadBuf::new(&mut buf);
                    Pin::new(&mut stream)
                        .poll_read(cx, &mut read)
                        .map_ok(|()| read.filled().len())
                })
                .await
            }));
        }
        settle().await;
        let counts = || polls.iter().map(Cell::get).collect::<Vec<_>>();
        assert_eq!(counts(), [1; 8], "each reader parked once, without a read");
        ticker.tick();
        settle().await;
        assert_eq!(counts(), [1; 8], "nothing came in: no reader woken");
        servers[3].write_all(b"hi").await.expect("write");
        tokio::time::sleep(Duration::from_millis(20)).await;
        ticker.tick();
        settle().await;
        assert_eq!(
            counts(),
            [1, 1, 1, 2, 1, 1, 1, 1],
            "only the reader with bytes woke"
        );
        let got = readers.remove(3).await.expect("reader 3 ends");
        assert_eq!(got.expect("read"), 2);
        for r in readers {
            r.abort();
        }
    });
}
