//! Hosts: enrollment (one host per hardware UUID, or per osquery instance for cloned VMs),
//! node keys, and the host views of the admin API.
//!
//! A host is three items in its own partition, each with one writer, so writers never race:
//! `HOST` (enroll), `VITALS` (detail-query ingestion) and `SEEN` (last seen, throttled).

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::credentials::{random_secret, sha256_hex};
use super::detail_queries::Vitals;
use super::{host_index, host_status, layout};
use crate::error::ApiError;
use crate::ports::{Cond, Item, Query, StateStore, StoreError, WriteOp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub id: u64,
    /// The identity key: `uuid:<HARDWARE UUID>` or `instance:<osquery instance id>`.
    pub identifier: String,
    pub uuid: String,
    #[serde(default)]
    pub hardware_serial: String,
    #[serde(default)]
    pub hardware_model: String,
    pub hostname: String,
    #[serde(default)]
    pub computer_name: String,
    pub platform: String,
    #[serde(default)]
    pub platform_like: String,
    #[serde(default)]
    pub os_version: String,
    #[serde(default)]
    pub osquery_version: String,
    pub team_id: Option<u64>,
    /// SHA-256 of the current osquery node key.
    pub node_key_hash: Option<String>,
    /// SHA-256 of the current orbit node key.
    #[serde(default)]
    pub orbit_node_key_hash: Option<String>,
    pub enrolled_at: DateTime<Utc>,
    pub last_enrolled_at: DateTime<Utc>,
}

impl Host {
    /// Platform names to look up agent-option overrides by, most specific first.
    pub fn platform_keys(platform: &str, platform_like: &str) -> Vec<String> {
        let mut keys = vec![platform.to_string()];
        if !platform_like.is_empty() {
            keys.extend(platform_like.split_whitespace().map(str::to_string));
        }
        keys.push(platform_family(platform).to_string());
        keys.dedup();
        keys
    }
}

/// `darwin`, `windows` or `linux` (every other platform osquery reports is a Linux or BSD).
pub fn platform_family(platform: &str) -> &'static str {
    match platform {
        "darwin" => "darwin",
        "windows" => "windows",
        _ => "linux",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub seen_time: i64,
    /// The team whose counters hold this host's last-seen contribution (`host_index`).
    #[serde(default)]
    pub team_id: Option<u64>,
}

/// What an agent tells about itself when it enrolls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnrollFacts {
    pub identifier: String,
    pub uuid: String,
    pub hardware_serial: String,
    pub hardware_model: String,
    pub hostname: String,
    pub computer_name: String,
    pub platform: String,
    pub platform_like: String,
    pub os_version: String,
    pub osquery_version: String,
}

fn detail<'a>(details: &'a Value, table: &str, column: &str) -> &'a str {
    details
        .get(table)
        .and_then(|row| row.get(column))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn uuid_identity(uuid: &str) -> String {
    format!("uuid:{}", uuid.trim().to_uppercase())
}

pub fn instance_identity(instance_id: &str) -> String {
    format!("instance:{}", instance_id.trim().to_lowercase())
}

