//! The single-table layout: every key the domain reads or writes is built here, so the
//! access patterns in docs/ARCHITECTURE.md can be checked against one file.

use crate::ports::Key;

/// Zero-padded so that lexical order of sort keys is numeric order.
pub fn padded(id: u64) -> String {
    format!("{id:012}")
}

pub fn counter(name: &str) -> Key {
    Key::new("COUNTER", name)
}

pub fn host(id: u64) -> Key {
    Key::new(format!("HOST#{id}"), "HOST")
}

/// Written only by vitals ingestion, so it never races the enroll-time host item.
pub fn host_vitals(id: u64) -> Key {
    Key::new(format!("HOST#{id}"), "VITALS")
}

/// Written at most once every few minutes per host ("last seen").
pub fn host_seen(id: u64) -> Key {
    Key::new(format!("HOST#{id}"), "SEEN")
}

pub fn host_partition(id: u64) -> String {
    format!("HOST#{id}")
}

pub fn hosts_index(id: u64) -> Key {
    Key::new("HOSTS", padded(id))
}

/// Maps a host identifier (hardware UUID, or osquery's instance id) to the host.
pub fn host_identity(identifier: &str) -> Key {
    Key::new(format!("IDENT#{identifier}"), "IDENT")
}

/// Maps the SHA-256 of a node key to its host; the key itself is never stored.
pub fn node_key(hash_hex: &str) -> Key {
    Key::new(format!("NODEKEY#{hash_hex}"), "NODEKEY")
}

/// Maps the SHA-256 of an orbit node key to its host.
pub fn orbit_node_key(hash_hex: &str) -> Key {
    Key::new(format!("ORBITKEY#{hash_hex}"), "ORBITKEY")
}

/// Maps the SHA-256 of a Fleet Desktop device token to its host (expires with the token).
pub fn device_token(hash_hex: &str) -> Key {
    Key::new(format!("DEVTOKEN#{hash_hex}"), "DEVTOKEN")
}

/// The hash of the host's current device token, so a rotation can delete the old one.
pub fn host_device(id: u64) -> Key {
    Key::new(format!("HOST#{id}"), "DEVICE")
}

pub fn enroll_secret(hash_hex: &str) -> Key {
    Key::new(format!("ESECRET#{hash_hex}"), "ESECRET")
}

/// Index entry listing the secrets of one scope ("global" or a team id).
pub fn enroll_secrets_index(scope: &str, hash_hex: &str) -> Key {
    Key::new(format!("ESECRETS#{scope}"), hash_hex.to_string())
}

pub fn team(id: u64) -> Key {
    Key::new(format!("TEAM#{id}"), "TEAM")
}

pub fn teams_index(id: u64) -> Key {
    Key::new("TEAMS", padded(id))
}

pub fn team_name(lowercase_name: &str) -> Key {
    Key::new(format!("TEAMNAME#{lowercase_name}"), "TEAMNAME")
}

pub fn app_config() -> Key {
    Key::new("CONFIG", "GLOBAL")
}

pub fn scheduled_query(id: u64) -> Key {
    Key::new("SQUERY", padded(id))
}

/// The partition every instance re-reads every few seconds: the revocation epoch and the
/// active campaigns. One Query serves the whole fleet's empty distributed reads.
pub const LIVE_PARTITION: &str = "LIVE";

pub fn live_epoch() -> Key {
    Key::new(LIVE_PARTITION, "EPOCH")
}

pub fn live_campaign(id: u64) -> Key {
    Key::new(LIVE_PARTITION, format!("CAMPAIGN#{}", padded(id)))
}

pub fn campaign(id: u64) -> Key {
    Key::new(format!("CAMPAIGN#{id}"), "META")
}

pub fn campaign_partition(id: u64) -> String {
    format!("CAMPAIGN#{id}")
}

/// Present once the host has been handed the campaign's query.
pub fn campaign_asked(id: u64, host_id: u64) -> Key {
    Key::new(campaign_partition(id), format!("ASKED#{}", padded(host_id)))
}

pub const RESULT_PREFIX: &str = "RESULT#";

pub fn campaign_result(id: u64, host_id: u64) -> Key {
    Key::new(
        campaign_partition(id),
        format!("{RESULT_PREFIX}{}", padded(host_id)),
    )
}

/// Campaigns newest first (an index item per campaign whose sort key is the inverted id), for
/// the recent-campaigns list. A primary partition, not GSI1, so that a cursor is a plain key.
pub const CAMPAIGNS_INDEX: &str = "CAMPAIGNS";

