//! What orbit enrolls with: the hardware UUID, serial, host name and platform. Like Fleet's
//! orbit, it asks the installed osqueryd first (`osqueryd -S --json ...`), so that orbit and
//! osquery report the same UUID and the server sees one host; without osqueryd it reads the
//! platform's own sources.

use serde::Deserialize;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub hardware_uuid: String,
    pub hardware_serial: String,
    pub hostname: String,
    pub computer_name: String,
    pub hardware_model: String,
    /// osquery's instance id, sent as `osquery_identifier` under `--host-identifier=instance`.
    pub osquery_instance_id: Option<String>,
    /// `ubuntu`, `darwin`, `windows`, ... (osquery's `os_version.platform`).
    pub platform: String,
}

#[derive(Debug, Deserialize)]
struct OsqueryRow {
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    hardware_serial: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    computer_name: String,
    #[serde(default)]
    hardware_model: String,
    #[serde(default)]
    instance_id: String,
    #[serde(default)]
    platform: String,
}

const FACTS_QUERY: &str = "SELECT s.uuid, s.hardware_serial, s.hostname, s.computer_name, \
     s.hardware_model, o.instance_id, v.platform \
     FROM system_info s, osquery_info o, os_version v";

/// Asks osqueryd in shell mode, with the agent's database so the instance id is the daemon's.
async fn from_osqueryd(osqueryd: &Path, database: &Path) -> Option<HostFacts> {
    let run = tokio::process::Command::new(osqueryd)
        .arg("-S")
        .arg("--json")
        .arg(format!("--database_path={}", database.display()))
        .arg(FACTS_QUERY)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .ok()?
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let rows: Vec<OsqueryRow> = serde_json::from_slice(&output.stdout).ok()?;
    let row = rows.into_iter().next()?;
    (!row.uuid.is_empty()).then(|| HostFacts {
        hardware_uuid: row.uuid,
        hardware_serial: row.hardware_serial,
        hostname: row.hostname,
        computer_name: row.computer_name,
        hardware_model: row.hardware_model,
        osquery_instance_id: (!row.instance_id.is_empty()).then_some(row.instance_id),
        platform: row.platform,
    })
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// `/etc/machine-id` (32 hex digits) shaped as a UUID.
fn machine_id_uuid() -> Option<String> {
    let id = read_trimmed("/etc/machine-id")?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
        format!(
            "{}-{}-{}-{}-{}",
            &id[..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..]
        )
        .to_uppercase()
    })
}

#[cfg(target_os = "linux")]
fn platform_sources() -> HostFacts {
    let os_id = read_trimmed("/etc/os-release")
        .and_then(|release| {
            release.lines().find_map(|line| {
                line.strip_prefix("ID=")
                    .map(|id| id.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "linux".to_string());
    let hostname = hostname();
    HostFacts {
        // DMI is readable by root only, which the agent is.
        hardware_uuid: read_trimmed("/sys/class/dmi/id/product_uuid")
            .map(|uuid| uuid.to_uppercase())
            .or_else(machine_id_uuid)
            .unwrap_or_default(),
        hardware_serial: read_trimmed("/sys/class/dmi/id/product_serial").unwrap_or_default(),
        computer_name: hostname.clone(),
        hostname,
        hardware_model: read_trimmed("/sys/class/dmi/id/product_name").unwrap_or_default(),
        osquery_instance_id: None,
        platform: os_id,
    }
}

#[cfg(target_os = "macos")]
fn platform_sources() -> HostFacts {
    // IOPlatformUUID and IOPlatformSerialNumber from the I/O Kit registry.
    let ioreg = std::process::Command::new("/usr/sbin/ioreg")
        .args(["-rd1", "-c", "IOPlatformExpertDevice"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let field = |name: &str| {
        ioreg
            .lines()
            .find(|line| line.contains(name))
            .and_then(|line| line.split('"').nth(3))
            .unwrap_or_default()
            .to_string()
    };
    let hostname = hostname();
    HostFacts {
        hardware_uuid: field("IOPlatformUUID"),
        hardware_serial: field("IOPlatformSerialNumber"),
        computer_name: hostname.clone(),
        hostname,
        hardware_model: field("model"),
        osquery_instance_id: None,
        platform: "darwin".to_string(),
    }
}

#[cfg(target_os = "windows")]
fn platform_sources() -> HostFacts {
    // The SMBIOS UUID and serial, as `wmic csproduct` and `wmic bios` report them.
    let wmic = |args: &[&str]| {
        std::process::Command::new("wmic")
            .args(args)
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .nth(1)
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    let hostname = hostname();
    HostFacts {
        hardware_uuid: wmic(&["csproduct", "get", "UUID"]),
        hardware_serial: wmic(&["bios", "get", "SerialNumber"]),
        computer_name: hostname.clone(),
        hostname,
        hardware_model: wmic(&["csproduct", "get", "Name"]),
        osquery_instance_id: None,
        platform: "windows".to_string(),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn platform_sources() -> HostFacts {
    let hostname = hostname();
    HostFacts {
        hardware_uuid: machine_id_uuid().unwrap_or_default(),
        computer_name: hostname.clone(),
        hostname,
        platform: std::env::consts::OS.to_string(),
        ..HostFacts::default()
    }
}

/// The host's facts: from osqueryd when it is installed and answers, else the platform's.
pub async fn gather(osqueryd: Option<&Path>, database: &Path) -> HostFacts {
    if let Some(osqueryd) = osqueryd {
        if let Some(facts) = from_osqueryd(osqueryd, database).await {
            return facts;
        }
        tracing::warn!("osqueryd did not report the host's facts; reading them directly");
    }
    platform_sources()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_sources_give_a_uuid_shaped_identifier() {
        let facts = platform_sources();
        assert!(!facts.hostname.is_empty());
        // DMI or machine-id: this test machine has at least one of them.
        assert_eq!(facts.hardware_uuid.len(), 36, "{facts:?}");
        assert_eq!(facts.hardware_uuid.matches('-').count(), 4);
    }
}