impl EnrollFacts {
    /// From osquery's enroll request. A host running `--host_identifier=instance` sends its
    /// osquery instance id as `host_identifier`: such hosts (cloned VMs share a hardware
    /// UUID) are told apart by that id. Otherwise the hardware UUID is the identity.
    pub fn from_osquery(host_identifier: &str, details: &Value) -> Result<Self, ApiError> {
        let uuid = detail(details, "system_info", "uuid").trim().to_string();
        let instance_id = detail(details, "osquery_info", "instance_id").trim();
        let identifier = if !instance_id.is_empty()
            && host_identifier.trim().eq_ignore_ascii_case(instance_id)
            && !instance_id.eq_ignore_ascii_case(&uuid)
        {
            instance_identity(instance_id)
        } else if !uuid.is_empty() {
            uuid_identity(&uuid)
        } else if !host_identifier.trim().is_empty() {
            // No hardware UUID reported: fall back to what the agent calls itself.
            format!("id:{}", host_identifier.trim())
        } else {
            return Err(ApiError::bad_request(
                "enroll needs host_identifier or host_details.system_info.uuid",
            ));
        };
        let os_name = detail(details, "os_version", "name");
        let os_version = detail(details, "os_version", "version");
        let os = match (os_name.is_empty(), os_version.is_empty()) {
            (false, false) => format!("{os_name} {os_version}"),
            (false, true) => os_name.to_string(),
            _ => String::new(),
        };
        let mut hostname = detail(details, "system_info", "hostname").to_string();
        if hostname.is_empty() {
            hostname = host_identifier.to_string();
        }
        Ok(EnrollFacts {
            identifier,
            uuid: uuid.to_uppercase(),
            hardware_serial: detail(details, "system_info", "hardware_serial").to_string(),
            hardware_model: detail(details, "system_info", "hardware_model").to_string(),
            hostname,
            computer_name: detail(details, "system_info", "computer_name").to_string(),
            platform: detail(details, "os_version", "platform").to_string(),
            platform_like: detail(details, "os_version", "platform_like").to_string(),
            os_version: os,
            osquery_version: detail(details, "osquery_info", "version").to_string(),
        })
    }
}

/// Which agent enrolls: osquery and orbit hold separate keys for the same host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    Osquery,
    Orbit,
}

impl AgentKind {
    pub fn key_item(self, hash_hex: &str) -> crate::ports::Key {
        match self {
            AgentKind::Osquery => layout::node_key(hash_hex),
            AgentKind::Orbit => layout::orbit_node_key(hash_hex),
        }
    }

    fn hash_slot(self, host: &mut Host) -> &mut Option<String> {
        match self {
            AgentKind::Osquery => &mut host.node_key_hash,
            AgentKind::Orbit => &mut host.orbit_node_key_hash,
        }
    }
}

/// The outcome of an enroll: the new key (returned once, stored only hashed).
#[derive(Debug)]
pub struct Enrolled {
    pub host_id: u64,
    pub node_key: String,
    /// The hash of the key this enroll replaced, now revoked.
    pub replaced_key_hash: Option<String>,
}

const ENROLL_ATTEMPTS: usize = 5;

/// Enrolls the host with these facts into `team_id`: creates it, or gives the existing host
/// a new node key (the old one stops working) and moves it to the secret's team.
pub async fn enroll(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    kind: AgentKind,
    facts: &EnrollFacts,
    team_id: Option<u64>,
) -> Result<Enrolled, ApiError> {
    let node_key = random_secret();
    let key_hash = sha256_hex(&node_key);
    for _ in 0..ENROLL_ATTEMPTS {
        let identity = store.get(&layout::host_identity(&facts.identifier)).await?;
        let result = match identity {
            Some(item) => {
                let host_id = item
                    .data
                    .get("host_id")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| ApiError::Internal("identity item without host_id".into()))?;
                rekey(store, now, kind, facts, team_id, host_id, &key_hash).await
            }
            None => create(store, now, kind, facts, team_id, &key_hash).await,
        };
        match result {
            Ok((host_id, replaced_key_hash)) => {
                return Ok(Enrolled {
                    host_id,
                    node_key,
                    replaced_key_hash,
                })
            }
            // Another enroll of the same machine won a race: look again.
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Unavailable("host enrollment kept racing".into()))
}

fn apply_facts(host: &mut Host, facts: &EnrollFacts) {
    host.uuid = facts.uuid.clone();
    for (field, value) in [
        (&mut host.hardware_serial, &facts.hardware_serial),
        (&mut host.hardware_model, &facts.hardware_model),
        (&mut host.hostname, &facts.hostname),
        (&mut host.computer_name, &facts.computer_name),
        (&mut host.platform, &facts.platform),
        (&mut host.platform_like, &facts.platform_like),
        (&mut host.os_version, &facts.os_version),
        (&mut host.osquery_version, &facts.osquery_version),
    ] {
        if !value.is_empty() {
            field.clone_from(value);
        }
    }
}

