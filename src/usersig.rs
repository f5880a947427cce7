//! TRTC UserSig v2 and privateMapKey: signing, decoding and verification (reference §2).
//!
//! The PyPI and npm signers write different JSON and use different zlib builds, so one signature
//! has several valid UserSig strings. A UserSig is therefore only ever checked by decoding it and
//! recomputing the HMAC over the decoded fields; the strings themselves are never compared.
//!
//! Everything here takes untrusted input from the network, so decoding is strict (one alphabet,
//! canonical base64, one complete zlib stream, no duplicate or unknown JSON keys, integer-only
//! numbers), size-capped, and never panics.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use hmac::{Hmac, Mac};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use sha2::Sha256;
use std::collections::BTreeSet;
use std::fmt;
use std::io::Write as _;
use subtle::ConstantTimeEq;

/// The only `TLS.ver` this module signs and accepts.
pub const VERSION: &str = "2.0";

/// The Python signer's default lifetime (180 days), for callers that have no better value.
pub const DEFAULT_EXPIRE_SECS: u64 = 180 * 86_400;

/// Longest UserSig string `decode` looks at; real ones are a few hundred characters.
pub const MAX_SIG_CHARS: usize = 16 * 1024;

/// Largest inflated JSON `decode` accepts, so a small zlib bomb cannot make us allocate much.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

const F_VER: &str = "TLS.ver";
const F_IDENTIFIER: &str = "TLS.identifier";
const F_SDKAPPID: &str = "TLS.sdkappid";
const F_EXPIRE: &str = "TLS.expire";
const F_TIME: &str = "TLS.time";
const F_USERBUF: &str = "TLS.userbuf";
const F_SIG: &str = "TLS.sig";
const KNOWN_FIELDS: [&str; 7] = [
    F_VER,
    F_IDENTIFIER,
    F_SDKAPPID,
    F_EXPIRE,
    F_TIME,
    F_USERBUF,
    F_SIG,
];
/// The version field of the retired v1 (ECDSA) layout, recognised only to name it in the error.
const F_V1_VERSION: &str = "TLS.version";

/// The decoded JSON of a UserSig (or privateMapKey).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSigDocument {
    /// `TLS.ver`; always "2.0" once decoded.
    pub version: String,
    /// `TLS.identifier`: the userId the signature is for.
    pub identifier: String,
    /// `TLS.sdkappid`.
    pub sdk_app_id: u64,
    /// `TLS.expire`: lifetime in seconds, relative to `time`.
    pub expire: u64,
    /// `TLS.time`: unix seconds at signing.
    pub time: u64,
    /// `TLS.userbuf`, base64-decoded; printed as standard base64.
    #[serde(serialize_with = "serialize_userbuf")]
    pub userbuf: Option<Vec<u8>>,
    /// `TLS.sig`: standard base64 of the HMAC-SHA256, as found in the document.
    pub sig: String,
}

impl UserSigDocument {
    /// Last unix second at which the document is still valid (saturates rather than wrapping).
    pub fn expires_at(&self) -> u64 {
        self.time.saturating_add(self.expire)
    }

    /// The exact string the HMAC covers (reference §2 step 2).
    pub fn hmac_content(&self) -> String {
        let mut content = format!(
            "TLS.identifier:{}\nTLS.sdkappid:{}\nTLS.time:{}\nTLS.expire:{}\n",
            self.identifier, self.sdk_app_id, self.time, self.expire
        );
        if let Some(userbuf) = &self.userbuf {
            content.push_str("TLS.userbuf:");
            content.push_str(&STANDARD.encode(userbuf));
            content.push('\n');
        }
        content
    }

    /// The `TLS.sig` this document should carry under `key` (the key string's UTF-8 bytes).
    pub fn compute_sig(&self, key: &str) -> String {
        // An empty sig can never verify, so the impossible HMAC failure fails closed.
        hmac_sha256(key.as_bytes(), self.hmac_content().as_bytes())
            .map(|digest| STANDARD.encode(digest))
            .unwrap_or_default()
    }
}

fn serialize_userbuf<S: Serializer>(userbuf: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match userbuf {
        Some(bytes) => s.serialize_some(&STANDARD.encode(bytes)),
        None => s.serialize_none(),
    }
}

/// Why a UserSig or privateMapKey was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserSigError {
    /// The string is empty.
    #[error("UserSig is empty")]
    Empty,
    /// The input or its inflated JSON is over the size cap.
    #[error("UserSig {what} is larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    /// Not canonical padded base64 in the UserSig alphabet.
    #[error("UserSig is not base64 in the UserSig alphabet [A-Za-z0-9*_-] with '_' padding")]
    NotBase64,
    /// The base64 payload is not a valid zlib stream, or has bytes after it.
    #[error("UserSig payload is not a single valid zlib stream")]
    NotZlib,
    /// The zlib stream stops before its end, as when the string was cut short.
    #[error("UserSig is truncated: its zlib stream ends early")]
    Truncated,
    /// The inflated payload is not one JSON object.
    #[error("UserSig payload is not a JSON object: {0}")]
    NotJson(String),
    /// A required field is absent.
    #[error("UserSig has no {0} field")]
    MissingField(&'static str),
    /// A field occurs twice, which parsers would resolve differently.
    #[error("UserSig field {0:?} occurs more than once")]
    DuplicateField(String),
    /// A field no v2 signer writes; refused because it would ride along unsigned.
    #[error("UserSig has unexpected field {0:?}")]
    UnknownField(String),
    /// A field has the wrong JSON type or an invalid value.
    #[error("UserSig field {field} is invalid: {reason}")]
    BadField {
        field: &'static str,
        reason: &'static str,
    },
    /// `TLS.ver` is not "2.0" (or the document is the v1 layout).
    #[error("UserSig version {0} is not supported; only \"2.0\" is")]
    UnsupportedVersion(String),
    /// `TLS.sig` is not the HMAC of the fields under this key: wrong key or tampered.
    #[error("UserSig signature does not match: wrong key or tampered document")]
    BadSignature,
    /// Signed for another application.
    #[error("UserSig is for sdkAppId {found}, expected {expected}")]
    WrongSdkAppId { expected: u64, found: u64 },
    /// Signed for another user.
    #[error("UserSig is for user {found:?}, expected {expected:?}")]
    WrongUser { expected: String, found: String },
    /// Past its expiry (`time + expire`, or the privateMapKey's absolute expiry).
    #[error("UserSig expired at {expired_at} (now {now})")]
    Expired { expired_at: u64, now: u64 },
    /// The privateMapKey userbuf does not follow the npm `_genUserbuf` layout.
    #[error("privateMapKey userbuf is malformed: {0}")]
    BadUserbuf(String),
}

