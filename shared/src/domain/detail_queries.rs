//! Host vitals: the detail queries sent through distributed read when a host's vitals are
//! older than `VITALS_MAX_AGE`, and their ingestion into the host's `VITALS` item.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const PREFIX: &str = "fleet_detail_query_";

/// Vitals older than this are refreshed on the host's next distributed read.
pub const VITALS_MAX_AGE_SECS: i64 = 3600;

pub struct DetailQuery {
    pub name: &'static str,
    pub sql: &'static str,
    /// Sent to Windows hosts too (the `_unix` ones read tables Windows does not have).
    pub windows: bool,
    /// osquery's discovery query: the detail query runs only where this returns a row (a
    /// table only fleetd's extension has is not an error on plain osquery hosts).
    pub discovery: Option<&'static str>,
}

pub const DETAIL_QUERIES: &[DetailQuery] = &[
    DetailQuery {
        name: "system_info",
        sql: "SELECT * FROM system_info LIMIT 1;",
        windows: true,
        discovery: None,
    },
    DetailQuery {
        name: "os_version",
        sql: "SELECT * FROM os_version LIMIT 1;",
        windows: true,
        discovery: None,
    },
    DetailQuery {
        name: "osquery_info",
        sql: "SELECT * FROM osquery_info LIMIT 1;",
        windows: true,
        discovery: None,
    },
    DetailQuery {
        name: "uptime",
        sql: "SELECT * FROM uptime LIMIT 1;",
        windows: true,
        discovery: None,
    },
    DetailQuery {
        name: "disk_space_unix",
        sql: "SELECT (blocks_available * 100 / blocks) AS percent_disk_space_available, \
              round((blocks_available * blocks_size * 10e-10), 2) AS gigs_disk_space_available, \
              round((blocks * blocks_size * 10e-10), 2) AS gigs_total_disk_space \
              FROM mounts WHERE path = '/' LIMIT 1;",
        windows: false,
        discovery: None,
    },
    DetailQuery {
        name: "network_interface_unix",
        sql: "SELECT ia.address, id.mac FROM interface_addresses ia \
              JOIN interface_details id ON id.interface = ia.interface \
              JOIN routes r ON r.interface = ia.interface \
              WHERE (r.destination = '0.0.0.0' OR r.destination = '::') AND r.netmask = 0 \
              AND r.type = 'gateway' ORDER BY r.metric ASC LIMIT 1;",
        windows: false,
        discovery: None,
    },
    DetailQuery {
        name: "osquery_flags",
        sql: "SELECT name, value FROM osquery_flags WHERE name IN \
              ('distributed_interval', 'config_tls_refresh', 'config_refresh', 'logger_tls_period');",
        windows: true,
        discovery: None,
    },
    // fleetd's osquery extension (orbit's): its version, as Fleet reads it.
    DetailQuery {
        name: "orbit_info",
        sql: "SELECT version FROM orbit_info;",
        windows: true,
        discovery: Some(
            "SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = 'orbit_info';",
        ),
    },
];

fn for_platform(platform_family: &str) -> impl Iterator<Item = &'static DetailQuery> + '_ {
    DETAIL_QUERIES
        .iter()
        .filter(move |q| q.windows || platform_family != "windows")
}

