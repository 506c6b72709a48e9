use super::*;
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

fn load(src: &str) -> Res<Node> {
    parse(src, &Limits::default())
}

/// The value of key `v` in `src`.
fn val(src: &str) -> Value {
    load(src).unwrap().get("v").unwrap().value.clone()
}

fn err_of<T: de::DeserializeOwned + fmt::Debug>(src: &str) -> LoadError {
    from_node::<T>(&load(src).unwrap()).unwrap_err()
}

fn mark(line: u32, col: u32) -> Option<Mark> {
    Some(Mark { line, col })
}

/// Seconds written as `90s`, `5m` or `1h`; its own errors must still get a position.
#[derive(Debug, PartialEq)]
struct Duration(u64);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like 90s")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
                let units = [("s", 1), ("m", 60), ("h", 3600)];
                let secs = units
                    .iter()
                    .find_map(|(unit, scale)| Some(s.strip_suffix(unit)?.parse::<u64>().ok()? * scale));
                let bad = || E::custom(format!("bad duration `{s}`"));
                secs.map(Duration).ok_or_else(bad)
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    region: String,
    replicas: u32,
    timeout: Duration,
    db: Db,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Db {
    engine: String,
    ratio: f64,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Step {
    action: Action,
    after: Option<Duration>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Action {
    Failover,
    KillNode { node: String, count: u32 },
    Wait(Duration),
}

const GOOD: &str = "\
name: yes
region: 1
replicas: 3
timeout: 90s
db:
  engine: postgres
  ratio: 2
steps:
  - action: failover
  - action:
      kill_node: {node: db-1, count: 2}
    after: 5m
  - action: {wait: 1h}
";

/// The error from deserializing GOOD with `from` replaced by `to`, as `line:col: message`.
fn bad(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    let e = err_of::<Scenario>(&GOOD.replace(from, to));
    assert_eq!(e.kind, ErrorKind::Schema);
    e.to_string()
}

#[test]
fn good_document_deserializes() {
    let s: Scenario = from_node(&load(GOOD).unwrap()).unwrap();
    assert_eq!((s.name, s.region), ("yes".into(), "1".into()));
    assert_eq!((s.replicas, s.timeout), (3, Duration(90)));
    assert_eq!((s.db.engine.as_str(), s.db.ratio), ("postgres", 2.0));
    let [first, second, third] = &s.steps[..] else {
        panic!("{:?}", s.steps)
    };
    assert_eq!((&first.action, &first.after), (&Action::Failover, &None));
    let kill = Action::KillNode {
        node: "db-1".into(),
        count: 2,
    };
    assert_eq!((&second.action, &second.after), (&kill, &Some(Duration(300))));
    assert_eq!(third.action, Action::Wait(Duration(3600)));
}

#[test]
fn schema_errors_point_at_the_right_node() {
    // Each case: what to replace in GOOD | its replacement | expected start of the error.
    let cases = [
        // An unknown field points at its key.
        "ratio: 2|ratio: 2\n  extra: 1|8:3: unknown field `extra`",
        // A wrong type points at the value.
        "replicas: 3|replicas: [3]|3:11: invalid type: expected u32, found a sequence",
        "replicas: 3|replicas: -5|3:11: invalid value: integer `-5`, expected u32",
        "90s|{a: 1}|4:10: invalid type: expected a duration like 90s, found a mapping",
        // A missing field points at the mapping that lacks it.
        "engine: postgres\n  ||6:3: missing field `engine`",
        // A custom impl's own error points at the scalar it rejected.
        "timeout: 90s|timeout: soon|4:10: bad duration `soon`",
        // Errors in the third element of `steps` point inside that element.
        "{wait: 1h}|{wait: 1y}|13:20: bad duration `1y`",
        "{wait: 1h}|{sleep: 1h}|13:14: unknown variant `sleep`",
        "{wait: 1h}|[wait]|13:13: expected a string or a single-key mapping naming one of",
        "{wait: 1h}|{wait: 1h}\n    then: x|14:5: unknown field `then`",
    ];
    for case in cases {
        let fields: Vec<&str> = case.split('|').collect();
        let got = bad(fields[0], fields[1]);
        assert!(got.starts_with(fields[2]), "{case:?}: got {got}");
    }
}

#[test]
fn empty_and_syntax_errors() {
    for src in ["", "   \n\n", "# just a comment\n# another\n", "---\n"] {
        let e = load(src).unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::Empty, None), "{src:?}");
        assert_eq!(e.message, "file is empty: expected a YAML mapping");
    }
    let cases = [
        ("foo: [bar", mark(2, 1)),
        ("a: b: c", mark(1, 5)),
        ("a:\n\tb: 1\n", mark(2, 2)),
        ("a: 1\n b: 2\n", mark(2, 3)),
        ("a: *nope\n", mark(1, 4)),
        ("a: 1\n---\nb: 2\n", mark(2, 1)),
    ];
    for (src, at) in cases {
        let e = load(src).unwrap_err();
        assert_eq!((e.kind, e.mark), (ErrorKind::Syntax, at), "{src:?}: {e}");
    }
    // `: : :` is valid YAML 1.2 (nested null keys), so the schema is what refuses it.
    let e = err_of::<Scenario>(": : :");
    assert_eq!((e.kind, e.mark), (ErrorKind::Schema, mark(1, 1)), "{e}");
}

