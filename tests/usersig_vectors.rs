//! Checks `roombell::usersig` against UserSigs recorded from the PyPI and npm signers
//! (`shared/reference/usersig-vectors.json`), and throws random and mutated input at it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use roombell::usersig::{self, PrivateMap, PrivateMapRoom, UserSigDocument, UserSigError};
use serde_json::Value;
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

const VECTORS_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/reference/usersig-vectors.json"
);

/// One signer's recorded output for a vector.
struct SignerOutput {
    signer: String,
    usersig: String,
    json_text: String,
    zlib: Vec<u8>,
    document: Value,
}

/// One test vector, with its inputs typed.
struct Vector {
    name: String,
    kind: String,
    sdk_app_id: u64,
    key: String,
    identifier: String,
    expire: u64,
    time: u64,
    room: Option<PrivateMapRoom>,
    privilege: Option<u32>,
    userbuf: Option<Vec<u8>>,
    userbuf_base64: Option<String>,
    hmac_content: String,
    hmac_b64: String,
    outputs: Vec<SignerOutput>,
}

impl Vector {
    fn is_private_map_key(&self) -> bool {
        self.room.is_some()
    }

    fn output(&self, signer_prefix: &str) -> &SignerOutput {
        self.outputs
            .iter()
            .find(|o| o.signer.starts_with(signer_prefix))
            .unwrap_or_else(|| panic!("vector {}: no {signer_prefix} output", self.name))
    }

    fn expected_private_map(&self) -> PrivateMap {
        PrivateMap {
            account: self.identifier.clone(),
            sdk_app_id: u32::try_from(self.sdk_app_id).expect("sdkappid fits u32"),
            room: self.room.clone().expect("a privateMapKey vector"),
            expires_at: u32::try_from(self.time + self.expire).expect("expiry fits u32"),
            privileges: self.privilege.expect("a privateMapKey vector"),
        }
    }

    fn sign_ourselves(&self) -> String {
        match (&self.room, &self.userbuf) {
            (Some(room), _) => usersig::gen_private_map_key(
                self.expected_private_map().sdk_app_id,
                &self.key,
                &self.identifier,
                self.expire,
                self.time,
                room,
                self.privilege.expect("a privateMapKey vector"),
            ),
            (None, Some(userbuf)) => usersig::gen_sig_with_userbuf(
                self.sdk_app_id,
                &self.key,
                &self.identifier,
                self.expire,
                self.time,
                userbuf,
            ),
            (None, None) => usersig::gen_user_sig(
                self.sdk_app_id,
                &self.key,
                &self.identifier,
                self.expire,
                self.time,
            ),
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .filter(|p| p.len() == 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .unwrap_or_else(|| panic!("bad hex {s:?}"))
        })
        .collect()
}

fn field<'a>(v: &'a Value, name: &str, key: &str) -> &'a Value {
    v.get(key)
        .unwrap_or_else(|| panic!("vector {name}: field {key:?} is missing from the JSON"))
}

fn str_field(v: &Value, name: &str, key: &str) -> String {
    field(v, name, key)
        .as_str()
        .unwrap_or_else(|| panic!("vector {name}: {key:?} is not a string"))
        .to_owned()
}

fn u64_field(v: &Value, name: &str, key: &str) -> u64 {
    field(v, name, key)
        .as_u64()
        .unwrap_or_else(|| panic!("vector {name}: {key:?} is not a non-negative integer"))
}

fn opt_str_field(v: &Value, name: &str, key: &str) -> Option<String> {
    match field(v, name, key) {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("vector {name}: {key:?} is neither null nor a string: {other}"),
    }
}