pub fn campaigns_index(id: u64) -> Key {
    Key::new(CAMPAIGNS_INDEX, format!("{:016}", CAMPAIGN_ID_CEILING - id))
}

/// Ids stay below 2^53 (JSON numbers), so the inverted id is never negative.
pub const CAMPAIGN_ID_CEILING: u64 = (1 << 53) - 1;

pub const ERROR_PREFIX: &str = "ERROR#";

/// One per host whose answer was a failure, so the errors list reads only failures.
pub fn campaign_error(id: u64, host_id: u64) -> Key {
    Key::new(
        campaign_partition(id),
        format!("{ERROR_PREFIX}{}", padded(host_id)),
    )
}

pub const COUNT_PREFIX: &str = "COUNT#";

/// A shard of one of the campaign's counters (asked, answered, errors, rows). Sharded by host
/// so that 100,000 hosts answering within seconds do not all add to one item (DynamoDB allows
/// about 1,000 writes a second per item); one Query of `COUNT#` reads them all.
pub fn campaign_count(id: u64, counter: &str, shard: u64) -> Key {
    Key::new(
        campaign_partition(id),
        format!("{COUNT_PREFIX}{counter}#{shard:02}"),
    )
}

pub const EXPORT_PREFIX: &str = "EXPORT#";

/// The state of one export of the campaign's results (a format, for one team filter).
pub fn campaign_export(id: u64, export: &str) -> Key {
    Key::new(campaign_partition(id), format!("{EXPORT_PREFIX}{export}"))
}

/// A host whose vitals an admin asked to refetch: every instance sees it in the live
/// snapshot, so the host's next distributed read is handed the detail queries.
pub fn live_refetch(host_id: u64) -> Key {
    Key::new(
        LIVE_PARTITION,
        format!("{LIVE_REFETCH_PREFIX}{}", padded(host_id)),
    )
}

pub const LIVE_REFETCH_PREFIX: &str = "REFETCH#";

/// A rate-limit counter for one subject (an address, a package id) and time window.
pub fn rate_limit(name: &str, subject: &str, window_start: i64) -> Key {
    Key::new(format!("RATE#{name}#{subject}"), window_start.to_string())
}

pub fn carve(id: u64) -> Key {
    Key::new(carve_partition(id), "META")
}

pub fn carve_partition(id: u64) -> String {
    format!("CARVE#{id}")
}

pub fn carves_index(id: u64) -> Key {
    Key::new("CARVES", padded(id))
}

pub const CARVE_PART_PREFIX: &str = "PART#";

/// A multipart part of the carve's file, once uploaded (its ETag, for the completion).
pub fn carve_part(id: u64, part: u32) -> Key {
    Key::new(carve_partition(id), format!("{CARVE_PART_PREFIX}{part:05}"))
}

pub fn package(id: &str) -> Key {
    Key::new(format!("PACKAGE#{id}"), "META")
}

/// Packages by expiry time, for the sweep (only unswept packages are listed).
pub const PACKAGES_BY_EXPIRY: &str = "PACKAGES_BY_EXPIRY";

pub fn packages_by_expiry(expires_at: i64, id: &str) -> Key {
    Key::new(PACKAGES_BY_EXPIRY, format!("{expires_at:012}#{id}"))
}

/// The package built from the arguments with this keyed hash (while it is unexpired).
pub fn package_dedupe(hash: &str) -> Key {
    Key::new(format!("PACKAGE_ARGS#{hash}"), "META")
}

/// A user of the admin API; its partition also holds the index of the user's sessions.
pub fn user(id: u64) -> Key {
    Key::new(user_partition(id), "USER")
}

pub fn user_partition(id: u64) -> String {
    format!("USER#{id}")
}

pub fn users_index(id: u64) -> Key {
    Key::new("USERS", padded(id))
}

/// Email uniqueness (lower case) and login by email.
pub fn user_email(lowercase_email: &str) -> Key {
    Key::new(format!("USEREMAIL#{lowercase_email}"), "USEREMAIL")
}

/// Written with the first user in one transaction: setup happens once.
pub fn setup_done() -> Key {
    Key::new("SETUP", "DONE")
}

/// The SHA-256 of the one-time setup token `flotilla-local` prints while no user exists.
pub fn setup_token() -> Key {
    Key::new("SETUP", "TOKEN")
}

