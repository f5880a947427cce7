//! Limits for a server that faces the internet: joins per IP address and per userId,
//! signaling messages per connection, and open connections per IP address and in all. Pure
//! token buckets and counters with the clock passed in, so every rule is tested without sockets
//! or sleeping.

use crate::protocol::{code, extra, SignalError};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How fast something may happen: `burst` at once, then `per_second` on average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub per_second: f64,
}

/// A token bucket: full at `burst`, one token per event, refilled continuously.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate, now: Instant) -> Self {
        TokenBucket {
            rate,
            tokens: f64::from(rate.burst),
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        // A clock that went backwards (it cannot with Instant, but callers pass what they like)
        // simply refills nothing.
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.rate.per_second).min(f64::from(self.rate.burst));
        self.updated = now;
    }

    /// Takes one token; when there is none, says how long until there will be.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - self.tokens;
        let wait = if self.rate.per_second > 0.0 {
            Duration::from_secs_f64(missing / self.rate.per_second)
        } else {
            Duration::MAX
        };
        Err(wait)
    }

    /// True when the bucket has refilled completely: forgetting it changes nothing.
    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= f64::from(self.rate.burst)
    }
}

/// One token bucket per key (an IP address, a userId), with a bounded number of keys.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    rate: Rate,
    max_keys: usize,
    buckets: HashMap<K, TokenBucket>,
}

impl<K: Eq + Hash + Clone> KeyedLimiter<K> {
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        KeyedLimiter {
            rate,
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes a token from `key`'s bucket. When the table is full of keys that are all still
    /// limited, a new key is refused too: under a flood from that many sources, failing
    /// closed keeps memory bounded.
    pub fn take(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if let Some(bucket) = self.buckets.get_mut(key) {
            return bucket.take(now);
        }
        if self.buckets.len() >= self.max_keys {
            // Full buckets carry no information: a fresh one would be identical.
            self.buckets.retain(|_, bucket| !bucket.is_full(now));
            if self.buckets.len() >= self.max_keys {
                return Err(Duration::from_secs(1));
            }
        }
        let mut bucket = TokenBucket::new(self.rate, now);
        let taken = bucket.take(now);
        self.buckets.insert(key.clone(), bucket);
        taken
    }

    /// How many keys are remembered now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// The room server's limits, from `[room]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitsConfig {
    pub joins_per_ip: Rate,
    pub joins_per_user: Rate,
    pub messages_per_connection: Rate,
    /// Messages refused in a row (after the typed error) before the connection is closed.
    pub close_after_refused: u32,
    /// Open WebSocket connections from one IP address; 0 = no limit.
    pub connections_per_ip: u32,
    /// Open WebSocket connections in all; 0 = no limit.
    pub connections: u32,
}

/// Most keys (addresses, userIds) remembered per limiter.
const MAX_TRACKED_KEYS: usize = 10_000;

/// Join attempts: every `join` takes a token from its IP address's bucket and from its
/// userId's, before the UserSig is even checked (so guessing signatures is throttled too).
#[derive(Debug)]
pub struct JoinLimiter {
    per_ip: KeyedLimiter<IpAddr>,
    per_user: KeyedLimiter<String>,
}

impl JoinLimiter {
    pub fn new(config: &LimitsConfig) -> Self {
        JoinLimiter {
            per_ip: KeyedLimiter::new(config.joins_per_ip, MAX_TRACKED_KEYS),
            per_user: KeyedLimiter::new(config.joins_per_user, MAX_TRACKED_KEYS),
        }
    }

    /// Admits a join from `ip` (unknown for a socket without a peer address) as `user_id`, or
    /// says why not as the error the client gets.
    pub fn admit(
        &mut self,
        ip: Option<IpAddr>,
        user_id: &str,
        now: Instant,
    ) -> Result<(), SignalError> {
        if let Some(ip) = ip {
            self.per_ip.take(&ip, now).map_err(|wait| {
                rate_limited(format!(
                    "too many joins from {ip}; try again in {} ms",
                    wait.as_millis().max(1)
                ))
            })?;
        }
        // userIds are short (validated later); a long one is cut so the table stays small.
        let key: String = user_id.chars().take(64).collect();
        self.per_user.take(&key, now).map_err(|wait| {
            rate_limited(format!(
                "too many joins as userId {key:?}; try again in {} ms",
                wait.as_millis().max(1)
            ))
        })
    }
}

fn rate_limited(message: String) -> SignalError {
    SignalError::new(code::JOIN_ROOM_FAILED, extra::JOIN_RATE_LIMITED, message)
}

/// What to do with one message on a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageVerdict {
    /// Within the rate: handle it.
    Pass,
    /// The first one over the rate: drop it and tell the client with this error.
    Refuse(SignalError),
    /// Still over the rate: drop it silently (one error per excess is enough).
    Drop,
    /// It kept going: close the connection.
    Close,
}