fn load_vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(VECTORS_PATH).unwrap_or_else(|e| {
        panic!(
            "cannot read the UserSig test vectors at {VECTORS_PATH}: {e}. \
             They are part of the reference material and must be present for this test."
        )
    });
    let root: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{VECTORS_PATH} is not valid JSON: {e}"));
    let list = root
        .get("vectors")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{VECTORS_PATH} has no \"vectors\" array"));
    assert!(!list.is_empty(), "{VECTORS_PATH} has no vectors");

    list.iter()
        .map(|v| {
            let name = str_field(v, "?", "name");
            let inputs = field(v, &name, "inputs");
            let kind = str_field(inputs, &name, "kind");
            let (room, privilege) = match kind.as_str() {
                "usersig" => (None, None),
                "privmap_int" => {
                    let id = u32::try_from(u64_field(inputs, &name, "roomid"))
                        .unwrap_or_else(|_| panic!("vector {name}: roomid does not fit u32"));
                    (Some(PrivateMapRoom::Number(id)), Some(inputs))
                }
                "privmap_str" => (
                    Some(PrivateMapRoom::Text(str_field(inputs, &name, "roomstr"))),
                    Some(inputs),
                ),
                other => panic!(
                    "vector {name}: unknown kind {other:?}; this test must learn it before it passes"
                ),
            };
            let privilege = privilege.map(|i| {
                u32::try_from(u64_field(i, &name, "privilege"))
                    .unwrap_or_else(|_| panic!("vector {name}: privilege does not fit u32"))
            });
            let userbuf = opt_str_field(v, &name, "userbuf_hex").map(|h| hex(&h));
            assert_eq!(
                room.is_some(),
                userbuf.is_some(),
                "vector {name}: privateMapKey kinds, and only they, should carry a userbuf"
            );
            let outputs: Vec<SignerOutput> = v
                .as_object()
                .expect("vector is an object")
                .iter()
                .filter(|(_, o)| o.get("usersig").is_some())
                .map(|(signer, o)| SignerOutput {
                    signer: signer.clone(),
                    usersig: str_field(o, &name, "usersig"),
                    json_text: str_field(o, &name, "json_text"),
                    zlib: hex(&str_field(o, &name, "zlib_hex")),
                    document: field(o, &name, "document").clone(),
                })
                .collect();
            for prefix in ["python", "npm"] {
                assert!(
                    outputs.iter().any(|o| o.signer.starts_with(prefix)),
                    "vector {name}: no {prefix} signer output"
                );
            }
            Vector {
                kind,
                sdk_app_id: u64_field(inputs, &name, "sdkappid"),
                key: str_field(inputs, &name, "key"),
                identifier: str_field(inputs, &name, "identifier"),
                expire: u64_field(inputs, &name, "expire"),
                time: u64_field(inputs, &name, "time"),
                room,
                privilege,
                userbuf,
                userbuf_base64: opt_str_field(v, &name, "userbuf_base64"),
                hmac_content: str_field(v, &name, "hmac_content_string"),
                hmac_b64: str_field(v, &name, "hmac_sha256_base64"),
                outputs,
                name,
            }
        })
        .collect()
}

/// Undoes only the outer UserSig encoding, independently of the code under test.
fn outer_decode(sig: &str) -> Vec<u8> {
    let std_b64: String = sig
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect();
    STANDARD
        .decode(std_b64)
        .expect("recorded UserSig is base64")
}

fn outer_encode(bytes: &[u8]) -> String {
    STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

fn inflate(bytes: &[u8]) -> String {
    let mut out = String::new();
    ZlibDecoder::new(bytes)
        .read_to_string(&mut out)
        .expect("zlib stream of UTF-8 JSON");
    out
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).expect("write to Vec");
    enc.finish().expect("finish to Vec")
}

fn assert_doc_matches_inputs(v: &Vector, doc: &UserSigDocument, what: &str) {
    let name = &v.name;
    assert_eq!(doc.version, "2.0", "{name} {what}");
    assert_eq!(doc.identifier, v.identifier, "{name} {what}");
    assert_eq!(doc.sdk_app_id, v.sdk_app_id, "{name} {what}");
    assert_eq!(doc.expire, v.expire, "{name} {what}");
    assert_eq!(doc.time, v.time, "{name} {what}");
    assert_eq!(doc.userbuf, v.userbuf, "{name} {what}");
    assert_eq!(doc.sig, v.hmac_b64, "{name} {what}: TLS.sig");
}

#[test]
fn vectors_cover_user_sigs_and_both_private_map_key_kinds() {
    let vectors = load_vectors();
    for kind in ["usersig", "privmap_int", "privmap_str"] {
        assert!(
            vectors.iter().any(|v| v.kind == kind),
            "no {kind} vector in {VECTORS_PATH}"
        );
    }
}