async fn create(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    kind: AgentKind,
    facts: &EnrollFacts,
    team_id: Option<u64>,
    key_hash: &str,
) -> Result<(u64, Option<String>), StoreError> {
    let id = u64::try_from(store.increment(&layout::counter("host"), 1, None).await?)
        .map_err(|_| StoreError::Corrupt("host counter went negative".into()))?;
    let mut host = Host {
        id,
        identifier: facts.identifier.clone(),
        uuid: String::new(),
        hardware_serial: String::new(),
        hardware_model: String::new(),
        hostname: String::new(),
        computer_name: String::new(),
        platform: String::new(),
        platform_like: String::new(),
        os_version: String::new(),
        osquery_version: String::new(),
        team_id,
        node_key_hash: None,
        orbit_node_key_hash: None,
        enrolled_at: now,
        last_enrolled_at: now,
    };
    *kind.hash_slot(&mut host) = Some(key_hash.to_string());
    apply_facts(&mut host, facts);
    let (index_ops, row, seen) = host_index::create_ops(&host, now.timestamp())?;
    let mut ops = vec![
        WriteOp::Put {
            item: Item::new(
                layout::host_identity(&facts.identifier),
                json!({ "host_id": id }),
            ),
            cond: Cond::NotExists,
        },
        WriteOp::Put {
            item: Item::encode(layout::host(id), &host)?.with_gsi1(layout::hosts_index(id)),
            cond: Cond::NotExists,
        },
        WriteOp::Put {
            item: Item::new(kind.key_item(key_hash), json!({ "host_id": id })),
            cond: Cond::NotExists,
        },
    ];
    ops.extend(index_ops);
    store.write(ops).await?;
    // Counted only now that the host really was created: a retried enroll re-keys instead.
    host_index::count_created(store, now.timestamp(), &row, &seen).await?;
    Ok((id, None))
}

async fn rekey(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    kind: AgentKind,
    facts: &EnrollFacts,
    team_id: Option<u64>,
    host_id: u64,
    key_hash: &str,
) -> Result<(u64, Option<String>), StoreError> {
    let item = store
        .get(&layout::host(host_id))
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("identity points at missing host {host_id}")))?;
    let mut host: Host = item.decode()?;
    let replaced = kind.hash_slot(&mut host).replace(key_hash.to_string());
    host.team_id = team_id;
    host.last_enrolled_at = now;
    apply_facts(&mut host, facts);
    let mut ops = vec![
        WriteOp::Put {
            item: Item::encode(layout::host(host_id), &host)?
                .with_gsi1(layout::hosts_index(host_id)),
            cond: Cond::Version(item.version),
        },
        WriteOp::Put {
            item: Item::new(kind.key_item(key_hash), json!({ "host_id": host_id })),
            cond: Cond::NotExists,
        },
    ];
    if let Some(old) = &replaced {
        ops.push(WriteOp::Delete {
            key: kind.key_item(old),
            cond: Cond::None,
        });
    }
    // The row follows the new facts and team; the address comes only from vitals, so it stays.
    // A host enrolled before the index has no row yet: this writes it (and counts it).
    let old_row = host_index::get_row(store, host_id).await?;
    let new_row = host_index::HostRow {
        primary_ip: old_row
            .as_ref()
            .map(|(row, _)| row.primary_ip.clone())
            .unwrap_or_default(),
        ..host_index::HostRow::from_host(&host)
    };
    ops.extend(host_index::row_ops(
        old_row.as_ref().map(|(row, version)| (row, *version)),
        Some(&new_row),
    )?);
    store.write(ops).await?;
    host_index::row_changed(
        store,
        now.timestamp(),
        old_row.as_ref().map(|(row, _)| row),
        &new_row,
    )
    .await?;
    Ok((host_id, replaced))
}

/// The host a node key of this kind belongs to, if the key is current.
pub async fn host_id_for_key(
    store: &dyn StateStore,
    kind: AgentKind,
    key_hash: &str,
) -> Result<Option<u64>, StoreError> {
    Ok(store
        .get(&kind.key_item(key_hash))
        .await?
        .and_then(|item| item.data.get("host_id").and_then(Value::as_u64)))
}

/// A host with everything known about it, from one partition query.
#[derive(Debug, Clone)]
pub struct HostState {
    pub host: Host,
    pub vitals: Option<Vitals>,
    pub seen: Option<Seen>,
}