type HmacSha256 = Hmac<Sha256>;

fn hmac_sha256(key: &[u8], message: &[u8]) -> Option<[u8; 32]> {
    // HMAC takes keys of any length, so this never fails; we still refuse to panic on it.
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(message);
    Some(mac.finalize().into_bytes().into())
}

/// Now, in unix seconds: the clock UserSigs are signed and checked against.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs a UserSig for `user_id`, valid from `now_unix` for `expire_secs` seconds.
pub fn gen_user_sig(
    sdk_app_id: u64,
    key: &str,
    user_id: &str,
    expire_secs: u64,
    now_unix: u64,
) -> String {
    sign(sdk_app_id, key, user_id, expire_secs, now_unix, None)
}

/// Signs a UserSig carrying `userbuf` (the npm `genSig` / Python `gen_sig_with_userbuf`).
pub fn gen_sig_with_userbuf(
    sdk_app_id: u64,
    key: &str,
    user_id: &str,
    expire_secs: u64,
    now_unix: u64,
    userbuf: &[u8],
) -> String {
    sign(
        sdk_app_id,
        key,
        user_id,
        expire_secs,
        now_unix,
        Some(userbuf),
    )
}

fn sign(
    sdk_app_id: u64,
    key: &str,
    user_id: &str,
    expire_secs: u64,
    now_unix: u64,
    userbuf: Option<&[u8]>,
) -> String {
    let mut doc = UserSigDocument {
        version: VERSION.to_owned(),
        identifier: user_id.to_owned(),
        sdk_app_id,
        expire: expire_secs,
        time: now_unix,
        userbuf: userbuf.map(<[u8]>::to_vec),
        sig: String::new(),
    };
    doc.sig = doc.compute_sig(key);
    encode(&doc)
}

/// Serialises a document as the npm signer does, without re-signing it.
pub fn encode(doc: &UserSigDocument) -> String {
    let compressed = zlib_compress(node_json(doc).as_bytes());
    STANDARD
        .encode(compressed)
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            other => other,
        })
        .collect()
}

/// The npm layout: compact, `time` before `expire`, raw UTF-8.
fn node_json(doc: &UserSigDocument) -> String {
    let mut json = format!(
        "{{\"{F_VER}\":{},\"{F_IDENTIFIER}\":{},\"{F_SDKAPPID}\":{},\"{F_TIME}\":{},\"{F_EXPIRE}\":{},",
        json_string(&doc.version),
        json_string(&doc.identifier),
        doc.sdk_app_id,
        doc.time,
        doc.expire
    );
    if let Some(userbuf) = &doc.userbuf {
        json.push_str(&format!(
            "\"{F_USERBUF}\":\"{}\",",
            STANDARD.encode(userbuf)
        ));
    }
    json.push_str(&format!("\"{F_SIG}\":{}}}", json_string(&doc.sig)));
    json
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn zlib_compress(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len()), Compression::default());
    // Writing into a Vec cannot fail; if it ever did, the empty result is refused by `decode`.
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .unwrap_or_default()
}

/// Decodes a UserSig or privateMapKey without checking its signature.
pub fn decode(sig: &str) -> Result<UserSigDocument, UserSigError> {
    if sig.is_empty() {
        return Err(UserSigError::Empty);
    }
    if sig.len() > MAX_SIG_CHARS {
        return Err(UserSigError::TooLarge {
            what: "string",
            limit: MAX_SIG_CHARS,
        });
    }
    // Only the UserSig alphabet is accepted, so every document has exactly one spelling per
    // zlib stream and a `+`/`/`/`=` in the input cannot be mistaken for its replacement.
    let std_b64 = sig
        .bytes()
        .map(|b| match b {
            b'*' => Ok(b'+'),
            b'-' => Ok(b'/'),
            b'_' => Ok(b'='),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => Ok(b),
            _ => Err(UserSigError::NotBase64),
        })
        .collect::<Result<Vec<u8>, _>>()?;
    let compressed = STANDARD
        .decode(std_b64)
        .map_err(|_| UserSigError::NotBase64)?;
    let json = inflate_capped(&compressed)?;
    parse_document(&json)
}

