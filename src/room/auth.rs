//! The room server's real credential check: UserSig v2 and privateMapKey, by decoding.

use super::registry::{Authenticator, Grant, JoinCredentials};
use crate::protocol::{code, extra, RoomId, SignalError};
use crate::usersig::{self, PrivateMapRoom, UserSigError};

/// Verifies joins against one sdkAppId and its secret key.
pub struct UserSigAuthenticator {
    sdk_app_id: u64,
    secret_key: String,
}

impl UserSigAuthenticator {
    pub fn new(sdk_app_id: u64, secret_key: impl Into<String>) -> Self {
        UserSigAuthenticator {
            sdk_app_id,
            secret_key: secret_key.into(),
        }
    }
}

fn refuse(extra_code: u32, message: String) -> SignalError {
    SignalError::new(code::JOIN_ROOM_FAILED, extra_code, message)
}

fn sig_extra_code(err: &UserSigError) -> u32 {
    match err {
        UserSigError::Expired { .. } => extra::USER_SIG_EXPIRED,
        UserSigError::WrongSdkAppId { .. } => extra::WRONG_SDK_APP_ID,
        _ => extra::BAD_USER_SIG,
    }
}

impl Authenticator for UserSigAuthenticator {
    fn authenticate(
        &self,
        join: &JoinCredentials<'_>,
        now_unix: u64,
    ) -> Result<Grant, SignalError> {
        if join.sdk_app_id != self.sdk_app_id {
            return Err(refuse(
                extra::WRONG_SDK_APP_ID,
                format!(
                    "sdkAppId {} is not served here (this server serves {})",
                    join.sdk_app_id, self.sdk_app_id
                ),
            ));
        }
        usersig::verify(
            join.user_sig,
            self.sdk_app_id,
            &self.secret_key,
            join.user_id,
            now_unix,
        )
        .map_err(|e| refuse(sig_extra_code(&e), format!("userSig refused: {e}")))?;
        let Some(pmk) = join.private_map_key else {
            return Ok(Grant { privileges: None });
        };
        // privateMapKeys carry a 32-bit sdkAppId; a larger one cannot have signed this key.
        let sdk_app_id = u32::try_from(self.sdk_app_id).map_err(|_| {
            refuse(
                extra::BAD_PRIVATE_MAP_KEY,
                format!("sdkAppId {} does not fit a privateMapKey", self.sdk_app_id),
            )
        })?;
        let map = usersig::verify_private_map_key(
            pmk,
            sdk_app_id,
            &self.secret_key,
            join.user_id,
            now_unix,
        )
        .map_err(|e| {
            refuse(
                extra::BAD_PRIVATE_MAP_KEY,
                format!("privateMapKey refused: {e}"),
            )
        })?;
        let room_matches = match (&map.room, join.room_id) {
            (PrivateMapRoom::Number(a), RoomId::Number(b)) => u64::from(*a) == *b,
            (PrivateMapRoom::Text(a), RoomId::Text(b)) => a == b,
            _ => false,
        };
        if !room_matches {
            return Err(refuse(
                extra::BAD_PRIVATE_MAP_KEY,
                format!("privateMapKey is for another room than {} ", join.room_id),
            ));
        }
        Ok(Grant {
            privileges: Some(map.privileges),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const APP: u64 = 1_400_000_000;
    const NOW: u64 = 1_700_000_000;

    fn creds<'a>(sig: &'a str, room: &'a RoomId, pmk: Option<&'a str>) -> JoinCredentials<'a> {
        JoinCredentials {
            sdk_app_id: APP,
            user_id: "door",
            user_sig: sig,
            room_id: room,
            private_map_key: pmk,
        }
    }

    #[test]
    fn a_valid_sig_is_accepted_and_each_failure_has_its_own_code() {
        let auth = UserSigAuthenticator::new(APP, KEY);
        let room = RoomId::Number(1234);
        let sig = usersig::gen_user_sig(APP, KEY, "door", 3600, NOW);
        assert_eq!(
            auth.authenticate(&creds(&sig, &room, None), NOW + 10),
            Ok(Grant { privileges: None })
        );
        let expired = auth
            .authenticate(&creds(&sig, &room, None), NOW + 7200)
            .expect_err("expired");
        assert_eq!(expired.code, code::JOIN_ROOM_FAILED);
        assert_eq!(expired.extra_code, extra::USER_SIG_EXPIRED);
        let forged = usersig::gen_user_sig(APP, "not-the-key", "door", 3600, NOW);
        let err = auth
            .authenticate(&creds(&forged, &room, None), NOW)
            .expect_err("forged");
        assert_eq!(err.extra_code, extra::BAD_USER_SIG);
        let mut other_app = creds(&sig, &room, None);
        other_app.sdk_app_id = 1;
        let err = auth.authenticate(&other_app, NOW).expect_err("other app");
        assert_eq!(err.extra_code, extra::WRONG_SDK_APP_ID);
    }

    #[test]
    fn private_map_key_grants_its_privileges_for_its_room_only() {
        let auth = UserSigAuthenticator::new(APP, KEY);
        let sig = usersig::gen_user_sig(APP, KEY, "door", 3600, NOW);
        let pmk = usersig::gen_private_map_key(
            APP as u32,
            KEY,
            "door",
            3600,
            NOW,
            &PrivateMapRoom::Number(1234),
            42,
        );
        let room = RoomId::Number(1234);
        assert_eq!(
            auth.authenticate(&creds(&sig, &room, Some(&pmk)), NOW),
            Ok(Grant {
                privileges: Some(42)
            })
        );
        let other = RoomId::Number(99);
        let err = auth
            .authenticate(&creds(&sig, &other, Some(&pmk)), NOW)
            .expect_err("other room");
        assert_eq!(err.extra_code, extra::BAD_PRIVATE_MAP_KEY);
    }
}