/// The detail queries for a host of this platform family, by their distributed names.
pub fn queries_for(platform_family: &str) -> impl Iterator<Item = (String, &'static str)> + '_ {
    for_platform(platform_family).map(|q| (format!("{PREFIX}{}", q.name), q.sql))
}

/// Their discovery queries, by the same names (only those that have one).
pub fn discovery_for(platform_family: &str) -> impl Iterator<Item = (String, &'static str)> + '_ {
    for_platform(platform_family)
        .filter_map(|q| Some((format!("{PREFIX}{}", q.name), q.discovery?)))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vitals {
    pub updated_at: DateTime<Utc>,
    pub hostname: Option<String>,
    pub computer_name: Option<String>,
    pub platform: Option<String>,
    pub os_version: Option<String>,
    pub osquery_version: Option<String>,
    pub hardware_serial: Option<String>,
    pub hardware_model: Option<String>,
    pub cpu_brand: Option<String>,
    pub memory: Option<u64>,
    pub uptime_seconds: Option<u64>,
    pub primary_ip: Option<String>,
    pub primary_mac: Option<String>,
    pub percent_disk_space_available: Option<f64>,
    pub gigs_disk_space_available: Option<f64>,
    pub gigs_total_disk_space: Option<f64>,
    pub distributed_interval: Option<u64>,
    pub config_tls_refresh: Option<u64>,
    pub logger_tls_period: Option<u64>,
    /// fleetd's orbit, from its extension's `orbit_info` table (None: plain osquery, or not
    /// reported yet).
    #[serde(default)]
    pub orbit_version: Option<String>,
}

fn text(row: &Map<String, Value>, column: &str) -> Option<String> {
    match row.get(column)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number<T: std::str::FromStr>(row: &Map<String, Value>, column: &str) -> Option<T> {
    text(row, column)?.trim().parse().ok()
}

impl Vitals {
    /// Folds one detail query's rows in. Returns false for a name this server did not ask.
    pub fn ingest(&mut self, name: &str, rows: &[Map<String, Value>]) -> bool {
        let first = rows.first();
        match name {
            "system_info" => {
                if let Some(row) = first {
                    self.hostname = text(row, "hostname").or(self.hostname.take());
                    self.computer_name = text(row, "computer_name").or(self.computer_name.take());
                    self.hardware_serial =
                        text(row, "hardware_serial").or(self.hardware_serial.take());
                    self.hardware_model =
                        text(row, "hardware_model").or(self.hardware_model.take());
                    self.cpu_brand = text(row, "cpu_brand").or(self.cpu_brand.take());
                    self.memory = number(row, "physical_memory").or(self.memory);
                }
            }
            "os_version" => {
                if let Some(row) = first {
                    let name = text(row, "name").unwrap_or_default();
                    let version = text(row, "version").unwrap_or_default();
                    let os = format!("{name} {version}").trim().to_string();
                    if !os.is_empty() {
                        self.os_version = Some(os);
                    }
                    self.platform = text(row, "platform").or(self.platform.take());
                }
            }
            "osquery_info" => {
                if let Some(row) = first {
                    self.osquery_version = text(row, "version").or(self.osquery_version.take());
                }
            }
            "orbit_info" => {
                if let Some(row) = first {
                    self.orbit_version = text(row, "version").or(self.orbit_version.take());
                }
            }
            "uptime" => {
                if let Some(row) = first {
                    self.uptime_seconds = number(row, "total_seconds").or(self.uptime_seconds);
                }
            }
            "disk_space_unix" => {
                if let Some(row) = first {
                    self.percent_disk_space_available = number(row, "percent_disk_space_available");
                    self.gigs_disk_space_available = number(row, "gigs_disk_space_available");
                    self.gigs_total_disk_space = number(row, "gigs_total_disk_space");
                }
            }
            "network_interface_unix" => {
                if let Some(row) = first {
                    self.primary_ip = text(row, "address");
                    self.primary_mac = text(row, "mac");
                }
            }
            "osquery_flags" => {
                for row in rows {
                    let value = number::<u64>(row, "value");
                    match text(row, "name").as_deref() {
                        Some("distributed_interval") => self.distributed_interval = value,
                        // osquery uses whichever of the two is non-zero.
                        Some("config_tls_refresh") | Some("config_refresh")
                            if value.unwrap_or(0) > 0 || self.config_tls_refresh.is_none() =>
                        {
                            self.config_tls_refresh = value;
                        }
                        Some("logger_tls_period") => self.logger_tls_period = value,
                        _ => {}
                    }
                }
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(value: Value) -> Vec<Map<String, Value>> {
        serde_json::from_value(value).expect("rows")
    }

    #[test]
    fn ingests_vitals_and_intervals() {
        let mut v = Vitals::default();
        assert!(v.ingest(
            "system_info",
            &rows(
                json!([{"hostname": "box", "physical_memory": "17179869184", "cpu_brand": "Xeon"}])
            )
        ));
        assert!(v.ingest(
            "os_version",
            &rows(json!([{"name": "Ubuntu", "version": "22.04.3 LTS", "platform": "ubuntu"}]))
        ));
        assert!(v.ingest("uptime", &rows(json!([{"total_seconds": "3600"}]))));
        assert!(v.ingest(
            "osquery_flags",
            &rows(json!([
                {"name": "distributed_interval", "value": "10"},
                {"name": "config_tls_refresh", "value": "0"},
                {"name": "config_refresh", "value": "60"},
                {"name": "logger_tls_period", "value": "10"}
            ]))
        ));
        assert!(!v.ingest("bogus", &[]));
        assert_eq!(v.hostname.as_deref(), Some("box"));
        assert_eq!(v.memory, Some(17_179_869_184));
        assert_eq!(v.os_version.as_deref(), Some("Ubuntu 22.04.3 LTS"));
        assert_eq!(v.uptime_seconds, Some(3600));
        assert_eq!(v.distributed_interval, Some(10));
        assert_eq!(v.config_tls_refresh, Some(60));
        assert_eq!(v.logger_tls_period, Some(10));
    }

    #[test]
    fn windows_hosts_do_not_get_unix_queries() {
        let windows: Vec<_> = queries_for("windows").map(|(n, _)| n).collect();
        assert!(!windows.iter().any(|n| n.ends_with("_unix")));
        let linux: Vec<_> = queries_for("linux").map(|(n, _)| n).collect();
        assert!(linux.contains(&"fleet_detail_query_disk_space_unix".to_string()));
        assert_eq!(linux.len(), DETAIL_QUERIES.len());
    }

    #[test]
    fn orbit_info_runs_only_where_discovery_finds_its_table() {
        for family in ["darwin", "linux", "windows"] {
            let discovery: Vec<_> = discovery_for(family).collect();
            assert_eq!(discovery.len(), 1);
            assert_eq!(discovery[0].0, "fleet_detail_query_orbit_info");
            assert!(discovery[0].1.contains("name = 'orbit_info'"));
            assert!(queries_for(family).any(|(n, _)| n == discovery[0].0));
        }
        let mut v = Vitals::default();
        assert!(v.ingest("orbit_info", &rows(json!([{"version": "1.38.0"}]))));
        assert_eq!(v.orbit_version.as_deref(), Some("1.38.0"));
        assert!(v.ingest("orbit_info", &rows(json!([]))));
        assert_eq!(
            v.orbit_version.as_deref(),
            Some("1.38.0"),
            "kept when not reported"
        );
    }
}