/// A session or API token, by the SHA-256 of the token; the token itself is never stored.
pub fn session(hash_hex: &str) -> Key {
    Key::new(format!("SESSION#{hash_hex}"), "SESSION")
}

/// The user's index entry for a session, so logout-everywhere finds them all.
pub fn user_session(user_id: u64, hash_hex: &str) -> Key {
    Key::new(user_partition(user_id), format!("SESSION#{hash_hex}"))
}

/// Single sign-on settings (the client secret is in the secret store, not here).
pub fn sso_settings() -> Key {
    Key::new("CONFIG", "SSO")
}

/// A sign-in in progress at the identity provider, by the SHA-256 of its `state`.
pub fn sso_pending(state_hash_hex: &str) -> Key {
    Key::new(format!("SSOSTATE#{state_hash_hex}"), "SSOSTATE")
}

/// Activities (the admin audit log) of one month bucket (`yyyy-mm`), spread over a few
/// shards so that a burst of admin actions does not land on one partition.
pub fn activities_partition(month: &str, shard: u64) -> String {
    format!("ACTIVITY#{month}#{shard}")
}

/// One user's activities of one month bucket (index entries: the sort key names the activity).
pub fn activities_by_actor_partition(actor_id: u64, month: &str) -> String {
    format!("ACTIVITY_BY_ACTOR#{actor_id}#{month}")
}

/// The activities of one type and month bucket (index entries). `kind` never holds `#`.
pub fn activities_by_type_partition(kind: &str, month: &str) -> String {
    format!("ACTIVITY_BY_TYPE#{kind}#{month}")
}

/// One user's activities of one type and month bucket (index entries).
pub fn activities_by_actor_type_partition(actor_id: u64, kind: &str, month: &str) -> String {
    format!("ACTIVITY_BY_ACTOR_TYPE#{actor_id}#{kind}#{month}")
}

/// The sort key of an activity and of its index entries: its id subtracted from the largest
/// id, zero-padded, so that the port's ascending Query order is newest first.
pub fn activity_sort_key(inverted_id: u64) -> String {
    format!("{inverted_id:016}")
}

/// An activity's key in any of its partitions: the log's shard (the record) or an index
/// (an entry naming it); also a Query's starting position within such a partition.
pub fn activity_entry(partition: String, inverted_id: u64) -> Key {
    Key::new(partition, activity_sort_key(inverted_id))
}

/// The host listing rows (`host_index`): one partition holding each host's row twice, by id
/// (`I#<id>`) and by lower-case host name (`H#<name>#<id>`), so a Query reads rows with their
/// data in either order; each row's gsi1 entry is the same sort key under its team's partition.
pub const HOST_ROWS: &str = "HOSTROW";

pub fn host_row(id: u64) -> Key {
    Key::new(HOST_ROWS, format!("I#{}", padded(id)))
}

pub fn host_row_by_name(name_key: &str, id: u64) -> Key {
    Key::new(HOST_ROWS, format!("H#{name_key}#{}", padded(id)))
}

/// The gsi1 partition of one team's rows (`T<id>`) or of the teamless ones (`N`).
pub fn host_rows_of(scope: &str) -> String {
    format!("{HOST_ROWS}#{scope}")
}

/// The gsi1 partition of `SEEN` items, ordered by seen time (the last-seen sort).
pub const HOSTS_BY_SEEN: &str = "HOSTSEEN";

pub fn hosts_by_seen(seen_time: i64, id: u64) -> Key {
    Key::new(
        HOSTS_BY_SEEN,
        format!("{:012}#{}", seen_time.max(0), padded(id)),
    )
}

/// Host totals per scope (`A`: all, `T<id>`, `N`): `<scope>#total`, `<scope>#platform#<f>`,
/// `<scope>#version#<v>`. Counters (UpdateItem ADD).
pub const HOST_TOTALS: &str = "HOSTSTAT#TOTALS";

pub fn host_total(scope: &str, what: &str) -> Key {
    Key::new(HOST_TOTALS, format!("{scope}#{what}"))
}

/// Time-bucketed host counters of one kind (`SEENMIN`, `SEENDAY`, `ENROLLHOUR`): sort key
/// `<bucket start:012>#<scope>`, so one Query from a start time reads a whole window.
pub fn host_bucket_partition(kind: &str) -> String {
    format!("HOSTSTAT#{kind}")
}

pub fn host_bucket(kind: &str, bucket_start: i64, scope: &str) -> Key {
    Key::new(
        host_bucket_partition(kind),
        format!("{:012}#{scope}", bucket_start.max(0)),
    )
}
