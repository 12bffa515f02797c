//! Pure parsers for the tunnel's control frames: the 8-byte frame header in both byte
//! orders, the message id table, and the payload layouts.
//!
//! ```text
//! offset 0   4 bytes  data_len  (u32, big-endian today, little-endian in legacy builds)
//! offset 4   4 bytes  msg_id    (u32, same byte order as data_len)
//! offset 8   data_len bytes     payload (its own fields are big-endian in every build)
//! ```
//!
//! Contracts:
//! * Every function takes `&[u8]` and either returns values that borrow from it or a
//!   reason; all reads go through checked accessors (`get`), so no input can make them
//!   panic, and nothing is allocated from a declared length.
//! * [`parse_frame`] answers [`Parsed::Done`] (frame and bytes consumed),
//!   [`Parsed::Incomplete`] (how many more bytes are needed, at least) or [`Parsed::Invalid`].
//!   A `data_len` above [`MAX_DATA_LEN`] (64 KiB; the largest legitimate payload is a
//!   `UserInfo` of a few dozen bytes) is [`FrameError::TooLong`] as soon as the header is
//!   present, so a caller that buffers until `Ok` never holds more than
//!   [`HEADER_LEN`] + [`MAX_DATA_LEN`] bytes.
//! * Unknown message ids are [`FrameError::UnknownId`]; the error carries the declared
//!   length so a caller may decide to skip the frame.
//! * [`sniff_order`] tells the byte order from a header only when exactly one order gives
//!   a known id with a length sane for that id ([`MsgId::sane_len`]); garbage gets `None`,
//!   never a guess.

use serde::Serialize;
use std::fmt;

/// Length of the frame header (`data_len` + `msg_id`).
pub const HEADER_LEN: usize = 8;
/// Largest `data_len` accepted; beyond it a frame is an anomaly, never an allocation.
pub const MAX_DATA_LEN: u32 = 64 * 1024;
/// Largest text payload (`ping`, `NEW_CONNECTION`, error strings) considered sane.
pub const MAX_TEXT_LEN: u32 = 256;
/// Length of a `ClientConnInfo` payload (`uid` i64 + `port` i32).
pub const CLIENT_CONN_INFO_LEN: usize = 12;
/// Length of the `USER_INFORMATION` frame that opens a tunnel connection.
pub const TUNNEL_FRAME_LEN: usize = HEADER_LEN + CLIENT_CONN_INFO_LEN;
/// Smallest `UserInfo` (document layout, empty name and password).
pub const MIN_USER_INFO_LEN: u32 = 16;

/// Byte order of a connection's frame headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ByteOrder {
    /// Every public build since mid-2023.
    BigEndian,
    /// Legacy builds (the design document's listing).
    LittleEndian,
}

impl ByteOrder {
    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::BigEndian => "big_endian",
            ByteOrder::LittleEndian => "little_endian",
        }
    }

    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            ByteOrder::BigEndian => u32::from_be_bytes(b),
            ByteOrder::LittleEndian => u32::from_le_bytes(b),
        }
    }

    /// Writes `v` in this order (for tests and fixtures).
    pub fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            ByteOrder::BigEndian => v.to_be_bytes(),
            ByteOrder::LittleEndian => v.to_le_bytes(),
        }
    }
}

/// The message ids, with the names the implementation uses (`PASSWORD_INCORRET` sic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum MsgId {
    #[serde(rename = "USER_AUTHENTICATION_SUCCESSFULLY")]
    UserAuthenticationSuccessfully,
    #[serde(rename = "NEW_CONNECTION")]
    NewConnection,
    #[serde(rename = "USER_INFORMATION")]
    UserInformation,
    #[serde(rename = "KEEP_ALIVE")]
    KeepAlive,
    #[serde(rename = "CONNECTION_IF_FULL")]
    ConnectionIfFull,
    #[serde(rename = "USER_NOT_EXIST")]
    UserNotExist,
    #[serde(rename = "USER_ALREADY_EXIST")]
    UserAlreadyExist,
    #[serde(rename = "USER_EXPIRED")]
    UserExpired,
    #[serde(rename = "PASSWORD_INCORRET")]
    PasswordIncorret,
    #[serde(rename = "AUTH_FAIL")]
    AuthFail,
    #[serde(rename = "USER_REQUEST_AUTH")]
    UserRequestAuth,
}

