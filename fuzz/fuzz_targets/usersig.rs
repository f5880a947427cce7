//! UserSig and privateMapKey decoding as the room server does it on every join: base64 in the
//! UserSig alphabet, zlib, the JSON document, then (for a privateMapKey) the binary userbuf.
//!
//! A fuzzer cannot forge an HMAC, so a document that decodes is re-signed with a known key to
//! reach everything behind the signature check (identity, expiry, userbuf). The raw input is
//! also parsed as a userbuf directly. Invariants: encode/decode and build/parse are inverses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roombell::usersig::{
    build_userbuf, decode, encode, parse_userbuf, verify, verify_private_map_key, UserSigError,
};

const KEY: &str = "fuzz-secret-key";

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = parse_userbuf(data) {
        let rebuilt = build_userbuf(
            &map.account,
            map.sdk_app_id,
            &map.room,
            map.expires_at,
            map.privileges,
        );
        assert_eq!(
            rebuilt, data,
            "parse_userbuf accepted a non-canonical userbuf"
        );
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut doc) = decode(text) else {
        return;
    };
    // Unsigned, the document must still fail closed under our key unless it really was signed
    // with it (which a fuzzer will not find).
    let unsigned = verify(text, doc.sdk_app_id, KEY, &doc.identifier, doc.time);
    if doc.sig != doc.compute_sig(KEY) {
        assert!(matches!(unsigned, Err(UserSigError::BadSignature)));
    }

    doc.sig = doc.compute_sig(KEY);
    let signed = encode(&doc);
    match decode(&signed) {
        Ok(again) => assert_eq!(again, doc, "encode/decode changed the document"),
        // Our zlib may compress worse than whoever made the input.
        Err(UserSigError::TooLarge { .. }) => return,
        Err(e) => panic!("our own encoding of a decoded document fails to decode: {e}"),
    }
    verify(&signed, doc.sdk_app_id, KEY, &doc.identifier, doc.time)
        .expect("a re-signed document verifies at its signing time");
    if let Ok(sdk_app_id) = u32::try_from(doc.sdk_app_id) {
        let _ = verify_private_map_key(&signed, sdk_app_id, KEY, &doc.identifier, doc.time);
    }
});