/// Inflates exactly one zlib stream, refusing output over `MAX_JSON_BYTES` and trailing bytes.
fn inflate_capped(data: &[u8]) -> Result<Vec<u8>, UserSigError> {
    const CHUNK: usize = 4096;
    let too_large = UserSigError::TooLarge {
        what: "inflated JSON",
        limit: MAX_JSON_BYTES,
    };
    let mut inflater = Decompress::new(true);
    let mut out: Vec<u8> = Vec::new();
    loop {
        if out.len() == out.capacity() {
            let room = (MAX_JSON_BYTES + 1).saturating_sub(out.len());
            if room == 0 {
                return Err(too_large);
            }
            out.reserve(room.min(CHUNK));
        }
        let consumed = usize::try_from(inflater.total_in()).map_err(|_| UserSigError::NotZlib)?;
        let rest = data.get(consumed..).ok_or(UserSigError::NotZlib)?;
        let before = (inflater.total_in(), inflater.total_out());
        // `Finish` would make miniz give up for good when the first output chunk is too small.
        let status = inflater
            .decompress_vec(rest, &mut out, FlushDecompress::None)
            .map_err(|_| UserSigError::NotZlib)?;
        if out.len() > MAX_JSON_BYTES {
            return Err(too_large);
        }
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => {
                let stalled = (inflater.total_in(), inflater.total_out()) == before;
                if stalled && out.len() < out.capacity() {
                    // Room to write and nothing happened: the input ran out mid-stream.
                    return Err(UserSigError::Truncated);
                }
            }
        }
    }
    // Bytes after the stream would be an unsigned second spelling of the same token.
    if usize::try_from(inflater.total_in()).ok() != Some(data.len()) {
        return Err(UserSigError::NotZlib);
    }
    Ok(out)
}

/// The top-level JSON object with its keys in order and duplicates kept, so they can be refused.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// Keeps error messages short when a hostile document has a huge key.
fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() > MAX {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn parse_document(json: &[u8]) -> Result<UserSigDocument, UserSigError> {
    let Entries(entries) =
        serde_json::from_slice(json).map_err(|e| UserSigError::NotJson(e.to_string()))?;

    let mut seen = BTreeSet::new();
    for (name, _) in &entries {
        if !seen.insert(name.as_str()) {
            return Err(UserSigError::DuplicateField(clip(name)));
        }
    }
    let get = |field: &str| entries.iter().find(|(k, _)| k == field).map(|(_, v)| v);

    // Version first: another version's layout would otherwise show up as confusing field errors.
    match get(F_VER) {
        Some(Value::String(v)) if v == VERSION => {}
        Some(Value::String(v)) => return Err(UserSigError::UnsupportedVersion(clip(v))),
        Some(other) => return Err(UserSigError::UnsupportedVersion(clip(&other.to_string()))),
        None => {
            return Err(match get(F_V1_VERSION) {
                Some(v1) => UserSigError::UnsupportedVersion(format!(
                    "1 (v1 ECDSA layout, {F_V1_VERSION} {})",
                    clip(&v1.to_string())
                )),
                None => UserSigError::MissingField(F_VER),
            })
        }
    }
    if let Some((name, _)) = entries
        .iter()
        .find(|(k, _)| !KNOWN_FIELDS.contains(&k.as_str()))
    {
        return Err(UserSigError::UnknownField(clip(name)));
    }

    let string = |field: &'static str| match get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(UserSigError::BadField {
            field,
            reason: "must be a string",
        }),
        None => Err(UserSigError::MissingField(field)),
    };
    let integer = |field: &'static str| match get(field) {
        // `as_u64` is None for negatives and for anything written with a fraction or exponent.
        Some(Value::Number(n)) => n.as_u64().ok_or(UserSigError::BadField {
            field,
            reason: "must be a non-negative integer below 2^64",
        }),
        Some(_) => Err(UserSigError::BadField {
            field,
            reason: "must be a JSON number",
        }),
        None => Err(UserSigError::MissingField(field)),
    };

    let identifier = string(F_IDENTIFIER)?;
    let sdk_app_id = integer(F_SDKAPPID)?;
    let expire = integer(F_EXPIRE)?;
    let time = integer(F_TIME)?;
    let userbuf = match get(F_USERBUF) {
        None => None,
        Some(Value::String(s)) => Some(STANDARD.decode(s).map_err(|_| UserSigError::BadField {
            field: F_USERBUF,
            reason: "must be canonical standard base64",
        })?),
        Some(_) => {
            return Err(UserSigError::BadField {
                field: F_USERBUF,
                reason: "must be a string",
            })
        }
    };
    let sig = string(F_SIG)?;
    Ok(UserSigDocument {
        version: VERSION.to_owned(),
        identifier,
        sdk_app_id,
        expire,
        time,
        userbuf,
        sig,
    })
}

/// Decodes `sig`, checks its HMAC under `key`, then its sdkAppId, user and expiry at `now_unix`.
pub fn verify(
    sig: &str,
    sdk_app_id: u64,
    key: &str,
    user_id: &str,
    now_unix: u64,
) -> Result<UserSigDocument, UserSigError> {
    let doc = decode(sig)?;
    check_signature(&doc, key)?;
    if doc.sdk_app_id != sdk_app_id {
        return Err(UserSigError::WrongSdkAppId {
            expected: sdk_app_id,
            found: doc.sdk_app_id,
        });
    }
    if doc.identifier != user_id {
        return Err(UserSigError::WrongUser {
            expected: user_id.to_owned(),
            found: doc.identifier,
        });
    }
    let expired_at = doc.expires_at();
    if now_unix > expired_at {
        return Err(UserSigError::Expired {
            expired_at,
            now: now_unix,
        });
    }
    Ok(doc)
}