impl MsgId {
    pub const ALL: [MsgId; 11] = [
        MsgId::UserAuthenticationSuccessfully,
        MsgId::NewConnection,
        MsgId::UserInformation,
        MsgId::KeepAlive,
        MsgId::ConnectionIfFull,
        MsgId::UserNotExist,
        MsgId::UserAlreadyExist,
        MsgId::UserExpired,
        MsgId::PasswordIncorret,
        MsgId::AuthFail,
        MsgId::UserRequestAuth,
    ];

    pub fn code(self) -> u32 {
        match self {
            MsgId::UserAuthenticationSuccessfully => 10001,
            MsgId::NewConnection => 20001,
            MsgId::UserInformation => 20002,
            MsgId::KeepAlive => 20003,
            MsgId::ConnectionIfFull => 20004,
            MsgId::UserNotExist => 30001,
            MsgId::UserAlreadyExist => 30002,
            MsgId::UserExpired => 30003,
            MsgId::PasswordIncorret => 30004,
            MsgId::AuthFail => 30005,
            MsgId::UserRequestAuth => 60001,
        }
    }

    pub fn from_code(code: u32) -> Option<MsgId> {
        MsgId::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The name as in the implementation's constants.
    pub fn name(self) -> &'static str {
        match self {
            MsgId::UserAuthenticationSuccessfully => "USER_AUTHENTICATION_SUCCESSFULLY",
            MsgId::NewConnection => "NEW_CONNECTION",
            MsgId::UserInformation => "USER_INFORMATION",
            MsgId::KeepAlive => "KEEP_ALIVE",
            MsgId::ConnectionIfFull => "CONNECTION_IF_FULL",
            MsgId::UserNotExist => "USER_NOT_EXIST",
            MsgId::UserAlreadyExist => "USER_ALREADY_EXIST",
            MsgId::UserExpired => "USER_EXPIRED",
            MsgId::PasswordIncorret => "PASSWORD_INCORRET",
            MsgId::AuthFail => "AUTH_FAIL",
            MsgId::UserRequestAuth => "USER_REQUEST_AUTH",
        }
    }

    /// Range of `data_len` a legitimate frame of this id has: exactly 12 for
    /// `USER_INFORMATION`, a `UserInfo` for `USER_REQUEST_AUTH`, short text otherwise
    /// (the implementation sends the auth replies empty; the document's builds send a
    /// sentence).
    pub fn sane_len(self) -> std::ops::RangeInclusive<u32> {
        match self {
            MsgId::UserInformation => 12..=12,
            MsgId::UserRequestAuth => MIN_USER_INFO_LEN..=MAX_DATA_LEN,
            _ => 0..=MAX_TEXT_LEN,
        }
    }

    /// Whether the server sends this message (every id but `USER_REQUEST_AUTH`;
    /// `USER_INFORMATION` goes both ways).
    pub fn sent_by_server(self) -> bool {
        self != MsgId::UserRequestAuth
    }

    /// Whether a client sends this message (`USER_REQUEST_AUTH` on control connections,
    /// `USER_INFORMATION` opening tunnel connections).
    pub fn sent_by_client(self) -> bool {
        matches!(self, MsgId::UserRequestAuth | MsgId::UserInformation)
    }

    /// An authentication reply that refuses the client.
    pub fn is_auth_failure(self) -> bool {
        matches!(
            self,
            MsgId::UserNotExist
                | MsgId::UserAlreadyExist
                | MsgId::UserExpired
                | MsgId::PasswordIncorret
                | MsgId::AuthFail
        )
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub data_len: u32,
    /// The raw id (may be unknown).
    pub id: u32,
    pub order: ByteOrder,
}

impl Header {
    /// Reads the first [`HEADER_LEN`] bytes of `input` in `order`; `None` when fewer.
    pub fn read(input: &[u8], order: ByteOrder) -> Option<Header> {
        let len: [u8; 4] = input.get(0..4)?.try_into().ok()?;
        let id: [u8; 4] = input.get(4..8)?.try_into().ok()?;
        Some(Header {
            data_len: order.u32(len),
            id: order.u32(id),
            order,
        })
    }