#[test]
fn every_signer_output_verifies_and_decodes_to_the_vector() {
    for v in load_vectors() {
        let mut docs = Vec::new();
        for out in &v.outputs {
            let what = out.signer.as_str();
            // The vector's own intermediate values, checked so a broken file is caught here.
            assert_eq!(outer_decode(&out.usersig), out.zlib, "{} {what}", v.name);
            assert_eq!(inflate(&out.zlib), out.json_text, "{} {what}", v.name);

            let doc = usersig::verify(&out.usersig, v.sdk_app_id, &v.key, &v.identifier, v.time)
                .unwrap_or_else(|e| panic!("{} {what} does not verify: {e}", v.name));
            assert_doc_matches_inputs(&v, &doc, what);
            assert_eq!(doc.hmac_content(), v.hmac_content, "{} {what}", v.name);
            assert_eq!(doc.compute_sig(&v.key), v.hmac_b64, "{} {what}", v.name);
            if let (Some(ub), Some(ub64)) = (&doc.userbuf, &v.userbuf_base64) {
                assert_eq!(&STANDARD.encode(ub), ub64, "{} {what}", v.name);
            }

            let recorded = &out.document;
            assert_eq!(recorded["TLS.ver"], doc.version.as_str(), "{}", v.name);
            assert_eq!(recorded["TLS.identifier"], doc.identifier.as_str());
            assert_eq!(recorded["TLS.sdkappid"], doc.sdk_app_id);
            assert_eq!(recorded["TLS.expire"], doc.expire);
            assert_eq!(recorded["TLS.time"], doc.time);
            assert_eq!(recorded["TLS.sig"], doc.sig.as_str());
            assert_eq!(
                recorded.get("TLS.userbuf").and_then(Value::as_str),
                v.userbuf_base64.as_deref()
            );
            docs.push(doc);
        }
        assert!(
            docs.windows(2).all(|w| w[0] == w[1]),
            "{}: the signers' outputs decode to different documents",
            v.name
        );
    }
}

#[test]
fn our_signer_reproduces_every_vector() {
    for v in load_vectors() {
        let ours = v.sign_ourselves();
        let doc = usersig::verify(&ours, v.sdk_app_id, &v.key, &v.identifier, v.time)
            .unwrap_or_else(|e| panic!("{}: our own UserSig does not verify: {e}", v.name));
        assert_doc_matches_inputs(&v, &doc, "ours");
        // We write the npm layout, so up to zlib the bytes are npm's.
        let bytes = outer_decode(&ours);
        assert_eq!(&bytes[..2], &[0x78, 0x9c], "{}: zlib header", v.name);
        assert_eq!(inflate(&bytes), v.output("npm").json_text, "{}", v.name);
        // The strings still differ from both signers', which is why nothing compares strings.
        let python_doc = usersig::decode(&v.output("python").usersig).expect("decodes");
        assert_eq!(doc, python_doc, "{}", v.name);
    }
}

#[test]
fn private_map_key_userbufs_match_the_vectors() {
    for v in load_vectors().iter().filter(|v| v.is_private_map_key()) {
        let expected = v.expected_private_map();
        let recorded = v
            .userbuf
            .as_deref()
            .expect("privateMapKey vector has a userbuf");
        let built = usersig::build_userbuf(
            &expected.account,
            expected.sdk_app_id,
            &expected.room,
            expected.expires_at,
            expected.privileges,
        );
        assert_eq!(built, recorded, "{}: built userbuf", v.name);
        assert_eq!(
            usersig::parse_userbuf(recorded).as_ref(),
            Ok(&expected),
            "{}: parsed userbuf",
            v.name
        );
        for out in &v.outputs {
            let sdk_app_id = expected.sdk_app_id;
            assert_eq!(
                usersig::verify_private_map_key(
                    &out.usersig,
                    sdk_app_id,
                    &v.key,
                    &v.identifier,
                    v.time
                )
                .as_ref(),
                Ok(&expected),
                "{} {}",
                v.name,
                out.signer
            );
        }
    }
}