pub async fn load(store: &dyn StateStore, id: u64) -> Result<Option<HostState>, StoreError> {
    let page = store
        .query(&Query::partition(layout::host_partition(id)))
        .await?;
    state_from_items(page.items)
}

fn state_from_items(items: Vec<Item>) -> Result<Option<HostState>, StoreError> {
    let (mut host, mut vitals, mut seen) = (None, None, None);
    for item in items {
        match item.key.sk.as_str() {
            "HOST" => host = Some(item.decode::<Host>()?),
            "VITALS" => vitals = Some(item.decode::<Vitals>()?),
            "SEEN" => seen = Some(item.decode::<Seen>()?),
            _ => {}
        }
    }
    Ok(host.map(|host| HostState { host, vitals, seen }))
}

/// The host's team (one read of the host item); None when the host does not exist.
pub async fn team_of(store: &dyn StateStore, id: u64) -> Result<Option<Option<u64>>, StoreError> {
    match store.get(&layout::host(id)).await? {
        Some(item) => Ok(Some(item.decode::<Host>()?.team_id)),
        None => Ok(None),
    }
}

/// Whether a listing filtered to `visible` shows what belongs to this host (no read for a
/// global role; a host that no longer exists is shown to no team role).
pub async fn visible_to(
    store: &dyn StateStore,
    visible: &crate::domain::identity::roles::TeamFilter,
    host_id: u64,
) -> Result<bool, StoreError> {
    if *visible == crate::domain::identity::roles::TeamFilter::All {
        return Ok(true);
    }
    Ok(team_of(store, host_id)
        .await?
        .is_some_and(|team| visible.includes(team)))
}

/// The host, for a principal with `permission` on its team: 404 for a host that does not
/// exist, 403 for one outside the principal's teams.
pub async fn require_access(
    store: &dyn StateStore,
    principal: &crate::domain::identity::principal::Principal,
    permission: crate::domain::identity::roles::Permission,
    host_id: u64,
) -> Result<HostState, ApiError> {
    let host = load(store, host_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("host {host_id} not found")))?;
    principal.require(
        permission,
        crate::domain::identity::roles::Scope::of(host.host.team_id),
    )?;
    Ok(host)
}

/// Hosts in id order, `per_page` from `page` (0-based), as Fleet pages them.
pub async fn list(
    store: &dyn StateStore,
    page: usize,
    per_page: usize,
) -> Result<Vec<HostState>, StoreError> {
    let skip = page.saturating_mul(per_page);
    let mut ids = Vec::new();
    let mut next = None;
    let mut seen = 0usize;
    loop {
        let result = store
            .query(
                &Query::gsi1("HOSTS")
                    .limit(per_page.clamp(1, 500))
                    .after(next),
            )
            .await?;
        for item in result.items {
            if let Some(gsi) = &item.gsi1 {
                if seen >= skip && ids.len() < per_page {
                    if let Ok(id) = gsi.sk.parse::<u64>() {
                        ids.push(id);
                    }
                }
                seen += 1;
            }
        }
        match result.next {
            Some(key) if ids.len() < per_page => next = Some(key),
            _ => break,
        }
    }
    load_states(store, &ids).await
}

/// Three items per host, batched 33 hosts (99 keys) at a time.
async fn load_states(store: &dyn StateStore, ids: &[u64]) -> Result<Vec<HostState>, StoreError> {
    let mut states = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(33) {
        let keys: Vec<_> = chunk
            .iter()
            .flat_map(|id| {
                [
                    layout::host(*id),
                    layout::host_vitals(*id),
                    layout::host_seen(*id),
                ]
            })
            .collect();
        let items = store.batch_get(&keys).await?;
        for id in chunk {
            let partition = layout::host_partition(*id);
            let mine: Vec<Item> = items
                .iter()
                .filter(|item| item.key.pk == partition)
                .cloned()
                .collect();
            if let Some(state) = state_from_items(mine)? {
                states.push(state);
            }
        }
    }
    Ok(states)
}