    pub fn msg(&self) -> Option<MsgId> {
        MsgId::from_code(self.id)
    }

    /// Whether the id is known and `data_len` is sane for it.
    pub fn is_plausible(&self) -> bool {
        self.msg()
            .is_some_and(|m| m.sane_len().contains(&self.data_len))
    }

    /// Header plus payload length.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.data_len as usize
    }
}

/// One complete frame, borrowing its payload.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub order: ByteOrder,
    pub msg: MsgId,
    pub data: &'a [u8],
}

impl Frame<'_> {
    /// Bytes the frame occupies on the wire.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }
}

impl fmt::Debug for Frame<'_> {
    /// Shows the payload length only: a `USER_REQUEST_AUTH` payload holds a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("order", &self.order)
            .field("msg", &self.msg)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// Why bytes are not a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The id is not in the table. `data_len` is what the header declares.
    #[error("unknown message id {id} (declared length {data_len})")]
    UnknownId { id: u32, data_len: u32 },
    /// `data_len` is above [`MAX_DATA_LEN`].
    #[error("declared length {data_len} of message id {id} is above {MAX_DATA_LEN}")]
    TooLong { id: u32, data_len: u32 },
}

/// Outcome of [`parse_frame`]: a frame and the input bytes it used, how many more bytes
/// it needs (exactly that many once the header is present), or a [`FrameError`].
pub type Parsed<'a> = crate::analyzers::api::Parsed<Frame<'a>, FrameError>;

/// Parses one frame at the start of `input` with headers in `order`.
pub fn parse_frame(input: &[u8], order: ByteOrder) -> Parsed<'_> {
    let Some(h) = Header::read(input, order) else {
        return Parsed::Incomplete {
            needed: HEADER_LEN - input.len(),
        };
    };
    if h.data_len > MAX_DATA_LEN {
        return Parsed::Invalid(FrameError::TooLong {
            id: h.id,
            data_len: h.data_len,
        });
    }
    let Some(msg) = h.msg() else {
        return Parsed::Invalid(FrameError::UnknownId {
            id: h.id,
            data_len: h.data_len,
        });
    };
    let total = h.frame_len();
    match input.get(HEADER_LEN..total) {
        Some(data) => Parsed::Done(Frame { order, msg, data }, total),
        None => Parsed::Incomplete {
            needed: total - input.len(),
        },
    }
}

/// The byte order whose reading of the header at the start of `input` gives a known id
/// with a sane length for it; `None` when neither does (or fewer than 8 bytes). Both
/// orders cannot succeed at once: a known id has a zero high half and a non-zero low
/// half, so its bytes read as an id in one order only.
pub fn sniff_order(input: &[u8]) -> Option<ByteOrder> {
    [ByteOrder::BigEndian, ByteOrder::LittleEndian]
        .into_iter()
        .find(|&o| Header::read(input, o).is_some_and(|h| h.is_plausible()))
}

/// Whether the first `input.len() < 8` bytes could still begin a plausible header in
/// `order` (used to say `NotMine` early on text protocols).
pub fn could_begin_header(input: &[u8], order: ByteOrder) -> bool {
    // A sane data_len is at most 0x0001_0000, so in big-endian the first byte is 0 and
    // the second at most 1; in little-endian the fourth byte is 0 and the third at most 1.
    // A known id is below 0x10000: its two high bytes are 0.
    let at = |i: usize| input.get(i).copied();
    let (len_hi, len_mid, id_hi) = match order {
        ByteOrder::BigEndian => ([at(0)], at(1), [at(4), at(5)]),
        ByteOrder::LittleEndian => ([at(3)], at(2), [at(6), at(7)]),
    };
    len_hi
        .iter()
        .chain(id_hi.iter())
        .all(|b| matches!(b, None | Some(0)))
        && matches!(len_mid, None | Some(0) | Some(1))
}