#[test]
fn vectors_expire_and_refuse_the_wrong_key_app_or_user() {
    for v in load_vectors() {
        let expired_at = v.time + v.expire;
        for out in &v.outputs {
            let sig = out.usersig.as_str();
            let at = |now| usersig::verify(sig, v.sdk_app_id, &v.key, &v.identifier, now);
            assert!(
                at(expired_at).is_ok(),
                "{}: valid through its last second",
                v.name
            );
            assert_eq!(
                at(expired_at + 1),
                Err(UserSigError::Expired {
                    expired_at,
                    now: expired_at + 1
                }),
                "{} {}",
                v.name,
                out.signer
            );
            assert_eq!(
                usersig::verify(sig, v.sdk_app_id, "not the key", &v.identifier, v.time),
                Err(UserSigError::BadSignature)
            );
            assert!(matches!(
                usersig::verify(sig, v.sdk_app_id + 1, &v.key, &v.identifier, v.time),
                Err(UserSigError::WrongSdkAppId { .. })
            ));
            assert!(matches!(
                usersig::verify(sig, v.sdk_app_id, &v.key, "someone-else", v.time),
                Err(UserSigError::WrongUser { .. })
            ));
            if v.is_private_map_key() {
                let app = v.expected_private_map().sdk_app_id;
                assert!(matches!(
                    usersig::verify_private_map_key(
                        sig,
                        app,
                        &v.key,
                        &v.identifier,
                        expired_at + 1
                    ),
                    Err(UserSigError::Expired { .. })
                ));
            }
        }
    }
}

/// splitmix64: deterministic, so a failure reproduces exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ITERATIONS: usize = 2000;
const SIG_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_";

/// Runs `f`, turning a panic into a failure that shows the input that caused it.
fn no_panic<T>(what: &str, input: &dyn std::fmt::Debug, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| panic!("{what} panicked on input {input:?}"))
}

#[test]
fn random_input_never_panics() {
    let mut rng = Rng(0x5EED_0001);
    let key = "k";
    let template = load_vectors()
        .into_iter()
        .find(|v| v.is_private_map_key())
        .map(|v| v.output("npm").json_text.clone())
        .expect("a privateMapKey vector");
    for i in 0..ITERATIONS {
        // Arbitrary bytes as text: mostly stops at the alphabet check.
        let raw = rng.bytes(300);
        let text = String::from_utf8_lossy(&raw).into_owned();
        no_panic("decode", &text, || usersig::decode(&text).ok());
        no_panic("verify", &text, || {
            usersig::verify(&text, 1, key, "a", 0).ok()
        });

        // Strings in the UserSig alphabet: reach base64 and zlib.
        let len = rng.below(200) & !3;
        let alpha: String = (0..len)
            .map(|_| char::from(*rng.pick(SIG_ALPHABET)))
            .collect();
        no_panic("decode", &alpha, || usersig::decode(&alpha).ok());

        // Valid zlib of random bytes, or of a privateMapKey's JSON with bytes changed: reach JSON.
        let mut json = template.clone().into_bytes();
        for _ in 0..=rng.below(4) {
            let at = rng.below(json.len());
            json[at] = *rng.pick(b"{}[]\":,0123456789-.eE \\TLSabcx\x00\xff");
        }
        let payload = if i % 2 == 0 { json } else { rng.bytes(300) };
        let wrapped = outer_encode(&deflate(&payload));
        no_panic("verify", &wrapped, || {
            usersig::verify(&wrapped, 1_400_000_000, key, "doorbell-01", 0).ok()
        });

        // Userbufs: anything parse_userbuf accepts must be exactly what build_userbuf writes.
        let mut buf = rng.bytes(60);
        if let Some(first) = buf.first_mut() {
            *first &= 1; // mostly valid cVer, to get past the first check
        }
        let parsed = no_panic("parse_userbuf", &buf, || usersig::parse_userbuf(&buf));
        if let Ok(map) = parsed {
            let rebuilt = usersig::build_userbuf(
                &map.account,
                map.sdk_app_id,
                &map.room,
                map.expires_at,
                map.privileges,
            );
            assert_eq!(
                rebuilt, buf,
                "parse_userbuf accepted a non-canonical userbuf"
            );
        }
    }
}

