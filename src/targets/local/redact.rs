//! Connection strings fit to print.

/// A connection string fit to print: a password (`password=...` or a URL's `user:pass@`)
/// becomes `***`.
pub fn redacted(conninfo: &str) -> String {
    let Some((scheme, rest)) = conninfo.split_once("://") else {
        return redact_pairs(conninfo);
    };
    let (auth, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let auth = match auth
        .rsplit_once('@')
        .and_then(|(cred, host)| Some((cred.split_once(':')?.0, host)))
    {
        Some((user, host)) => format!("{user}:***@{host}"),
        None => auth.to_string(),
    };
    format!("{scheme}://{auth}{}", redact_pairs(tail))
}

/// `password=VALUE` (bare or single-quoted, in key/value text or a URL query) -> `password=***`.
fn redact_pairs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("password") {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        out.push_str("password");
        let after = &after["password".len()..];
        let trimmed = after.trim_start();
        let Some(value) = trimmed.strip_prefix('=') else {
            rest = after;
            continue;
        };
        out.push_str("=***");
        let value = value.trim_start();
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            let mut esc = false;
            let mut n = quoted.len();
            for (j, c) in quoted.char_indices() {
                match (esc, c) {
                    (true, _) => esc = false,
                    (false, '\\') => esc = true,
                    (false, '\'') => {
                        n = j + 1;
                        break;
                    }
                    _ => {}
                }
            }
            1 + n
        } else {
            value
                .find(|c: char| c.is_whitespace() || c == '&')
                .unwrap_or(value.len())
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_connection_strings_hide_the_password() {
        assert_eq!(
            redacted("host=db port=5432 password=hunter2 user=app"),
            "host=db port=5432 password=*** user=app"
        );
        assert_eq!(
            redacted("host=db password = 'it\\'s secret' dbname=x"),
            "host=db password=*** dbname=x"
        );
        assert_eq!(
            redacted("postgresql://app:hunter2@db:5432/orders?sslmode=require"),
            "postgresql://app:***@db:5432/orders?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://db/orders?user=app&password=hunter2&sslmode=require"),
            "postgres://db/orders?user=app&password=***&sslmode=require"
        );
        assert_eq!(redacted("host=db user=app"), "host=db user=app");
    }
}