/// A `USER_INFORMATION` payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClientConnInfo {
    pub uid: i64,
    pub port: i32,
}

/// Decodes a `ClientConnInfo`: exactly 12 bytes, `uid` i64 then `port` i32, big-endian.
pub fn parse_client_conn_info(data: &[u8]) -> Option<ClientConnInfo> {
    if data.len() != CLIENT_CONN_INFO_LEN {
        return None;
    }
    Some(ClientConnInfo {
        uid: i64::from_be_bytes(data.get(0..8)?.try_into().ok()?),
        port: i32::from_be_bytes(data.get(8..12)?.try_into().ok()?),
    })
}

/// Which `UserInfo` layout a payload used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserInfoLayout {
    /// `name_len, name, pass_len, pass, expire` (the design document).
    Document,
    /// `uid, name_len, name, pass_len, pass, expire` (the public implementation).
    Implementation,
}

/// A `USER_REQUEST_AUTH` payload, borrowing from the frame. Its `Debug` shows the
/// password's length only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UserInfo<'a> {
    pub layout: UserInfoLayout,
    /// Present in the implementation's layout (always 0 there).
    pub uid: Option<i64>,
    pub name: &'a [u8],
    pub password: &'a [u8],
    /// Unix seconds (Go's zero time, -62135596800, when the client leaves it unset).
    pub expire: i64,
}

impl fmt::Debug for UserInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo")
            .field("layout", &self.layout)
            .field("uid", &self.uid)
            .field("name", &String::from_utf8_lossy(self.name))
            .field("password_len", &self.password.len())
            .field("expire", &self.expire)
            .finish()
    }
}

/// Outcome of [`parse_user_info`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserInfoParse<'a> {
    /// Exactly one layout fits.
    One(UserInfo<'a>),
    /// Both layouts fit exactly (contrived input); the implementation's reading is given
    /// first.
    Ambiguous(UserInfo<'a>, UserInfo<'a>),
    /// Neither layout accounts for every byte.
    Neither,
}

/// Reads `name_len, name, pass_len, pass, expire` from `data[start..]`, requiring the
/// fields to end exactly at `data.len()`.
fn user_fields(data: &[u8], start: usize) -> Option<(&[u8], &[u8], i64)> {
    let rd_len = |at: usize| -> Option<usize> {
        let v = i32::from_be_bytes(data.get(at..at.checked_add(4)?)?.try_into().ok()?);
        usize::try_from(v).ok()
    };
    let name_len = rd_len(start)?;
    let name_at = start + 4;
    let name_end = name_at.checked_add(name_len)?;
    let name = data.get(name_at..name_end)?;
    let pass_len = rd_len(name_end)?;
    let pass_at = name_end + 4;
    let pass_end = pass_at.checked_add(pass_len)?;
    let password = data.get(pass_at..pass_end)?;
    let exp_end = pass_end.checked_add(8)?;
    if exp_end != data.len() {
        return None;
    }
    let expire = i64::from_be_bytes(data.get(pass_end..exp_end)?.try_into().ok()?);
    Some((name, password, expire))
}

/// Decodes a `UserInfo` in whichever layout makes every length fit exactly.
pub fn parse_user_info(data: &[u8]) -> UserInfoParse<'_> {
    let doc = user_fields(data, 0).map(|(name, password, expire)| UserInfo {
        layout: UserInfoLayout::Document,
        uid: None,
        name,
        password,
        expire,
    });
    let imp = data
        .get(0..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .and_then(|uid| {
            user_fields(data, 8).map(|(name, password, expire)| UserInfo {
                layout: UserInfoLayout::Implementation,
                uid: Some(i64::from_be_bytes(uid)),
                name,
                password,
                expire,
            })
        });
    match (imp, doc) {
        (Some(i), Some(d)) => UserInfoParse::Ambiguous(i, d),
        (Some(one), None) | (None, Some(one)) => UserInfoParse::One(one),
        (None, None) => UserInfoParse::Neither,
    }
}