/// Messages on one WebSocket connection.
#[derive(Debug)]
pub struct MessageGate {
    bucket: TokenBucket,
    close_after_refused: u32,
    refused_in_a_row: u32,
}

impl MessageGate {
    pub fn new(config: &LimitsConfig, now: Instant) -> Self {
        MessageGate {
            bucket: TokenBucket::new(config.messages_per_connection, now),
            close_after_refused: config.close_after_refused.max(1),
            refused_in_a_row: 0,
        }
    }

    /// Judges one incoming message.
    pub fn admit(&mut self, now: Instant) -> MessageVerdict {
        match self.bucket.take(now) {
            Ok(()) => {
                self.refused_in_a_row = 0;
                MessageVerdict::Pass
            }
            Err(wait) => {
                self.refused_in_a_row += 1;
                if self.refused_in_a_row >= self.close_after_refused {
                    MessageVerdict::Close
                } else if self.refused_in_a_row == 1 {
                    MessageVerdict::Refuse(SignalError::new(
                        code::INVALID_OPERATION,
                        extra::MESSAGE_RATE_LIMITED,
                        format!(
                            "too many messages on this connection; slow down (next accepted in {} ms), or it is closed",
                            wait.as_millis().max(1)
                        ),
                    ))
                } else {
                    MessageVerdict::Drop
                }
            }
        }
    }
}

/// Why a new connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionRefused {
    #[error("too many open connections from {ip} (room.max_connections_per_ip = {limit})")]
    PerIp { ip: IpAddr, limit: u32 },
    #[error("too many open connections (room.max_connections = {limit})")]
    Total { limit: u32 },
}

/// Open connections. Heartbeats keep a connection that never joins alive, so without a cap
/// one address could hold any number of sockets and their memory. A connection is counted
/// from `open` until its `close`; an address with none open is forgotten.
#[derive(Debug)]
pub struct ConnectionLimiter {
    per_ip: HashMap<IpAddr, u32>,
    total: u32,
    max_per_ip: u32,
    max_total: u32,
}

impl ConnectionLimiter {
    pub fn new(config: &LimitsConfig) -> Self {
        ConnectionLimiter {
            per_ip: HashMap::new(),
            total: 0,
            max_per_ip: config.connections_per_ip,
            max_total: config.connections,
        }
    }

    /// Counts a new connection from `ip` (unknown for a socket without a peer address), or
    /// says why it may not open.
    pub fn open(&mut self, ip: Option<IpAddr>) -> Result<(), ConnectionRefused> {
        if self.max_total > 0 && self.total >= self.max_total {
            return Err(ConnectionRefused::Total {
                limit: self.max_total,
            });
        }
        if let Some(ip) = ip {
            let open = self.per_ip.entry(ip).or_insert(0);
            if self.max_per_ip > 0 && *open >= self.max_per_ip {
                return Err(ConnectionRefused::PerIp {
                    ip,
                    limit: self.max_per_ip,
                });
            }
            *open += 1;
        }
        self.total += 1;
        Ok(())
    }