fn check_signature(doc: &UserSigDocument, key: &str) -> Result<(), UserSigError> {
    let given = STANDARD
        .decode(doc.sig.as_bytes())
        .map_err(|_| UserSigError::BadSignature)?;
    let expected = hmac_sha256(key.as_bytes(), doc.hmac_content().as_bytes())
        .ok_or(UserSigError::BadSignature)?;
    // Constant time so response timing does not reveal how much of a forged sig was right.
    if bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        Ok(())
    } else {
        Err(UserSigError::BadSignature)
    }
}

/// privateMapKey privilege bits (reference §2, npm `privilegeMap`).
pub mod privilege {
    /// Create the room.
    pub const CREATE_ROOM: u32 = 1;
    /// Enter the room.
    pub const ENTER_ROOM: u32 = 2;
    /// Send audio.
    pub const SEND_AUDIO: u32 = 4;
    /// Receive audio.
    pub const RECV_AUDIO: u32 = 8;
    /// Send video.
    pub const SEND_VIDEO: u32 = 16;
    /// Receive video.
    pub const RECV_VIDEO: u32 = 32;
    /// Send the auxiliary (screen-share) stream.
    pub const SEND_SUB: u32 = 64;
    /// Receive the auxiliary stream; the npm source comment's "200" is a typo for this bit.
    pub const RECV_SUB: u32 = 128;
    /// Every privilege.
    pub const ALL: u32 = 255;
}

/// The room a privateMapKey is for: numeric (cVer 0) or string (cVer 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum PrivateMapRoom {
    /// A numeric roomId.
    Number(u32),
    /// A string roomId (`useStringRoomId`).
    Text(String),
}

/// The decoded userbuf of a privateMapKey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivateMap {
    /// The userId the key is for.
    pub account: String,
    /// The sdkAppId the key is for.
    pub sdk_app_id: u32,
    /// The room the key grants access to.
    pub room: PrivateMapRoom,
    /// Absolute unix second after which the key is no longer valid.
    pub expires_at: u32,
    /// `privilege` bits.
    pub privileges: u32,
}

/// Caps a length-prefixed field at what its u16 prefix can say; the result then fails to verify.
fn u16_prefixed(bytes: &[u8]) -> (u16, &[u8]) {
    let clipped = bytes.get(..usize::from(u16::MAX)).unwrap_or(bytes);
    (u16::try_from(clipped.len()).unwrap_or(u16::MAX), clipped)
}

/// Builds the npm `_genUserbuf` layout; the account and room are written as UTF-8.
pub fn build_userbuf(
    account: &str,
    sdk_app_id: u32,
    room: &PrivateMapRoom,
    expires_at: u32,
    privileges: u32,
) -> Vec<u8> {
    let (account_len, account) = u16_prefixed(account.as_bytes());
    let (c_ver, room_num, room_str) = match room {
        PrivateMapRoom::Number(n) => (0u8, *n, None),
        PrivateMapRoom::Text(s) => (1u8, 0u32, Some(u16_prefixed(s.as_bytes()))),
    };
    let mut buf = Vec::with_capacity(25 + account.len() + room_str.map_or(0, |(_, s)| s.len()));
    buf.push(c_ver);
    buf.extend_from_slice(&account_len.to_be_bytes());
    buf.extend_from_slice(account);
    buf.extend_from_slice(&sdk_app_id.to_be_bytes());
    buf.extend_from_slice(&room_num.to_be_bytes());
    buf.extend_from_slice(&expires_at.to_be_bytes());
    buf.extend_from_slice(&privileges.to_be_bytes());
    buf.extend_from_slice(&0u32.to_be_bytes()); // accountType
    if let Some((len, room_str)) = room_str {
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(room_str);
    }
    buf
}

/// Bounds-checked reader over a userbuf.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], UserSigError> {
        let bytes = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or_else(|| {
                UserSigError::BadUserbuf(format!("truncated: {what} needs {n} more bytes"))
            })?;
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], UserSigError> {
        <[u8; N]>::try_from(self.take(N, what)?)
            .map_err(|_| UserSigError::BadUserbuf(format!("truncated: {what}")))
    }

    fn u16(&mut self, what: &str) -> Result<u16, UserSigError> {
        self.array(what).map(u16::from_be_bytes)
    }

    fn u32(&mut self, what: &str) -> Result<u32, UserSigError> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn text(&mut self, what: &str) -> Result<String, UserSigError> {
        let len = self.u16(what)?;
        let bytes = self.take(usize::from(len), what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| UserSigError::BadUserbuf(format!("{what} is not UTF-8")))
    }
}

/// Parses a privateMapKey userbuf; exactly what `build_userbuf` writes is accepted.
pub fn parse_userbuf(buf: &[u8]) -> Result<PrivateMap, UserSigError> {
    let mut cur = Cursor { buf, pos: 0 };
    let [c_ver] = cur.array::<1>("cVer")?;
    if c_ver > 1 {
        return Err(UserSigError::BadUserbuf(format!(
            "cVer {c_ver} is neither 0 (numeric room) nor 1 (string room)"
        )));
    }
    let account = cur.text("account")?;
    let sdk_app_id = cur.u32("sdkappid")?;
    let room_num = cur.u32("roomId")?;
    let expires_at = cur.u32("expiry")?;
    let privileges = cur.u32("privilegeMap")?;
    // Both signers always write 0 here; refusing others keeps parse and build exact inverses.
    let account_type = cur.u32("accountType")?;
    if account_type != 0 {
        return Err(UserSigError::BadUserbuf(format!(
            "accountType is {account_type}, expected 0"
        )));
    }
    let room = if c_ver == 0 {
        PrivateMapRoom::Number(room_num)
    } else {
        if room_num != 0 {
            return Err(UserSigError::BadUserbuf(format!(
                "string-room userbuf has numeric roomId {room_num}, expected 0"
            )));
        }
        PrivateMapRoom::Text(cur.text("roomStr")?)
    };
    let trailing = buf.len().saturating_sub(cur.pos);
    if trailing != 0 {
        return Err(UserSigError::BadUserbuf(format!(
            "{trailing} unexpected bytes after the layout"
        )));
    }
    Ok(PrivateMap {
        account,
        sdk_app_id,
        room,
        expires_at,
        privileges,
    })
}