/// Whether a text payload looks like the implementation's strings (printable ASCII).
pub fn is_printable_text(data: &[u8]) -> bool {
    data.iter().all(|&b| (0x20..0x7f).contains(&b))
}

/// Whether a complete frame's payload is what its id carries: 12 bytes for
/// `USER_INFORMATION`, a decodable `UserInfo` for `USER_REQUEST_AUTH`, printable text of
/// a sane length otherwise.
pub fn payload_is_plausible(msg: MsgId, data: &[u8]) -> bool {
    match msg {
        MsgId::UserInformation => parse_client_conn_info(data).is_some(),
        MsgId::UserRequestAuth => !matches!(parse_user_info(data), UserInfoParse::Neither),
        _ => data.len() <= MAX_TEXT_LEN as usize && is_printable_text(data),
    }
}

/// Builds a frame (for tests, fixtures and examples).
pub fn encode_frame(order: ByteOrder, id: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + data.len());
    v.extend_from_slice(&order.put_u32(data.len() as u32));
    v.extend_from_slice(&order.put_u32(id));
    v.extend_from_slice(data);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `00 00 00 04 | 00 00 4e 23 | 70 69 6e 67` from the spec.
    const KEEP_ALIVE_BE: [u8; 12] = [
        0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x4e, 0x23, 0x70, 0x69, 0x6e, 0x67,
    ];

    /// The document's UserInfo for `wyfld` / `yfw123456789`, expire 0x64847113.
    const USER_INFO_DOC: [u8; 33] = [
        0x00, 0x00, 0x00, 0x05, 0x77, 0x79, 0x66, 0x6c, 0x64, 0x00, 0x00, 0x00, 0x0c, 0x79, 0x66,
        0x77, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x00, 0x00, 0x00, 0x00, 0x64,
        0x84, 0x71, 0x13,
    ];

    #[test]
    fn keep_alive_example_big_endian() {
        match parse_frame(&KEEP_ALIVE_BE, ByteOrder::BigEndian) {
            Parsed::Done(frame, consumed) => {
                assert_eq!(consumed, 12);
                assert_eq!(frame.msg, MsgId::KeepAlive);
                assert_eq!(frame.msg.code(), 20003);
                assert_eq!(frame.data, b"ping");
                assert_eq!(frame.wire_len(), 12);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sniff_order(&KEEP_ALIVE_BE), Some(ByteOrder::BigEndian));
    }

    #[test]
    fn keep_alive_little_endian_header() {
        // Legacy builds: `04 00 00 00 | 23 4e 00 00 | ping`.
        let le = [
            0x04, 0x00, 0x00, 0x00, 0x23, 0x4e, 0x00, 0x00, 0x70, 0x69, 0x6e, 0x67,
        ];
        assert_eq!(sniff_order(&le), Some(ByteOrder::LittleEndian));
        match parse_frame(&le, ByteOrder::LittleEndian) {
            Parsed::Done(frame, consumed) => {
                assert_eq!(
                    (frame.msg, frame.data, consumed),
                    (MsgId::KeepAlive, &b"ping"[..], 12)
                );
            }
            other => panic!("{other:?}"),
        }
        // Read in the wrong order the same bytes are an absurd length.
        assert!(matches!(
            parse_frame(&le, ByteOrder::BigEndian),
            Parsed::Invalid(FrameError::TooLong {
                data_len: 0x0400_0000,
                ..
            })
        ));
        assert_eq!(encode_frame(ByteOrder::LittleEndian, 20003, b"ping"), le);
        assert_eq!(
            encode_frame(ByteOrder::BigEndian, 20003, b"ping"),
            KEEP_ALIVE_BE
        );
    }

    #[test]
    fn id_table_matches_the_spec() {
        let expected = [
            (10001, "USER_AUTHENTICATION_SUCCESSFULLY"),
            (20001, "NEW_CONNECTION"),
            (20002, "USER_INFORMATION"),
            (20003, "KEEP_ALIVE"),
            (20004, "CONNECTION_IF_FULL"),
            (30001, "USER_NOT_EXIST"),
            (30002, "USER_ALREADY_EXIST"),
            (30003, "USER_EXPIRED"),
            (30004, "PASSWORD_INCORRET"),
            (30005, "AUTH_FAIL"),
            (60001, "USER_REQUEST_AUTH"),
        ];
        for (code, name) in expected {
            let m = MsgId::from_code(code).expect(name);
            assert_eq!(m.name(), name);
            assert_eq!(
                serde_json::to_string(&m).expect("serialise"),
                format!("\"{name}\"")
            );
        }
        assert_eq!(MsgId::from_code(20005), None);
        assert_eq!(MsgId::from_code(0), None);
    }

    #[test]
    fn client_conn_info_uid_1_port_8080() {
        let data = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x1f, 0x90];
        assert_eq!(
            parse_client_conn_info(&data),
            Some(ClientConnInfo { uid: 1, port: 8080 })
        );
        assert_eq!(parse_client_conn_info(&data[..11]), None);
        let frame = encode_frame(ByteOrder::BigEndian, 20002, &data);
        assert_eq!(frame.len(), TUNNEL_FRAME_LEN);
        assert_eq!(&frame[..8], &[0, 0, 0, 12, 0, 0, 0x4e, 0x22]);
    }

    #[test]
    fn user_info_document_layout() {
        match parse_user_info(&USER_INFO_DOC) {
            UserInfoParse::One(u) => {
                assert_eq!(u.layout, UserInfoLayout::Document);
                assert_eq!(u.uid, None);
                assert_eq!(u.name, b"wyfld");
                assert_eq!(u.password, b"yfw123456789");
                assert_eq!(u.expire, 0x6484_7113);
                // 2023-06-10 12:48:19 UTC, the document's test run at +08:00.
                assert_eq!(u.expire, 1_686_401_299);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn user_info_implementation_layout() {
        // uid 0, then the same fields, expire = Go's zero time.
        let mut data = vec![0u8; 8];
        data.extend_from_slice(&USER_INFO_DOC[..USER_INFO_DOC.len() - 8]);
        data.extend_from_slice(&(-62_135_596_800i64).to_be_bytes());
        match parse_user_info(&data) {
            UserInfoParse::One(u) => {
                assert_eq!(u.layout, UserInfoLayout::Implementation);
                assert_eq!(u.uid, Some(0));
                assert_eq!(u.name, b"wyfld");
                assert_eq!(u.password.len(), 12);
                assert_eq!(u.expire, -62_135_596_800);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn user_info_that_fits_neither_layout() {
        assert_eq!(
            parse_user_info(&USER_INFO_DOC[..32]),
            UserInfoParse::Neither
        );
        assert_eq!(parse_user_info(&[]), UserInfoParse::Neither);
        // Negative and huge lengths.
        let mut bad = USER_INFO_DOC;
        bad[0] = 0xff;
        assert_eq!(parse_user_info(&bad), UserInfoParse::Neither);
        let mut extra = USER_INFO_DOC.to_vec();
        extra.push(0);
        assert_eq!(parse_user_info(&extra), UserInfoParse::Neither);
    }

    #[test]
    fn user_info_debug_hides_the_password() {
        let UserInfoParse::One(u) = parse_user_info(&USER_INFO_DOC) else {
            panic!("layout");
        };
        let dbg = format!("{u:?}");
        assert!(!dbg.contains("yfw123456789"), "{dbg}");
        assert!(dbg.contains("password_len: 12"), "{dbg}");
        let frame = encode_frame(ByteOrder::BigEndian, 60001, &USER_INFO_DOC);
        let Parsed::Done(frame, _) = parse_frame(&frame, ByteOrder::BigEndian) else {
            panic!("frame");
        };
        assert!(!format!("{frame:?}").contains("yfw"));
    }

    #[test]
    fn unknown_ids_are_errors_with_their_length() {
        let f = encode_frame(ByteOrder::BigEndian, 20005, b"abc");
        assert_eq!(
            parse_frame(&f, ByteOrder::BigEndian),
            Parsed::Invalid(FrameError::UnknownId {
                id: 20005,
                data_len: 3
            })
        );
        assert_eq!(sniff_order(&f), None);
    }

    #[test]
    fn absurd_lengths_are_errors_before_any_payload() {
        // 0xffffffff bytes of KEEP_ALIVE: refused from the header alone.
        let h = [0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x4e, 0x23];
        assert_eq!(
            parse_frame(&h, ByteOrder::BigEndian),
            Parsed::Invalid(FrameError::TooLong {
                id: 20003,
                data_len: u32::MAX
            })
        );
        let just_over = encode_header(MAX_DATA_LEN + 1, 60001);
        assert!(matches!(
            parse_frame(&just_over, ByteOrder::BigEndian),
            Parsed::Invalid(FrameError::TooLong { .. })
        ));
        // At the limit it is only incomplete.
        let at = encode_header(MAX_DATA_LEN, 60001);
        assert_eq!(
            parse_frame(&at, ByteOrder::BigEndian),
            Parsed::Incomplete {
                needed: MAX_DATA_LEN as usize
            }
        );
        // Sane per id: KEEP_ALIVE of 1000 bytes is a frame but not a plausible one.
        assert_eq!(sniff_order(&encode_header(1000, 20003)), None);
        assert_eq!(sniff_order(&encode_header(13, 20002)), None);
        assert_eq!(
            sniff_order(&encode_header(12, 20002)),
            Some(ByteOrder::BigEndian)
        );
    }

    fn encode_header(len: u32, id: u32) -> Vec<u8> {
        let mut v = len.to_be_bytes().to_vec();
        v.extend_from_slice(&id.to_be_bytes());
        v
    }

    #[test]
    fn truncated_frames_say_what_they_need() {
        for cut in 0..12 {
            let want = if cut < 8 { 8 - cut } else { 12 - cut };
            assert_eq!(
                parse_frame(&KEEP_ALIVE_BE[..cut], ByteOrder::BigEndian),
                Parsed::Incomplete { needed: want },
                "cut at {cut}"
            );
        }
        assert_eq!(sniff_order(&KEEP_ALIVE_BE[..7]), None);
    }

    #[test]
    fn trailing_bytes_are_left_for_the_next_frame() {
        let mut two = KEEP_ALIVE_BE.to_vec();
        two.extend_from_slice(&KEEP_ALIVE_BE[..5]);
        let Parsed::Done(_, consumed) = parse_frame(&two, ByteOrder::BigEndian) else {
            panic!("first frame");
        };
        assert_eq!(consumed, 12);
        assert_eq!(
            parse_frame(&two[consumed..], ByteOrder::BigEndian),
            Parsed::Incomplete { needed: 3 }
        );
    }

    #[test]
    fn early_rejection_of_text() {
        for text in [&b"GET "[..], b"SSH-", b"\x16\x03\x01\x02\x00", b"*1\r\n"] {
            assert!(!could_begin_header(text, ByteOrder::BigEndian), "{text:?}");
            assert!(
                !could_begin_header(text, ByteOrder::LittleEndian),
                "{text:?}"
            );
        }
        assert!(could_begin_header(
            &KEEP_ALIVE_BE[..3],
            ByteOrder::BigEndian
        ));
        assert!(could_begin_header(
            &[0x04, 0, 0, 0, 0x23],
            ByteOrder::LittleEndian
        ));
    }

    #[test]
    fn payload_plausibility() {
        assert!(payload_is_plausible(MsgId::KeepAlive, b"ping"));
        assert!(!payload_is_plausible(MsgId::KeepAlive, b"\x00\x01"));
        assert!(payload_is_plausible(MsgId::UserRequestAuth, &USER_INFO_DOC));
        assert!(!payload_is_plausible(
            MsgId::UserRequestAuth,
            &USER_INFO_DOC[1..]
        ));
        assert!(payload_is_plausible(
            MsgId::UserAuthenticationSuccessfully,
            b""
        ));
    }
}