/// Like `list`, over only the hosts `keep` accepts (a team role's hosts). It reads hosts in id
/// order until the page is full: fine for the fleets one team sees today; a per-team index
/// replaces it when host listings grow filters.
pub async fn list_matching(
    store: &dyn StateStore,
    page: usize,
    per_page: usize,
    keep: impl Fn(&Host) -> bool,
) -> Result<Vec<HostState>, StoreError> {
    let skip = page.saturating_mul(per_page);
    let mut matched = 0usize;
    let mut out = Vec::new();
    let mut next = None;
    loop {
        let result = store
            .query(&Query::gsi1("HOSTS").limit(99).after(next))
            .await?;
        let ids: Vec<u64> = result
            .items
            .iter()
            .filter_map(|item| item.gsi1.as_ref().and_then(|g| g.sk.parse().ok()))
            .collect();
        for state in load_states(store, &ids).await? {
            if keep(&state.host) {
                if matched >= skip && out.len() < per_page {
                    out.push(state);
                }
                matched += 1;
            }
        }
        match result.next {
            Some(key) if out.len() < per_page => next = Some(key),
            _ => return Ok(out),
        }
    }
}

fn rfc3339(unix: i64) -> Value {
    Utc.timestamp_opt(unix, 0)
        .single()
        .map_or(Value::Null, |t| json!(t.to_rfc3339()))
}

impl HostState {
    /// Fleet's host shape with the default status rules (see `to_json_with`).
    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        self.to_json_with(now, &host_status::StatusRules::default())
    }

    /// Fleet's host shape, as the admin API answers it; `status` by `host_status`.
    pub fn to_json_with(&self, now: DateTime<Utc>, rules: &host_status::StatusRules) -> Value {
        let host = &self.host;
        let vitals = self.vitals.clone().unwrap_or_default();
        let pick = |vital: &Option<String>, fallback: &str| {
            vital
                .as_deref()
                .filter(|v| !v.is_empty())
                .unwrap_or(fallback)
                .to_string()
        };
        let seen_time = self
            .seen
            .map(|s| s.seen_time)
            .unwrap_or(host.last_enrolled_at.timestamp());
        json!({
            "id": host.id,
            "uuid": host.uuid,
            "hostname": pick(&vitals.hostname, &host.hostname),
            "computer_name": pick(&vitals.computer_name, &host.computer_name),
            "display_name": pick(&vitals.computer_name, &pick(&vitals.hostname, &host.hostname)),
            "platform": pick(&vitals.platform, &host.platform),
            "os_version": pick(&vitals.os_version, &host.os_version),
            "osquery_version": pick(&vitals.osquery_version, &host.osquery_version),
            "orbit_version": vitals.orbit_version,
            "hardware_serial": pick(&vitals.hardware_serial, &host.hardware_serial),
            "hardware_model": pick(&vitals.hardware_model, &host.hardware_model),
            "cpu_brand": vitals.cpu_brand.clone().unwrap_or_default(),
            "memory": vitals.memory.unwrap_or(0),
            "uptime": vitals.uptime_seconds.map(|s| s.saturating_mul(1_000_000_000)).unwrap_or(0),
            "primary_ip": vitals.primary_ip.clone().unwrap_or_default(),
            "primary_mac": vitals.primary_mac.clone().unwrap_or_default(),
            "percent_disk_space_available": vitals.percent_disk_space_available.unwrap_or(0.0),
            "gigs_disk_space_available": vitals.gigs_disk_space_available.unwrap_or(0.0),
            "gigs_total_disk_space": vitals.gigs_total_disk_space.unwrap_or(0.0),
            "distributed_interval": vitals.distributed_interval.unwrap_or(0),
            "config_tls_refresh": vitals.config_tls_refresh.unwrap_or(0),
            "logger_tls_period": vitals.logger_tls_period.unwrap_or(0),
            "team_id": host.team_id,
            "seen_time": rfc3339(seen_time),
            "status": host_status::label(rules, now.timestamp(), seen_time),
            "created_at": host.enrolled_at.to_rfc3339(),
            "last_enrolled_at": host.last_enrolled_at.to_rfc3339(),
            "detail_updated_at": self.vitals.as_ref().map(|v| v.updated_at.to_rfc3339()),
        })
    }
}
