//! Clients following a DNS change: the record's answer as read from Route 53, and the region
//! clients reach, which follows a change once their cached answer (the TTL) expires.

use crate::engine::Time;

#[derive(Debug, Clone, Default)]
pub struct Follow {
    /// The region the record answers with now.
    pub answer: Option<String>,
    /// The region clients reach (the answer, once cached answers expired).
    pub client: Option<String>,
    /// How many times the answer changed (a settle timer carries the count it was set for).
    pub changes: u64,
    /// The record's TTL, seconds.
    pub ttl: f64,
    /// Clients reached the DR region (reported once).
    pub switched: bool,
}

impl Follow {
    pub fn new(ttl: f64) -> Follow {
        Follow {
            ttl,
            ..Follow::default()
        }
    }

    /// The record answered `region` at `at`. The first answer is what clients use from the
    /// start; a change returns when clients follow it and the count to settle it with.
    pub fn answered(&mut self, at: Time, region: Option<String>) -> Option<(Time, u64)> {
        if region == self.answer {
            return None;
        }
        let first = self.answer.is_none();
        self.answer = region;
        self.changes += 1;
        if first {
            self.client = self.answer.clone();
            None
        } else {
            Some((at.plus(Time::from_secs(self.ttl)), self.changes))
        }
    }

    /// The settle timer of change `n` fired: clients follow the answer if it is still that
    /// change's. True the first time clients so reach `dr` (the traffic switch).
    pub fn settled(&mut self, n: u64, dr: &str) -> bool {
        if n != self.changes {
            return false;
        }
        self.client = self.answer.clone();
        if !self.switched && self.client.as_deref() == Some(dr) {
            self.switched = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_follow_a_change_after_the_ttl_and_only_the_latest() {
        let mut f = Follow::new(60.0);
        assert_eq!(f.answered(Time::ZERO, Some("p".into())), None);
        assert_eq!(f.client.as_deref(), Some("p"));
        let (at, n) = f.answered(Time::from_secs(10.0), Some("d".into())).expect("a change");
        assert_eq!(at, Time::from_secs(70.0));
        // Changed back before it settled: the first change's timer does nothing.
        let (_, m) = f.answered(Time::from_secs(20.0), Some("p".into())).expect("a change");
        assert!(!f.settled(n, "d"));
        assert_eq!(f.client.as_deref(), Some("p"));
        let (_, k) = f.answered(Time::from_secs(30.0), Some("d".into())).expect("a change");
        assert!(m < k);
        assert!(f.settled(k, "d"));
        assert!(!f.settled(k, "d"), "the switch is reported once");
    }
}
