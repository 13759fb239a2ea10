//! The command lines that build the same installer elsewhere: `fleetctl package` and
//! `flotilla-local package` (its flags: functions/local/src/package.rs).

use flotilla::{PackagerSettings, Settings};
use maud::{html, Markup};

/// A word as a POSIX shell reads it back unchanged.
pub(crate) fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+@,%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn flag(name: &str, value: &str) -> String {
    format!("--{name}={}", shell_word(value))
}

/// `fleetctl package ...` for this installer.
pub(crate) fn fleetctl(kind: &str, base: &str, secret: &str, settings: &Settings) -> String {
    let mut words = vec![
        "fleetctl package".to_string(),
        flag("type", kind),
        flag("fleet-url", base),
        flag("enroll-secret", secret),
    ];
    if settings.server_certificate.is_some() {
        words.push(flag("fleet-certificate", "server.pem"));
    }
    if settings.packager.update_url != PackagerSettings::DEFAULT_UPDATE_URL {
        words.push(flag("update-url", &settings.packager.update_url));
        words.push("--update-roots=\"$(cat root.json)\"".to_string());
    }
    words.join(" ")
}

/// `flotilla-local package ...` for this installer (it needs the repository's root.json).
pub(crate) fn flotilla_local(kind: &str, base: &str, secret: &str, settings: &Settings) -> String {
    let mut words = vec![
        "flotilla-local package".to_string(),
        flag("type", kind),
        flag("fleet-url", base),
        flag("enroll-secret", secret),
        flag("update-roots", "root.json"),
    ];
    if settings.server_certificate.is_some() {
        words.push(flag("fleet-certificate", "server.pem"));
    }
    if settings.packager.update_url != PackagerSettings::DEFAULT_UPDATE_URL {
        words.push(flag("update-url", &settings.packager.update_url));
    }
    words.join(" ")
}

pub(crate) fn section(kind: &str, base: &str, secret: &str, settings: &Settings) -> Markup {
    html! {
        p { "With Fleet's command-line tool:" }
        pre tabindex="0" { code { (fleetctl(kind, base, secret, settings)) } }
        p { "Or with Flotilla's own, which builds the same installer with this server's code:" }
        pre tabindex="0" { code { (flotilla_local(kind, base, secret, settings)) } }
        p class="hint" {
            "root.json is the update repository's trusted root metadata ("
            code { (settings.packager.update_url) }
            ")."
            @if settings.server_certificate.is_some() {
                " server.pem is "
                a href="/add-hosts/server.pem" download { "this server's certificate" }
                "."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn words_survive_the_shell() {
        assert_eq!(shell_word("abc+/="), "abc+/=");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