#[test]
fn depth_bombs_are_refused() {
    let e = load(&"[".repeat(100)).unwrap_err();
    assert_eq!((e.kind, e.mark), (ErrorKind::TooDeep, mark(1, 65)), "{e}");
    let e = load(&"[".repeat(100_000)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooDeep);
    let limits = Limits {
        max_bytes: 10_000_000,
        ..Limits::default()
    };
    let e = parse(&"[".repeat(5_000_000), &limits).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooDeep);
    let e = load(&"- ".repeat(400_000)).unwrap_err();
    assert_eq!((e.kind, e.mark), (ErrorKind::TooDeep, mark(1, 129)), "{e}");
    let block: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    assert_eq!(load(&block).unwrap_err().kind, ErrorKind::TooDeep);
    // Aliases must not smuggle extra depth past the limit.
    let mut chain = String::from("a0: &a0 [x]\n");
    for i in 1..80 {
        chain.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
    }
    assert_eq!(load(&chain).unwrap_err().kind, ErrorKind::TooDeep);
}

#[test]
fn alias_bomb_is_refused_and_modest_aliases_work() {
    let mut bomb = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (prev, cur) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        bomb.push_str(&format!("{cur}: &{cur} [{refs}]\n"));
    }
    let e = load(&bomb).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooManyNodes, "{e}");
    assert!(e.mark.is_some_and(|m| m.line > 1));

    let src = "base: &b {engine: pg, ratio: 1.5}\none: *b\ntwo: *b\nthree: *b\n";
    let root = load(src).unwrap();
    let base = &root.get("base").unwrap().value;
    for k in ["one", "two", "three"] {
        assert_eq!(&root.get(k).unwrap().value, base);
    }
    assert_eq!(root.get("two").unwrap().mark, Mark { line: 3, col: 6 });
    let db: Db = from_node(root.get("three").unwrap()).unwrap();
    assert_eq!((db.engine.as_str(), db.ratio), ("pg", 1.5));
    assert_eq!(load("a: &x [*x]\n").unwrap_err().kind, ErrorKind::Syntax);

    // Few nodes but much text: a short alias to a long string is a memory bomb too.
    let src = format!("a: &a {}\nb: [*a, *a, *a]\n", "x".repeat(400_000));
    let e = load(&src).unwrap_err();
    assert_eq!((e.kind, e.mark), (ErrorKind::TooLarge, mark(2, 9)), "{e}");
    // Nested anchors around one big subtree would each keep a snapshot of it.
    let inner = vec!["x"; 2_000].join(", ");
    let nested = format!("{}[{inner}]{}", "[&a ".repeat(60), "]".repeat(60));
    assert_eq!(load(&nested).unwrap_err().kind, ErrorKind::TooManyNodes);
}

