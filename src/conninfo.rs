//! libpq connection strings: key/value text (`host=a port=5432 password='x y'`) and
//! `postgresql://` URLs, read the way libpq reads them. Shared by the local target (per-host
//! watching of a multi-host endpoint) and the aws target's TLS settings.

/// The pairs of a connection string in either form.
pub fn pairs(conninfo: &str) -> Result<Vec<(String, String)>, String> {
    if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        url_pairs(conninfo)
    } else {
        keyword_pairs(conninfo)
    }
}

/// A value as key/value text: bare when it can be, else single-quoted with `\` escapes.
pub fn quote(v: &str) -> String {
    if !v.is_empty() && !v.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\') {
        return v.to_string();
    }
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// libpq key/value pairs: `key = value`, values bare or single-quoted, `\` escaping.
pub fn keyword_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("the connection string: expected `=` after `{key}`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.push(chars.next().ok_or("the connection string: unfinished `\\`")?),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("the connection string: unterminated quote in `{key}`")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().ok_or("the connection string: unfinished `\\`")?);
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// `postgresql://user:pass@h1:p1,h2:p2/db?k=v` as key/value pairs.
pub fn url_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let dec = decoded;
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let (before_q, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, db) = before_q.split_once('/').unwrap_or((before_q, ""));
    let (cred, hostlist) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    let mut out = Vec::new();
    if let Some(c) = cred {
        let (user, pass) = c.split_once(':').map_or((c, None), |(u, p)| (u, Some(p)));
        if !user.is_empty() {
            out.push(("user".into(), dec(user)));
        }
        if let Some(p) = pass {
            out.push(("password".into(), dec(p)));
        }
    }
    let (mut hosts, mut ports) = (Vec::new(), Vec::new());
    for hp in hostlist.split(',').filter(|x| !x.is_empty()) {
        let (h, p) = if let Some(v6) = hp.strip_prefix('[') {
            let (h, tail) = v6.split_once(']').ok_or("an IPv6 host has no closing `]`")?;
            (h.to_string(), tail.strip_prefix(':').map(str::to_string))
        } else {
            match hp.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (hp.to_string(), None),
            }
        };
        hosts.push(dec(&h));
        ports.push(p.unwrap_or_else(|| "5432".into()));
    }
    if !hosts.is_empty() {
        out.push(("host".into(), hosts.join(",")));
        out.push(("port".into(), ports.join(",")));
    }
    if !db.is_empty() {
        out.push(("dbname".into(), dec(db)));
    }
    for kv in query.split('&').filter(|x| !x.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        out.push((dec(k), dec(v)));
    }
    Ok(out)
}

/// Percent-decodes a path (identifiers in REST paths and form bodies are encoded); also
/// connection-string URLs. A `%` not followed by two hex digits stays as it is.
pub fn decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