    /// A connection `open` admitted has ended.
    pub fn close(&mut self, ip: Option<IpAddr>) {
        self.total = self.total.saturating_sub(1);
        if let Some(ip) = ip {
            if let Some(open) = self.per_ip.get_mut(&ip) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
    }

    /// Open connections, in all and the number of addresses they come from.
    pub fn counts(&self) -> (u32, usize) {
        (self.total, self.per_ip.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(burst: u32, per_second: f64) -> Rate {
        Rate { burst, per_second }
    }

    fn limits() -> LimitsConfig {
        LimitsConfig {
            joins_per_ip: rate(3, 1.0),
            joins_per_user: rate(2, 0.5),
            messages_per_connection: rate(4, 2.0),
            close_after_refused: 3,
            connections_per_ip: 2,
            connections: 3,
        }
    }

    #[test]
    fn connections_are_capped_per_address_and_in_all_and_freed_on_close() {
        let mut limiter = ConnectionLimiter::new(&limits());
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        assert_eq!(limiter.open(Some(a)), Ok(()));
        assert_eq!(limiter.open(Some(a)), Ok(()));
        assert_eq!(
            limiter.open(Some(a)),
            Err(ConnectionRefused::PerIp { ip: a, limit: 2 })
        );
        // Another address still gets in, up to the total.
        assert_eq!(limiter.open(Some(b)), Ok(()));
        assert_eq!(limiter.counts(), (3, 2));
        assert_eq!(
            limiter.open(Some(b)),
            Err(ConnectionRefused::Total { limit: 3 })
        );
        assert_eq!(
            limiter.open(None),
            Err(ConnectionRefused::Total { limit: 3 })
        );
        // A closed connection frees its place; an address with none open is forgotten.
        limiter.close(Some(b));
        assert_eq!(limiter.counts(), (2, 1));
        assert_eq!(limiter.open(Some(b)), Ok(()));
        limiter.close(Some(a));
        assert_eq!(limiter.open(Some(a)), Ok(()));
        for ip in [a, a, b] {
            limiter.close(Some(ip));
        }
        assert_eq!(limiter.counts(), (0, 0));
        // A close too many never underflows.
        limiter.close(Some(a));
        assert_eq!(limiter.counts(), (0, 0));
        let error = ConnectionRefused::PerIp { ip: a, limit: 2 }.to_string();
        assert!(error.contains("room.max_connections_per_ip = 2"), "{error}");
    }

    #[test]
    fn zero_means_no_connection_limit() {
        let mut limiter = ConnectionLimiter::new(&LimitsConfig {
            connections_per_ip: 0,
            connections: 0,
            ..limits()
        });
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..1000 {
            assert_eq!(limiter.open(Some(a)), Ok(()));
        }
        assert_eq!(limiter.counts(), (1000, 1));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(3, 2.0), t0);
        for _ in 0..3 {
            assert_eq!(bucket.take(t0), Ok(()));
        }
        let wait = bucket.take(t0).expect_err("empty");
        assert_eq!(wait, Duration::from_millis(500));
        // Half a second later exactly one token is back.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(bucket.take(t1), Ok(()));
        assert!(bucket.take(t1).is_err());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(bucket.take(t2), Ok(()));
        }
        assert!(bucket.take(t2).is_err());
    }

    #[test]
    fn a_zero_rate_never_refills() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(1, 0.0), t0);
        assert_eq!(bucket.take(t0), Ok(()));
        assert_eq!(
            bucket.take(t0 + Duration::from_secs(3600)),
            Err(Duration::MAX)
        );
    }

    #[test]
    fn keys_have_their_own_buckets_and_the_table_stays_bounded() {
        let t0 = Instant::now();
        let mut limiter = KeyedLimiter::new(rate(1, 1.0), 2);
        assert!(limiter.take(&"a", t0).is_ok());
        assert!(limiter.take(&"a", t0).is_err());
        assert!(limiter.take(&"b", t0).is_ok());
        // Both remembered keys are still limited: a third is refused rather than tracked.
        assert!(limiter.take(&"c", t0).is_err());
        assert_eq!(limiter.tracked(), 2);
        // Once they have refilled they are forgotten and make room.
        let later = t0 + Duration::from_secs(5);
        assert!(limiter.take(&"c", later).is_ok());
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn joins_are_limited_per_ip_and_per_user() {
        let t0 = Instant::now();
        let mut joins = JoinLimiter::new(&limits());
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let other_ip: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(joins.admit(Some(ip), "u1", t0).is_ok());
        assert!(joins.admit(Some(ip), "u2", t0).is_ok());
        assert!(joins.admit(Some(ip), "u3", t0).is_ok());
        let err = joins.admit(Some(ip), "u4", t0).expect_err("ip over");
        assert_eq!(err.code, code::JOIN_ROOM_FAILED);
        assert_eq!(err.extra_code, extra::JOIN_RATE_LIMITED);
        assert!(err.message.contains("192.0.2.1"), "{}", err.message);
        // Another address is not affected by the first one's flood.
        assert!(joins.admit(Some(other_ip), "u5", t0).is_ok());
        // One userId from many addresses is limited on its own.
        assert!(joins.admit(Some(other_ip), "u1", t0).is_ok());
        let err = joins
            .admit(Some("192.0.2.3".parse().expect("ip")), "u1", t0)
            .expect_err("user over");
        assert_eq!(err.extra_code, extra::JOIN_RATE_LIMITED);
        assert!(err.message.contains("\"u1\""), "{}", err.message);
        // A second later the address has a token again.
        assert!(joins
            .admit(Some(ip), "u6", t0 + Duration::from_secs(1))
            .is_ok());
    }

    #[test]
    fn a_flooding_connection_gets_one_error_then_silence_then_is_closed() {
        let t0 = Instant::now();
        let mut gate = MessageGate::new(&limits(), t0);
        for _ in 0..4 {
            assert_eq!(gate.admit(t0), MessageVerdict::Pass);
        }
        match gate.admit(t0) {
            MessageVerdict::Refuse(err) => {
                assert_eq!(err.code, code::INVALID_OPERATION);
                assert_eq!(err.extra_code, extra::MESSAGE_RATE_LIMITED);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(gate.admit(t0), MessageVerdict::Drop);
        assert_eq!(gate.admit(t0), MessageVerdict::Close);
    }

    #[test]
    fn a_connection_that_slows_down_is_forgiven() {
        let t0 = Instant::now();
        let mut gate = MessageGate::new(&limits(), t0);
        for _ in 0..4 {
            assert_eq!(gate.admit(t0), MessageVerdict::Pass);
        }
        assert!(matches!(gate.admit(t0), MessageVerdict::Refuse(_)));
        // It waits for a token: accepted, and the count of refusals starts over.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(gate.admit(t1), MessageVerdict::Pass);
        assert!(matches!(gate.admit(t1), MessageVerdict::Refuse(_)));
        assert_eq!(gate.admit(t1), MessageVerdict::Drop);
    }
}