#[test]
fn keys_limits_and_tags() {
    let e = load("a: 1\nb: 2\na: 3\n").unwrap_err();
    assert_eq!((e.kind, e.mark), (ErrorKind::Schema, mark(3, 1)));
    assert_eq!(e.message, "duplicate key `a`");
    let e = load("0x10: a\n16: b\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Schema);
    let e = load("x: 1\n? [a]\n: 2\n").unwrap_err();
    assert_eq!((e.kind, e.mark), (ErrorKind::Schema, mark(2, 3)), "{e}");

    let limits = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let e = parse("name: far too long\n", &limits).unwrap_err();
    assert_eq!((e.kind, e.mark), (ErrorKind::TooLarge, None));
    let want = "file is 19 bytes, larger than the limit of 10 bytes";
    assert_eq!(e.message, want);
    let limits = Limits {
        max_nodes: 5,
        ..Limits::default()
    };
    let e = parse("[1, 2, 3, 4, 5]", &limits).unwrap_err();
    assert_eq!((e.kind, e.mark), (ErrorKind::TooManyNodes, mark(1, 14)));

    let e = load("a: !!python/object foo\n").unwrap_err();
    assert_eq!((e.kind, e.mark), (ErrorKind::Schema, mark(1, 4)), "{e}");
    assert!(e.message.starts_with("unsupported tag"));
    assert_eq!(val("v: !!str 12"), Value::Str("12".into()));
    assert_eq!(val("v: !!int 12"), Value::Int(12));
}

#[test]
fn scalar_resolution() {
    let cases = r#"1=Int(1) 1.5=Float(1.5) "1"=Str("1") true=Bool(true) ~=Null yes=Str("yes")
            90s=Str("90s") -7=Int(-7) 0x1F=Int(31) 0o17=Int(15) 1e3=Float(1000.0) .inf=Float(inf)
            -.inf=Float(-inf) .5=Float(0.5) 2.=Float(2.0) null=Null ''=Str("") 1.2.3=Str("1.2.3")
            +3=Int(3) False=Bool(false) 0x=Str("0x") 1e=Str("1e") .=Str(".") inf=Str("inf")
            99999999999999999999=Str("99999999999999999999") 0o8=Str("0o8") +0x1=Str("+0x1")"#;
    for case in cases.split_whitespace() {
        let (src, want) = case.split_once('=').unwrap();
        let root = load(&format!("v: {src}")).unwrap();
        let node = root.get("v").unwrap();
        assert_eq!(format!("{:?}", node.value), want, "{src}");
        let text = src.trim_matches(['"', '\'']);
        assert_eq!(node.text.as_deref(), Some(text), "{src}");
    }
    assert!(matches!(val("v: .nan"), Value::Float(f) if f.is_nan()));
    assert_eq!(val("v: |\n  x\n  y\n"), Value::Str("x\ny\n".into()));
    assert_eq!(val("v: >\n  1\n"), Value::Str("1\n".into()));
}

#[test]
fn node_at_finds_nested_nodes() {
    let root = load(GOOD).unwrap();
    let key = |k: &str| PathSeg::Key(k.into());
    let path = [key("steps"), PathSeg::Index(1), key("after")];
    let n = node_at(&root, &path).unwrap();
    assert_eq!((n.mark, n.type_name()), (Mark { line: 12, col: 12 }, "string"));
    assert!(node_at(&root, &[key("steps"), PathSeg::Index(9)]).is_none());
    assert!(node_at(&root, &[key("name"), PathSeg::Index(0)]).is_none());
    assert_eq!(node_at(&root, &[]), Some(&root));
}

#[test]
fn other_serde_shapes() {
    #[derive(Debug, Deserialize)]
    struct Misc {
        pair: (u8, String),
        flag: bool,
        unit: (),
        #[serde(default)]
        absent: Option<u8>,
        map: std::collections::BTreeMap<String, i64>,
        other: Kind,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        A,
        #[serde(other)]
        Unknown,
    }
    let src = "pair: [7, x]\nflag: true\nunit: ~\nmap: {1: 2, b: -3}\nother: zzz\n";
    let m: Misc = from_node(&load(src).unwrap()).unwrap();
    assert_eq!((m.pair, m.flag, m.unit), ((7, "x".into()), true, ()));
    assert_eq!((m.absent, m.map.get("1")), (None, Some(&2)));
    assert_eq!(m.other, Kind::Unknown);
    let cases = [
        "[7, x]|[7, x, 9]|1:7: invalid length 3, expected 2 elements",
        "[7, x]|[300, x]|1:8: invalid value: integer `300`, expected u8",
        "true|yes|2:7: invalid type: expected a boolean, found string \"yes\"",
        "unit: ~|unit: 0|3:7: invalid type: expected unit, found integer `0`",
    ];
    for case in cases {
        let fields: Vec<&str> = case.split('|').collect();
        let e = err_of::<Misc>(&src.replace(fields[0], fields[1]));
        assert_eq!(e.to_string(), fields[2]);
    }
    let _: de::IgnoredAny = from_node(&load(GOOD).unwrap()).unwrap();
}
