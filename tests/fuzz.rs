//! A time-boxed fuzzer over the scenario grammar: every file of `tests/fuzz-corpus/` (kept in
//! the repository) is mutated the ways people and tools break YAML and DR scenarios (numbers
//! pushed to their extremes, durations in every unit, lines dropped, duplicated or swapped,
//! keys from elsewhere in the grammar, control characters and broken UTF-8), then loaded. A
//! scenario that loads is drilled once on the simulator, with and without failback. Nothing
//! may panic, every error must have a position inside the file, and every drill must end with
//! bounded output.
//!
//! `DRILLBIT_FUZZ_SECS` (default 20) is the time budget; `DRILLBIT_FUZZ_SEED` replays a run.
//! A failing input is written to `target/fuzz-failures/` and named in the panic message; add
//! it to the corpus once fixed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drillbit::scenario::load_str;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "3",
    "1000",
    "1001",
    "2147483647",
    "4294967296",
    "1e308",
    "-0",
    "0.5",
    "NaN",
    ".inf",
];
const DURATIONS: &[&str] = &[
    "0s", "1ms", "99ms", "100ms", "1s", "59s", "1m", "1h", "24h", "7d", "8d", "366d", "367d", "1y", "100y", "101y",
    "31709y", "1h30m", "1.5h", "-1s", "1 s", "5", "1e9s",
];
const KEYS: &[&str] = &[
    "at",
    "duration",
    "every",
    "interval",
    "healthy_after",
    "failure_threshold",
    "retries",
    "timeout",
    "horizon",
    "settle",
    "effect_within",
    "rto",
    "rpo",
    "desired",
    "ttl",
    "after",
    "resource",
    "kind",
    "bind",
    "local",
    "command",
    "repair",
    "lognormal",
    "uniform",
    "empirical",
    "writes_per_second",
];
const JUNK: &[&str] = &[
    "\u{1b}[2J",
    "\u{0}",
    "\u{feff}",
    "\t",
    "\r",
    "%YAML 1.2",
    "---",
    "...",
    "&a [*a, *a]",
    "!!binary AA==",
    "{",
    "]",
    "'",
    "\"",
    "\u{202e}",
    "é",
    "\\",
    ": :",
    "- - -",
    "? x",
];

fn mutate(rng: &mut Rng, text: &str) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(4) {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = rng.below(lines.len());
        match rng.below(9) {
            // A number or a duration pushed to an extreme.
            0 | 1 => {
                let line = &lines[n];
                let words: Vec<usize> = line
                    .match_indices(|c: char| c.is_ascii_digit())
                    .map(|(i, _)| i)
                    .filter(|&i| i == 0 || !line.as_bytes()[i - 1].is_ascii_alphanumeric())
                    .collect();
                if let Some(&start) = words.get(rng.below(words.len().max(1))) {
                    let end = line[start..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                        .map_or(line.len(), |e| start + e);
                    let with = if rng.below(2) == 0 {
                        rng.pick(NUMBERS)
                    } else {
                        rng.pick(DURATIONS)
                    };
                    lines[n] = format!("{}{}{}", &line[..start], with, &line[end..]);
                }
            }
            2 => {
                lines.remove(n);
            }
            3 => {
                let l = lines[n].clone();
                lines.insert(n, l);
            }
            4 => {
                let m = rng.below(lines.len());
                lines.swap(n, m);
            }
            // A key from elsewhere in the grammar, with an extreme value.
            5 => {
                let indent: String = lines[n].chars().take_while(|c| *c == ' ').collect();
                let v = if rng.below(2) == 0 {
                    rng.pick(NUMBERS)
                } else {
                    rng.pick(DURATIONS)
                };
                lines.insert(n, format!("{indent}{}: {v}", rng.pick(KEYS)));
            }
            6 => {
                let l = &lines[n];
                let at = l
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth(rng.below(l.chars().count() + 1))
                    .unwrap_or(l.len());
                lines[n] = format!("{}{}{}", &l[..at], rng.pick(JUNK), &l[at..]);
            }
            7 => {
                let l = &lines[n];
                let cut = l
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth(rng.below(l.chars().count() + 1))
                    .unwrap_or(l.len());
                lines[n] = l[..cut].to_string();
            }
            _ => {
                // A whole block repeated: many resources, steps or faults.
                let end = (n + 1 + rng.below(8)).min(lines.len());
                let block: Vec<String> = lines[n..end].to_vec();
                for _ in 0..rng.below(50) {
                    lines.splice(end..end, block.iter().cloned());
                }
            }
        }
    }
    let mut bytes = lines.join("\n").into_bytes();
    if rng.below(40) == 0 && !bytes.is_empty() {
        let i = rng.below(bytes.len());
        bytes[i] = 0xff; // not UTF-8
    }
    bytes
}