/// Signs a privateMapKey; its absolute expiry saturates at `u32::MAX` (the year 2106).
pub fn gen_private_map_key(
    sdk_app_id: u32,
    key: &str,
    user_id: &str,
    expire_secs: u64,
    now_unix: u64,
    room: &PrivateMapRoom,
    privileges: u32,
) -> String {
    let expires_at = u32::try_from(now_unix.saturating_add(expire_secs)).unwrap_or(u32::MAX);
    let userbuf = build_userbuf(user_id, sdk_app_id, room, expires_at, privileges);
    gen_sig_with_userbuf(
        u64::from(sdk_app_id),
        key,
        user_id,
        expire_secs,
        now_unix,
        &userbuf,
    )
}

/// Verifies a privateMapKey like `verify`, then its userbuf's account, sdkAppId and expiry.
pub fn verify_private_map_key(
    pmk: &str,
    sdk_app_id: u32,
    key: &str,
    user_id: &str,
    now_unix: u64,
) -> Result<PrivateMap, UserSigError> {
    let doc = verify(pmk, u64::from(sdk_app_id), key, user_id, now_unix)?;
    let userbuf = doc
        .userbuf
        .as_deref()
        .ok_or(UserSigError::MissingField(F_USERBUF))?;
    let map = parse_userbuf(userbuf)?;
    if map.sdk_app_id != sdk_app_id {
        return Err(UserSigError::WrongSdkAppId {
            expected: u64::from(sdk_app_id),
            found: u64::from(map.sdk_app_id),
        });
    }
    if map.account != user_id {
        return Err(UserSigError::WrongUser {
            expected: user_id.to_owned(),
            found: map.account,
        });
    }
    if now_unix > u64::from(map.expires_at) {
        return Err(UserSigError::Expired {
            expired_at: u64::from(map.expires_at),
            now: now_unix,
        });
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: u64 = 1_400_000_000;
    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const NOW: u64 = 1_700_000_000;

    /// Wraps raw bytes the way a UserSig wraps its zlib stream.
    fn outer(bytes: &[u8]) -> String {
        STANDARD
            .encode(bytes)
            .replace('+', "*")
            .replace('/', "-")
            .replace('=', "_")
    }

    fn wrap_json(json: &str) -> String {
        outer(&zlib_compress(json.as_bytes()))
    }

    /// A correctly signed document written as `json_for(sig)` returns, for layout tests.
    fn signed_json(json_for: impl Fn(&str) -> String) -> String {
        let doc = decode(&gen_user_sig(APP, KEY, "alice", 600, NOW)).unwrap();
        wrap_json(&json_for(&doc.sig))
    }

    #[test]
    fn round_trip_gen_verify() {
        let sig = gen_user_sig(APP, KEY, "alice", 600, NOW);
        assert!(sig
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"*-_".contains(&b)));
        let doc = verify(&sig, APP, KEY, "alice", NOW).unwrap();
        assert_eq!(doc.identifier, "alice");
        assert_eq!(doc.sdk_app_id, APP);
        assert_eq!(doc.expire, 600);
        assert_eq!(doc.time, NOW);
        assert_eq!(doc.userbuf, None);
        assert_eq!(doc.version, "2.0");
        assert_eq!(doc.sig.len(), 44);
        assert_eq!(decode(&encode(&doc)).unwrap(), doc);
    }

    #[test]
    fn round_trip_with_userbuf_including_empty() {
        for userbuf in [&b""[..], b"\x00\xff hello"] {
            let sig = gen_sig_with_userbuf(APP, KEY, "alice", 600, NOW, userbuf);
            let doc = verify(&sig, APP, KEY, "alice", NOW).unwrap();
            assert_eq!(doc.userbuf.as_deref(), Some(userbuf));
        }
        // An empty userbuf is signed (its line is in the HMAC), so dropping it must not verify.
        let sig = gen_sig_with_userbuf(APP, KEY, "alice", 600, NOW, b"");
        let mut doc = decode(&sig).unwrap();
        doc.userbuf = None;
        let stripped = encode(&doc);
        assert_eq!(
            verify(&stripped, APP, KEY, "alice", NOW),
            Err(UserSigError::BadSignature)
        );
    }

    #[test]
    fn json_and_unicode_identifiers_survive() {
        for user in ["", "a\"b\\c\n", "門鈴-ü", "x\u{1}y"] {
            let sig = gen_user_sig(APP, KEY, user, 600, NOW);
            assert_eq!(verify(&sig, APP, KEY, user, NOW).unwrap().identifier, user);
        }
    }

    #[test]
    fn python_layout_is_accepted() {
        let sig = signed_json(|s| {
            format!(
                "{{\"TLS.ver\": \"2.0\", \"TLS.identifier\": \"alice\", \"TLS.sdkappid\": {APP}, \
                 \"TLS.expire\": 600, \"TLS.time\": {NOW}, \"TLS.sig\": \"{s}\"}}"
            )
        });
        assert!(verify(&sig, APP, KEY, "alice", NOW).is_ok());
    }

    #[test]
    fn tampered_sig_is_refused() {
        let mut doc = decode(&gen_user_sig(APP, KEY, "alice", 600, NOW)).unwrap();
        let flipped = if doc.sig.starts_with('A') { "B" } else { "A" };
        doc.sig.replace_range(0..1, flipped);
        let tampered = encode(&doc);
        assert!(matches!(
            verify(&tampered, APP, KEY, "alice", NOW),
            Err(UserSigError::BadSignature)
        ));
        // Same for a changed field under the original sig.
        let mut doc = decode(&gen_user_sig(APP, KEY, "alice", 600, NOW)).unwrap();
        doc.expire = 6_000_000;
        assert!(matches!(
            verify(&encode(&doc), APP, KEY, "alice", NOW),
            Err(UserSigError::BadSignature)
        ));
        // And a sig that is not even base64.
        let mut doc = decode(&gen_user_sig(APP, KEY, "alice", 600, NOW)).unwrap();
        doc.sig = "not base64!".into();
        assert!(matches!(
            verify(&encode(&doc), APP, KEY, "alice", NOW),
            Err(UserSigError::BadSignature)
        ));
    }

    #[test]
    fn expiry_is_inclusive_then_refused() {
        let sig = gen_user_sig(APP, KEY, "alice", 600, NOW);
        assert!(verify(&sig, APP, KEY, "alice", NOW + 600).is_ok());
        assert!(matches!(
            verify(&sig, APP, KEY, "alice", NOW + 601),
            Err(UserSigError::Expired { expired_at, now }) if expired_at == NOW + 600 && now == NOW + 601
        ));
    }

    #[test]
    fn huge_expire_saturates_instead_of_wrapping() {
        let sig = gen_user_sig(APP, KEY, "alice", u64::MAX, NOW);
        assert!(verify(&sig, APP, KEY, "alice", u64::MAX).is_ok());
    }

    #[test]
    fn wrong_key_is_bad_signature() {
        let sig = gen_user_sig(APP, KEY, "alice", 600, NOW);
        assert!(matches!(
            verify(&sig, APP, "another key", "alice", NOW),
            Err(UserSigError::BadSignature)
        ));
    }

    #[test]
    fn wrong_sdk_app_id() {
        let sig = gen_user_sig(APP, KEY, "alice", 600, NOW);
        assert!(matches!(
            verify(&sig, APP + 1, KEY, "alice", NOW),
            Err(UserSigError::WrongSdkAppId { expected, found }) if expected == APP + 1 && found == APP
        ));
    }

    #[test]
    fn wrong_user() {
        let sig = gen_user_sig(APP, KEY, "alice", 600, NOW);
        assert!(matches!(
            verify(&sig, APP, KEY, "bob", NOW),
            Err(UserSigError::WrongUser { expected, found }) if expected == "bob" && found == "alice"
        ));
    }

    #[test]
    fn truncated_strings() {
        let sig = gen_user_sig(APP, KEY, "alice", 600, NOW);
        // Cut at a base64 group boundary: valid base64 of an unfinished zlib stream.
        let aligned = &sig[..(sig.len() / 2) & !3];
        assert!(matches!(decode(aligned), Err(UserSigError::Truncated)));
        assert!(matches!(decode(&sig[..4]), Err(UserSigError::Truncated)));
        // Cut anywhere else: not even base64.
        assert!(matches!(
            decode(&sig[..sig.len() - 1]),
            Err(UserSigError::NotBase64)
        ));
        assert!(matches!(decode(""), Err(UserSigError::Empty)));
    }

    #[test]
    fn not_base64() {
        for bad in [
            "!!!!", "eJ+r", "eJ/r", "eJr=", "eJ r", "eJyr\n", "eJy", "QR__",
        ] {
            assert!(
                matches!(decode(bad), Err(UserSigError::NotBase64)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn not_zlib() {
        let garbage = outer(b"this is definitely not a zlib stream");
        assert!(matches!(decode(&garbage), Err(UserSigError::NotZlib)));
        // Raw deflate and gzip are not the zlib wrapper either.
        let gz = outer(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03");
        assert!(matches!(decode(&gz), Err(UserSigError::NotZlib)));
    }

    #[test]
    fn bytes_after_zlib_stream_are_refused() {
        let doc = decode(&gen_user_sig(APP, KEY, "alice", 600, NOW)).unwrap();
        let mut z = zlib_compress(node_json(&doc).as_bytes());
        z.push(0);
        assert!(matches!(decode(&outer(&z)), Err(UserSigError::NotZlib)));
    }

    #[test]
    fn zlib_bomb_is_capped() {
        let bomb = wrap_json(&" ".repeat(4 * 1024 * 1024));
        assert!(bomb.len() < MAX_SIG_CHARS);
        assert!(matches!(
            decode(&bomb),
            Err(UserSigError::TooLarge {
                what: "inflated JSON",
                ..
            })
        ));
        assert!(matches!(
            decode(&"A".repeat(MAX_SIG_CHARS + 4)),
            Err(UserSigError::TooLarge { what: "string", .. })
        ));
    }

    #[test]
    fn not_json() {
        for text in [
            "hello",
            "",
            "[1,2]",
            "\"str\"",
            "{\"TLS.ver\":\"2.0\"} trailing",
        ] {
            assert!(
                matches!(decode(&wrap_json(text)), Err(UserSigError::NotJson(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn missing_fields() {
        let full = |skip: &str| {
            signed_json(|s| {
                let fields = [
                    ("TLS.ver", "\"2.0\"".to_owned()),
                    ("TLS.identifier", "\"alice\"".to_owned()),
                    ("TLS.sdkappid", APP.to_string()),
                    ("TLS.time", NOW.to_string()),
                    ("TLS.expire", "600".to_owned()),
                    ("TLS.sig", format!("\"{s}\"")),
                ];
                let body: Vec<String> = fields
                    .iter()
                    .filter(|(k, _)| *k != skip)
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            })
        };
        assert!(verify(&full("none"), APP, KEY, "alice", NOW).is_ok());
        for field in [F_VER, F_IDENTIFIER, F_SDKAPPID, F_TIME, F_EXPIRE, F_SIG] {
            assert!(
                matches!(decode(&full(field)), Err(UserSigError::MissingField(f)) if f == field),
                "{field}"
            );
        }
    }

    #[test]
    fn field_types_are_strict() {
        let with_app = |app: &str| {
            wrap_json(&format!(
                "{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"alice\",\"TLS.sdkappid\":{app},\
                 \"TLS.time\":{NOW},\"TLS.expire\":600,\"TLS.sig\":\"x\"}}"
            ))
        };
        for app in [
            "\"1400000000\"",
            "-1",
            "1400000000.0",
            "1.4e9",
            "18446744073709551616",
            "null",
        ] {
            assert!(
                matches!(
                    decode(&with_app(app)),
                    Err(UserSigError::BadField {
                        field: "TLS.sdkappid",
                        ..
                    })
                ),
                "{app}"
            );
        }
        let bad_id = wrap_json(&format!(
            "{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":7,\"TLS.sdkappid\":{APP},\
             \"TLS.time\":{NOW},\"TLS.expire\":600,\"TLS.sig\":\"x\"}}"
        ));
        assert!(matches!(
            decode(&bad_id),
            Err(UserSigError::BadField {
                field: "TLS.identifier",
                ..
            })
        ));
        let bad_userbuf = wrap_json(&format!(
            "{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"a\",\"TLS.sdkappid\":{APP},\
             \"TLS.time\":{NOW},\"TLS.expire\":600,\"TLS.userbuf\":\"QR==\",\"TLS.sig\":\"x\"}}"
        ));
        assert!(matches!(
            decode(&bad_userbuf),
            Err(UserSigError::BadField {
                field: "TLS.userbuf",
                ..
            })
        ));
    }

    #[test]
    fn duplicate_and_unknown_fields() {
        let dup = signed_json(|s| {
            format!(
                "{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"mallory\",\"TLS.identifier\":\"alice\",\
                 \"TLS.sdkappid\":{APP},\"TLS.time\":{NOW},\"TLS.expire\":600,\"TLS.sig\":\"{s}\"}}"
            )
        });
        assert!(matches!(
            decode(&dup),
            Err(UserSigError::DuplicateField(f)) if f == "TLS.identifier"
        ));
        let extra = signed_json(|s| {
            format!(
                "{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"alice\",\"TLS.sdkappid\":{APP},\
                 \"TLS.time\":{NOW},\"TLS.expire\":600,\"TLS.sig\":\"{s}\",\"admin\":true}}"
            )
        });
        assert!(matches!(
            decode(&extra),
            Err(UserSigError::UnknownField(f)) if f == "admin"
        ));
    }

    #[test]
    fn unsupported_versions() {
        let v1 = wrap_json("{\"TLS.version\":\"201512300000\",\"TLS.identifier\":\"a\"}");
        assert!(matches!(
            decode(&v1),
            Err(UserSigError::UnsupportedVersion(v)) if v.starts_with('1')
        ));
        let v3 = wrap_json("{\"TLS.ver\":\"3.0\"}");
        assert!(matches!(
            decode(&v3),
            Err(UserSigError::UnsupportedVersion(v)) if v == "3.0"
        ));
        let numeric = wrap_json("{\"TLS.ver\":2}");
        assert!(matches!(
            decode(&numeric),
            Err(UserSigError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn decode_does_not_check_the_signature() {
        let sig = gen_user_sig(APP, "some other key", "alice", 600, NOW);
        assert_eq!(decode(&sig).unwrap().identifier, "alice");
    }

    #[test]
    fn error_messages_are_distinct() {
        let errors = [
            UserSigError::Empty,
            UserSigError::TooLarge {
                what: "string",
                limit: 1,
            },
            UserSigError::NotBase64,
            UserSigError::NotZlib,
            UserSigError::Truncated,
            UserSigError::NotJson("x".into()),
            UserSigError::MissingField(F_SIG),
            UserSigError::DuplicateField("x".into()),
            UserSigError::UnknownField("x".into()),
            UserSigError::BadField {
                field: F_SIG,
                reason: "x",
            },
            UserSigError::UnsupportedVersion("x".into()),
            UserSigError::BadSignature,
            UserSigError::WrongSdkAppId {
                expected: 1,
                found: 2,
            },
            UserSigError::WrongUser {
                expected: "a".into(),
                found: "b".into(),
            },
            UserSigError::Expired {
                expired_at: 1,
                now: 2,
            },
            UserSigError::BadUserbuf("x".into()),
        ];
        let messages: BTreeSet<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), errors.len());
    }

    #[test]
    fn userbuf_round_trip_numeric_room() {
        let buf = build_userbuf(
            "doorbell-01",
            1_400_000_000,
            &PrivateMapRoom::Number(1234),
            1_700_000_300,
            privilege::ALL,
        );
        assert_eq!(buf.len(), 23 + "doorbell-01".len());
        let map = parse_userbuf(&buf).unwrap();
        assert_eq!(
            map,
            PrivateMap {
                account: "doorbell-01".into(),
                sdk_app_id: 1_400_000_000,
                room: PrivateMapRoom::Number(1234),
                expires_at: 1_700_000_300,
                privileges: 255,
            }
        );
    }

    #[test]
    fn userbuf_round_trip_string_room() {
        let room = PrivateMapRoom::Text("front-door_1".into());
        let privileges = privilege::ENTER_ROOM | privilege::RECV_AUDIO | privilege::RECV_VIDEO;
        assert_eq!(privileges, 42);
        let buf = build_userbuf("viewer", 7, &room, 99, privileges);
        assert_eq!(buf.len(), 23 + 6 + 2 + 12);
        let map = parse_userbuf(&buf).unwrap();
        assert_eq!(map.account, "viewer");
        assert_eq!(map.sdk_app_id, 7);
        assert_eq!(map.room, room);
        assert_eq!(map.expires_at, 99);
        assert_eq!(map.privileges, 42);
        assert_eq!(
            build_userbuf(
                &map.account,
                map.sdk_app_id,
                &map.room,
                map.expires_at,
                map.privileges
            ),
            buf
        );
    }

    #[test]
    fn truncated_or_padded_userbufs_are_refused() {
        for room in [
            PrivateMapRoom::Number(5),
            PrivateMapRoom::Text("hall".into()),
        ] {
            let buf = build_userbuf("alice", 1, &room, 2, 3);
            for cut in 0..buf.len() {
                let prefix = buf.get(..cut).unwrap();
                assert!(
                    matches!(parse_userbuf(prefix), Err(UserSigError::BadUserbuf(_))),
                    "{room:?} cut at {cut}"
                );
            }
            let mut longer = buf.clone();
            longer.push(0);
            assert!(matches!(
                parse_userbuf(&longer),
                Err(UserSigError::BadUserbuf(_))
            ));
        }
    }

    #[test]
    fn odd_userbuf_fields_are_refused() {
        let good = build_userbuf("alice", 1, &PrivateMapRoom::Text("r".into()), 2, 3);
        let mut bad_ver = good.clone();
        bad_ver[0] = 2;
        let mut string_with_number = good.clone();
        string_with_number[3 + 5 + 4 + 3] = 1; // low byte of roomId
        let mut account_type = good.clone();
        account_type[3 + 5 + 16 + 3] = 1; // low byte of accountType
        let mut not_utf8 = good.clone();
        not_utf8[3] = 0xff;
        for buf in [bad_ver, string_with_number, account_type, not_utf8] {
            assert!(matches!(
                parse_userbuf(&buf),
                Err(UserSigError::BadUserbuf(_))
            ));
        }
    }

    #[test]
    fn private_map_key_round_trip() {
        let room = PrivateMapRoom::Text("front-door_1".into());
        let pmk = gen_private_map_key(1_400_000_000, KEY, "alice", 300, NOW, &room, 42);
        let map = verify_private_map_key(&pmk, 1_400_000_000, KEY, "alice", NOW).unwrap();
        assert_eq!(map.room, room);
        assert_eq!(map.expires_at, 1_700_000_300);
        assert_eq!(map.privileges, 42);
        assert!(matches!(
            verify_private_map_key(&pmk, 1_400_000_000, KEY, "alice", NOW + 301),
            Err(UserSigError::Expired { .. })
        ));
        assert!(matches!(
            verify_private_map_key(&pmk, 1_400_000_000, "wrong", "alice", NOW),
            Err(UserSigError::BadSignature)
        ));
    }

    #[test]
    fn private_map_key_checks_its_userbuf() {
        let app = 1_400_000_000u32;
        let room = PrivateMapRoom::Number(1);
        let sign = |ub: &[u8]| gen_sig_with_userbuf(u64::from(app), KEY, "alice", 600, NOW, ub);
        let verify_pmk = |pmk: &str| verify_private_map_key(pmk, app, KEY, "alice", NOW + 100);

        // The absolute expiry in the userbuf wins when it is earlier than time + expire.
        let early = sign(&build_userbuf("alice", app, &room, 1_700_000_050, 255));
        assert!(matches!(
            verify_pmk(&early),
            Err(UserSigError::Expired { expired_at: 1_700_000_050, now }) if now == NOW + 100
        ));
        let other_user = sign(&build_userbuf("bob", app, &room, 1_700_000_600, 255));
        assert!(matches!(
            verify_pmk(&other_user),
            Err(UserSigError::WrongUser { found, .. }) if found == "bob"
        ));
        let other_app = sign(&build_userbuf("alice", 9, &room, 1_700_000_600, 255));
        assert!(matches!(
            verify_pmk(&other_app),
            Err(UserSigError::WrongSdkAppId { found: 9, .. })
        ));
        let garbage = sign(b"\x00\x00");
        assert!(matches!(
            verify_pmk(&garbage),
            Err(UserSigError::BadUserbuf(_))
        ));
        let plain = gen_user_sig(u64::from(app), KEY, "alice", 600, NOW);
        assert!(matches!(
            verify_pmk(&plain),
            Err(UserSigError::MissingField("TLS.userbuf"))
        ));
    }

    #[test]
    fn private_map_key_expiry_saturates() {
        let pmk = gen_private_map_key(1, KEY, "a", u64::MAX, NOW, &PrivateMapRoom::Number(1), 1);
        let map = verify_private_map_key(&pmk, 1, KEY, "a", NOW).unwrap();
        assert_eq!(map.expires_at, u32::MAX);
    }

    #[test]
    fn document_prints_as_json() {
        let doc = decode(&gen_sig_with_userbuf(
            APP,
            KEY,
            "alice",
            600,
            NOW,
            b"\x01\x02",
        ))
        .unwrap();
        let printed = serde_json::to_value(&doc).unwrap();
        assert_eq!(printed["userbuf"], "AQI=");
        assert_eq!(printed["sdk_app_id"], APP);
    }
}