/// One random change to a UserSig: to its characters, or (when `deep`) to its zlib or JSON layer.
fn mutate(rng: &mut Rng, sig: &str, deep: bool) -> String {
    let mut chars: Vec<char> = sig.chars().collect();
    if chars.is_empty() {
        return char::from(*rng.pick(SIG_ALPHABET)).to_string();
    }
    let random_char = |rng: &mut Rng| {
        if rng.below(10) == 0 {
            *rng.pick(&['+', '/', '=', ' ', '\n', '%', 'é', '\0'])
        } else {
            char::from(*rng.pick(SIG_ALPHABET))
        }
    };
    match rng.below(if deep { 8 } else { 6 }) {
        0 | 1 => {
            let at = rng.below(chars.len());
            chars[at] = random_char(rng);
        }
        2 => {
            chars.remove(rng.below(chars.len()));
        }
        3 => {
            let at = rng.below(chars.len() + 1);
            chars.insert(at, random_char(rng));
        }
        4 => {
            chars.truncate(rng.below(chars.len()));
        }
        5 => {
            // Append a whole base64 group, so the result is still base64.
            for _ in 0..4 {
                chars.push(char::from(*rng.pick(SIG_ALPHABET)));
            }
        }
        6 => {
            // Flip one bit of the zlib stream and re-encode it properly.
            let mut z = outer_decode(sig);
            let at = rng.below(z.len());
            z[at] ^= 1 << rng.below(8);
            return outer_encode(&z);
        }
        _ => {
            // Change one byte of the JSON and recompress it properly.
            let mut json = inflate(&outer_decode(sig)).into_bytes();
            let at = rng.below(json.len());
            // A same-byte "change" would only be a recompression, which is allowed to verify.
            let replacement = loop {
                let b = *rng.pick(b"0123456789abcdefxyzABC\":,{} ._-+=/");
                if b != json[at] {
                    break b;
                }
            };
            json[at] = replacement;
            return outer_encode(&deflate(&json));
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_sigs_never_verify() {
    let vectors = load_vectors();
    let bases: Vec<(&Vector, String)> = vectors
        .iter()
        .flat_map(|v| {
            v.outputs
                .iter()
                .map(move |o| (v, o.usersig.clone()))
                .chain(std::iter::once((v, v.sign_ourselves())))
        })
        .collect();
    let mut rng = Rng(0x5EED_0002);
    let (mut unchanged, mut respelled) = (0, 0);
    for _ in 0..ITERATIONS {
        let (v, original) = rng.pick(&bases);
        let mut mutated = mutate(&mut rng, original, true);
        if rng.below(4) == 0 {
            mutated = mutate(&mut rng, &mutated, false);
        }
        let result = no_panic("verify", &mutated, || {
            usersig::verify(&mutated, v.sdk_app_id, &v.key, &v.identifier, v.time)
        });
        if v.is_private_map_key() {
            let app = v.expected_private_map().sdk_app_id;
            let pmk = no_panic("verify_private_map_key", &mutated, || {
                usersig::verify_private_map_key(&mutated, app, &v.key, &v.identifier, v.time)
            });
            assert_eq!(pmk.is_ok(), result.is_ok(), "{mutated:?}");
        }
        if &mutated == original {
            unchanged += 1;
            assert!(result.is_ok(), "an unchanged UserSig must still verify");
            continue;
        }
        if let Ok(doc) = result {
            // Only a different spelling of the very same signed document may get through
            // (e.g. zlib's unused padding bits); the HMAC makes anything else a forgery.
            let original_doc = usersig::decode(original).expect("base decodes");
            assert_eq!(
                doc, original_doc,
                "mutation {mutated:?} of {original:?} verified"
            );
            respelled += 1;
        }
    }
    println!("{ITERATIONS} mutations: {unchanged} left the string unchanged, {respelled} re-spelled the same signed document");
}

#[test]
fn changed_fields_under_the_original_sig_never_verify() {
    let mut rng = Rng(0x5EED_0003);
    for v in load_vectors() {
        let doc = usersig::decode(&v.output("npm").usersig).expect("decodes");
        for _ in 0..ITERATIONS / 10 {
            let mut forged = doc.clone();
            match rng.below(5) {
                0 => forged.identifier.push(char::from(*rng.pick(SIG_ALPHABET))),
                1 => forged.sdk_app_id ^= 1 << rng.below(64),
                2 => forged.expire ^= 1 << rng.below(64),
                3 => forged.time ^= 1 << rng.below(64),
                _ => {
                    let mut ub = forged.userbuf.take().unwrap_or_default();
                    if ub.is_empty() || rng.below(3) == 0 {
                        ub.push(rng.next() as u8);
                    } else {
                        let at = rng.below(ub.len());
                        ub[at] ^= 1 << rng.below(8);
                    }
                    forged.userbuf = Some(ub);
                }
            }
            let sig = usersig::encode(&forged);
            assert_eq!(
                usersig::verify(
                    &sig,
                    forged.sdk_app_id,
                    &v.key,
                    &forged.identifier,
                    forged.time
                ),
                Err(UserSigError::BadSignature),
                "{}: forged {forged:?}",
                v.name
            );
        }
    }
}
