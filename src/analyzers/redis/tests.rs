use super::*;
use proptest::prelude::*;

const C: Direction = Direction::ClientToServer;
const S: Direction = Direction::ServerToClient;

const CMDS: &[u8] = b"*3\r\n$3\r\nSET\r\n$4\r\ntest\r\n$2\r\nhi\r\n*2\r\n$3\r\nget\r\n$4\r\ntest\r\n*2\r\n$4\r\nINCR\r\n$1\r\nx\r\nPING\r\n";
const REPLIES: &[u8] = b"+OK\r\n$2\r\nhi\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n>2\r\n$7\r\nmessage\r\n$1\r\nm\r\n+PONG\r\n";

fn run(c_cuts: &[usize]) -> RedisRecord {
    let mut r = RedisStream::new();
    let mut prev = 0;
    for &k in c_cuts.iter().chain(&[CMDS.len()]) {
        let k = k.clamp(prev, CMDS.len());
        if k > prev {
            r.on_data(C, &CMDS[prev..k], Timestamp(1_000_000));
            prev = k;
        }
    }
    r.on_data(S, REPLIES, Timestamp(3_500_000));
    r.summarize()
}

#[test]
fn pipelined_commands_match_in_order() {
    let r = run(&[]);
    let names: Vec<_> = r.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["SET", "GET", "INCR", "PING"]);
    assert_eq!(r.commands[0].args, ["test", "hi"]);
    assert_eq!(r.commands[0].argc, 2);
    let replies: Vec<_> = r
        .commands
        .iter()
        .map(|c| {
            c.reply
                .as_ref()
                .map(|x| (&*x.kind, x.value.clone(), x.error))
        })
        .collect();
    assert_eq!(
        replies,
        [
            Some(("simple", Some("OK".into()), false)),
            Some(("bulk", Some("hi".into()), false)),
            Some((
                "error",
                Some(
                    "WRONGTYPE Operation against a key holding the wrong kind of value"
                        .chars()
                        .take(64)
                        .collect()
                ),
                true
            )),
            Some(("simple", Some("PONG".into()), false)),
        ]
    );
    assert_eq!(r.push_messages, 1);
    assert_eq!(r.commands[0].latency_ms, Some(2.5));
    for k in 0..CMDS.len() {
        assert_eq!(run(&[k]), r, "split {k}");
    }
}

#[test]
fn argument_bounds() {
    let mut cmd = b"*20\r\n$4\r\nMSET\r\n".to_vec();
    for _ in 0..19 {
        cmd.extend(b"$100\r\n");
        cmd.extend([b'k'; 100]);
        cmd.extend(b"\r\n");
    }
    let mut r = RedisStream::new();
    r.on_data(C, &cmd, Timestamp::ZERO);
    let rec = r.summarize();
    let c = &rec.commands[0];
    assert_eq!(c.argc, 19);
    assert_eq!(c.args.len(), MAX_ARGS);
    assert!(c.args.iter().all(|a| a.len() == parser::MAX_ITEM_BYTES));
}

#[test]
fn credentials_are_not_kept() {
    let mut r = RedisStream::new();
    r.on_data(
        C,
        b"*3\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$6\r\nsecret\r\n",
        Timestamp::ZERO,
    );
    let rec = r.summarize();
    assert_eq!(
        (rec.commands[0].name.as_str(), rec.commands[0].argc),
        ("AUTH", 2)
    );
    assert!(rec.commands[0].args.is_empty());
}

#[test]
fn gap_stops_direction() {
    let mut r = RedisStream::new();
    r.on_data(C, b"*1\r\n$4\r\nPI", Timestamp::ZERO);
    r.on_gap(C, 2, Timestamp::ZERO);
    r.on_data(C, b"\r\n*1\r\n$4\r\nPING\r\n", Timestamp::ZERO);
    let rec = r.summarize();
    assert!(rec.commands.is_empty());
    assert_eq!(rec.anomalies.len(), 1);
}

#[test]
fn detection() {
    assert_eq!(detect(b"*1\r\n$4\r\nPING\r\n", b""), Detection::Match);
    assert_eq!(detect(b"*1\r", b""), Detection::NeedMore);
    assert_eq!(detect(b"*x", b""), Detection::NotMine);
    assert_eq!(detect(b"PING\r\n", b"+PONG\r\n"), Detection::Match);
    assert_eq!(detect(b"PING\r\n", b"220 smtp"), Detection::NotMine);
    assert_eq!(detect(b"USER bob\r\n", b""), Detection::NotMine);
    assert_eq!(detect(b"", b"+OK\r\n"), Detection::NotMine);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(c in proptest::collection::vec(any::<u8>(), 0..1500), k in 0usize..1500) {
        let mut r = RedisStream::new();
        let k = k.min(c.len());
        r.on_data(C, &c[..k], Timestamp::ZERO);
        r.on_data(S, &c, Timestamp::ZERO);
        r.on_data(C, &c[k..], Timestamp::ZERO);
        let _ = r.summarize();
    }

    #[test]
    fn any_split_gives_the_same_values(cuts in proptest::collection::vec(0usize..120, 0..8)) {
        let whole = run(&[]);
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(run(&cuts), whole);
    }
}

/// A telnet-style session against redis-server 7.0.15 on loopback: the client bytes as
/// typed, the server bytes as it answered them (recorded with a socket client).
#[test]
fn inline_session_from_a_real_server() {
    let c: &[u8] = b"PUBLISH Foo \"Hi there :)\"\r\nECHO \"a\\x41\\n b\\q\"\r\nECHO a\"b c\"\r\n";
    let s: &[u8] = b":0\r\n$6\r\naA\n bq\r\n$4\r\nab c\r\n";
    assert_eq!(detect(c, b""), Detection::Match);
    assert_eq!(detect(c, s), Detection::Match);
    let mut r = RedisStream::new();
    r.on_data(C, c, Timestamp(1_000_000));
    r.on_data(S, s, Timestamp(2_000_000));
    let rec = r.summarize();
    let got: Vec<_> = rec
        .commands
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.args.clone(),
                c.reply.as_ref().and_then(|r| r.value.clone()),
            )
        })
        .collect();
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        [
            ("PUBLISH", v(&["Foo", "Hi there :)"]), Some("0".to_string())),
            ("ECHO", v(&["aA\n bq"]), Some("aA\n bq".to_string())),
            ("ECHO", v(&["ab c"]), Some("ab c".to_string())),
        ]
    );
    assert!(rec.anomalies.is_empty(), "{:?}", rec.anomalies);
}
