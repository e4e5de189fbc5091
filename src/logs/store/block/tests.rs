use super::*;

fn row(ts_us: i64, path: &'static str, status: i64, ua: &'static str) -> Row<'static> {
    Row {
        ts_us,
        method: if status >= 500 { "POST" } else { "GET" },
        path,
        status,
        latency_us: ts_us % 7919,
        ip: "2001:db8::1",
        size: -1 + status,
        protocol: "HTTP/2.0",
        user_agent: ua,
    }
}

#[test]
fn a_block_decodes_to_the_rows_it_was_made_of() {
    let base = 1_736_935_200_000_000; // 2025-01-15T10:00:00Z
    let rows = vec![
        row(base + 3_599_999_999, "/ünïcode?q=1", 503, "curl/8"),
        row(base + 61_000_000, "", 200, "Mozilla/5.0 \"quoted\""),
        row(base + 61_000_000, "/same-time", 200, "curl/8"),
        row(base, "/first", 404, ""),
    ];
    let e = encode(&rows);
    assert_eq!(
        (e.rows, e.min_ts, e.max_ts),
        (4, base, base + 3_599_999_999)
    );
    assert_eq!(e.statuses, [(200, 2), (404, 1), (503, 1)]);
    let c = Columns {
        rows: e.rows,
        ts: &e.ts,
        status: &e.status,
        method: &e.method,
        path: &e.path,
        rest: &e.rest,
    };
    let d = Decoded::decode(&c).unwrap();
    assert_eq!(d.rows().collect::<Vec<_>>(), rows);
    let one_by_one: Vec<_> = (0..4).map(|i| row_at(&c, i).unwrap()).collect();
    assert_eq!(one_by_one, rows, "a row alone decodes the same");
    assert!(row_at(&c, 4).is_err());
    let mut hist = decode_hist(&e.hist, day_of(base)).unwrap();
    hist.sort_unstable();
    let s = base / 1_000_000;
    assert_eq!(
        hist,
        [(s, 4, 1), (s + 60, 2, 2), (s + 59 * 60, 5, 1)],
        "per minute of the day and class"
    );
}

#[test]
fn damaged_bytes_are_an_error_not_a_panic() {
    let e = encode(&[row(5, "/a", 200, "x"), row(1, "/b", 200, "y")]);
    assert!(decode_paths(&e.path[..3], 2).is_err());
    assert!(
        decode_dict(&[1, 1, b'a', 7], 1).is_err(),
        "code out of range"
    );
    assert!(decode_ts(&[0xff; 11], 1).is_err());
    assert!(
        decode_ints(&e.status, 1 << 42).is_err(),
        "a damaged row count is an error, not a huge allocation"
    );
    assert!(decode_statuses(&e.status, (-5i64) as usize).is_err());
    assert!(decode_paths(&[2, 0xff, 0xfe], 1).is_err(), "not UTF-8");
    assert_eq!(
        decode_ts(&e.ts, 2).unwrap(),
        [5, 1],
        "the intact column still decodes"
    );
}

#[test]
fn days_and_classes() {
    assert_eq!(day_of(DAY_US + 5), DAY_US);
    assert_eq!(day_of(-1), -DAY_US);
    assert_eq!(
        [200, 304, 404, 503, 0, 101, 99].map(class),
        [2, 3, 4, 5, 0, 0, 0]
    );
}