/// Loads `bytes`; a valid scenario is drilled on the simulator. Returns a description of what
/// went wrong, if anything.
fn check(bytes: &[u8]) -> Result<bool, String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(false); // load_file refuses non-UTF-8 before parsing (tested in validate.rs)
    };
    // YAML breaks lines at CR, LF and CRLF, and so do the diagnostics' positions.
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    // The empty line after a final line break is a real position (the end of input).
    let with_text = normalized.lines().count() as u32;
    let lines = with_text + u32::from(normalized.is_empty() || normalized.ends_with('\n'));
    let loaded = match std::panic::catch_unwind(|| load_str("fuzz.yaml", text)) {
        Err(_) => return Err("the parser panicked".into()),
        Ok(Err(diags)) => {
            for d in &diags {
                if d.line > lines {
                    return Err(format!("diagnostic past the end of the file: {d:?}"));
                }
                if d.line > 0 && d.line <= with_text && d.snippet.is_none() {
                    return Err(format!("diagnostic without its source line: {d:?}"));
                }
                if d.message.is_empty() {
                    return Err(format!("diagnostic without a message: {d:?}"));
                }
            }
            return Ok(false);
        }
        Ok(Ok(l)) => l,
    };
    for failback in [false, true] {
        if failback && loaded.scenario.runbook.rollback.is_empty() {
            continue;
        }
        let run = std::panic::catch_unwind(|| drillbit::targets::sim::simulate_once_with(&loaded, 7, failback));
        match run {
            Err(_) => return Err(format!("the simulated drill panicked (failback {failback})")),
            Ok(Err(_)) => {} // a target error is an answer, not a crash
            Ok(Ok(sc)) => {
                let json = serde_json::to_string(&sc).map_err(|e| e.to_string())?;
                if json.len() > 4 << 20 {
                    return Err(format!("a {} byte scorecard", json.len()));
                }
            }
        }
    }
    Ok(true)
}

fn corpus() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fuzz-corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("corpus file");
            (p, text)
        })
        .collect()
}

#[test]
fn the_corpus_loads_or_is_refused_without_a_panic() {
    let corpus = corpus();
    assert!(corpus.len() >= 5);
    for (path, text) in &corpus {
        if let Err(e) = check(text.as_bytes()) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn mutated_scenarios_never_panic_and_drill_with_bounded_output() {
    let budget = Duration::from_secs_f64(
        std::env::var("DRILLBIT_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20.0),
    );
    let seed = std::env::var("DRILLBIT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let corpus = corpus();
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let (mut tries, mut valid) = (0u64, 0u64);
    while t0.elapsed() < budget {
        let (_, base) = rng.pick(&corpus);
        let input = mutate(&mut rng, base);
        tries += 1;
        match check(&input) {
            Ok(true) => valid += 1,
            Ok(false) => {}
            Err(e) => {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("seed{seed}-try{tries}.yaml"));
                let _ = std::fs::write(&file, &input);
                panic!("{e}: input in {} (DRILLBIT_FUZZ_SEED={seed})", file.display());
            }
        }
    }
    eprintln!(
        "fuzz: {tries} inputs in {:.1} s ({valid} valid scenarios drilled), seed {seed}",
        t0.elapsed().as_secs_f64()
    );
    assert!(tries > 100, "the budget allowed only {tries} inputs");
}
