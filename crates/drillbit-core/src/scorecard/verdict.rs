//! The scorecard's verdict words as enums. Each variant has one spelling, shared by serde (the
//! scorecard's JSON, written and read back) and [`as_str`](Overall::as_str) (reports); a word
//! also compares equal to its spelling (`verdict.rto == "met"`).

use serde::{Deserialize, Serialize};

/// An enum of words, each spelled once: serde's name and `as_str` are the same literal.
macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every word, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word as the scorecard spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
    };
}

words! {
    /// `verdict.rto`.
    RtoVerdict {
        Met = "met",
        Missed = "missed",
    }
}

words! {
    /// `verdict.rpo`.
    RpoVerdict {
        Met = "met",
        Missed = "missed",
        NotMeasured = "not_measured",
    }
}

words! {
    /// `verdict.failback`: the rollback steps all succeeded and nothing the recovered service
    /// acknowledged was lost (`ok`), or not (`failed`), or no failback ran (`not_run`).
    FailbackVerdict {
        Ok = "ok",
        Failed = "failed",
        NotRun = "not_run",
    }
}

words! {
    /// `verdict.effect`: every disruptive fault showed an effect (`observed`), one did not
    /// (`not_observed`), or there was none (`no_disruptive_fault`: a planned failover).
    EffectVerdict {
        Observed = "observed",
        NotObserved = "not_observed",
        NoDisruptiveFault = "no_disruptive_fault",
    }
}

words! {
    /// `verdict.runbook`: `failed` when a failover step failed or timed out and no fallback
    /// rescued it.
    RunbookVerdict {
        Ok = "ok",
        Failed = "failed",
    }
}

words! {
    /// `verdict.split_brain`: `observed` is two writable hosts at once; `not_watched`, no host
    /// was watched.
    SplitBrainVerdict {
        None = "none",
        Observed = "observed",
        NotWatched = "not_watched",
    }
}

words! {
    /// `verdict.overall`: `inconclusive` when nothing shows that the faults took effect, or the
    /// drill ended before the system settled; `error` when a fault or repair command failed
    /// (an infrastructure failure).
    Overall {
        Pass = "pass",
        Fail = "fail",
        Inconclusive = "inconclusive",
        Error = "error",
    }
}

words! {
    /// How a runbook step ended (`steps[].outcome`).
    StepOutcome {
        Ok = "ok",
        Failed = "failed",
        TimedOut = "timed_out",
        Skipped = "skipped",
        Unsupported = "unsupported",
    }
}

words! {
    /// How a drill judged one check (`checks[].result`): the check was exercised and held
    /// (`pass`), was exercised and did not (`fail`), or this drill does not show either way
    /// (`not_tested`: a step that never ran, an RPO nobody measured, a drill whose faults
    /// showed no effect).
    CheckResult {
        Pass = "pass",
        Fail = "fail",
        NotTested = "not_tested",
    }
}

words! {
    /// What a watched database host was when the drill ended (`hosts[].final_state`).
    HostFinalState {
        Writer = "writer",
        ReadOnly = "read-only",
        Unreachable = "unreachable",
    }
}

impl From<crate::engine::Outcome> for StepOutcome {
    fn from(o: crate::engine::Outcome) -> StepOutcome {
        use crate::engine::Outcome;
        match o {
            Outcome::Ok => StepOutcome::Ok,
            Outcome::Failed => StepOutcome::Failed,
            Outcome::TimedOut => StepOutcome::TimedOut,
            Outcome::Skipped => StepOutcome::Skipped,
            Outcome::Unsupported => StepOutcome::Unsupported,
        }
    }
}

impl From<crate::engine::HostState> for HostFinalState {
    fn from(s: crate::engine::HostState) -> HostFinalState {
        use crate::engine::HostState;
        match s {
            HostState::Writer => HostFinalState::Writer,
            HostState::ReadOnly => HostFinalState::ReadOnly,
            HostState::Unreachable => HostFinalState::Unreachable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{HostState, Outcome};

    /// The scorecard spells an engine outcome or host state as the engine does.
    #[test]
    fn engine_words_keep_their_spelling() {
        for o in [
            Outcome::Ok,
            Outcome::Failed,
            Outcome::TimedOut,
            Outcome::Skipped,
            Outcome::Unsupported,
        ] {
            assert_eq!(StepOutcome::from(o).as_str(), o.as_str());
        }
        for s in [HostState::Writer, HostState::ReadOnly, HostState::Unreachable] {
            assert_eq!(HostFinalState::from(s).as_str(), s.as_str());
        }
        assert_eq!(StepOutcome::ALL.len(), 5);
        assert_eq!(HostFinalState::ALL.len(), 3);
    }

    #[test]
    fn words_serialize_as_spelled_and_read_back() {
        fn check<T: Copy + std::fmt::Debug + PartialEq + Serialize + for<'a> Deserialize<'a>>(
            all: &[T],
            text: fn(T) -> &'static str,
        ) {
            for &w in all {
                let json = serde_json::to_string(&w).expect("serializes");
                assert_eq!(json, format!("\"{}\"", text(w)));
                assert_eq!(serde_json::from_str::<T>(&json).expect("reads back"), w);
            }
            assert!(serde_json::from_str::<T>("\"no-such-word\"").is_err());
        }
        check(RtoVerdict::ALL, RtoVerdict::as_str);
        check(RpoVerdict::ALL, RpoVerdict::as_str);
        check(FailbackVerdict::ALL, FailbackVerdict::as_str);
        check(EffectVerdict::ALL, EffectVerdict::as_str);
        check(RunbookVerdict::ALL, RunbookVerdict::as_str);
        check(SplitBrainVerdict::ALL, SplitBrainVerdict::as_str);
        check(Overall::ALL, Overall::as_str);
        check(StepOutcome::ALL, StepOutcome::as_str);
        check(HostFinalState::ALL, HostFinalState::as_str);
        assert_eq!(format!("{:<8}|", Overall::Pass), "pass    |");
        assert!(RpoVerdict::NotMeasured == "not_measured" && RpoVerdict::Met != "missed");
    }
}
