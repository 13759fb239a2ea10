//! The activity log (domain::activities) on both adapter families, straight on the admin app's
//! state store, the test clock moved instead of slept. `both!` makes a test of each scenario.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use flotilla::adapters::counting::StoreCalls;
use flotilla::api::Group;
use flotilla::clock::Clock;
use flotilla::domain::activities::{
    self, Activity, Actor, Filter, ListError, NewActivity, MAX_LIMIT,
};
use flotilla::ports::{StateStore, StoreError};
use flotilla_tests::harness::{Family, Flotilla};

flotilla_tests::both!(
    lists_newest_first_and_pages_without_gaps,
    filters_by_actor_type_and_time,
    retention_expires_activities,
    expired_items_between_live_ones_are_skipped,
    empty_log_costs_a_bounded_number_of_queries,
    bad_cursors_are_refused,
    ids_are_unique_within_one_millisecond,
);

const RETENTION_DAYS: u32 = 90;

fn user(id: u64) -> Actor {
    Actor::User {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
    }
}

fn new(actor: Actor, kind: &str, n: usize) -> NewActivity {
    NewActivity {
        actor,
        kind: kind.to_string(),
        details: json!({ "n": n }),
        source_ip: Some("192.0.2.7".to_string()),
    }
}

fn store(f: &Flotilla) -> &dyn StateStore {
    f.apps[&Group::Admin].state()
}

fn calls(f: &Flotilla) -> Arc<StoreCalls> {
    f.calls[&Group::Admin].clone()
}

/// (get, batch_get, query, write) so far.
fn counts(calls: &StoreCalls) -> [u64; 4] {
    [
        calls.get.load(Ordering::Relaxed),
        calls.batch_get.load(Ordering::Relaxed),
        calls.query.load(Ordering::Relaxed),
        calls.write.load(Ordering::Relaxed),
    ]
}

fn delta(after: [u64; 4], before: [u64; 4]) -> [u64; 4] {
    [0, 1, 2, 3].map(|i| after[i] - before[i])
}

async fn record(f: &Flotilla, new: NewActivity) -> Activity {
    activities::record(store(f), f.clock.now(), RETENTION_DAYS, new)
        .await
        .expect("record")
}

/// Every page of a listing, with the size of each.
async fn list_all(
    f: &Flotilla,
    retention_days: u32,
    filter: &Filter,
    limit: usize,
) -> (Vec<Activity>, Vec<usize>) {
    let mut all = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = activities::list(
            store(f),
            f.clock.now(),
            retention_days,
            filter,
            cursor.as_deref(),
            limit,
        )
        .await
        .expect("list");
        sizes.push(page.len());
        all.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return (all, sizes),
        }
        assert!(sizes.len() < 1000, "listing does not end");
    }
}

fn ids(activities: &[Activity]) -> Vec<u64> {
    activities.iter().map(|a| a.id).collect()
}

fn assert_newest_first(activities: &[Activity]) {
    for pair in activities.windows(2) {
        assert!(pair[0].id > pair[1].id, "ids not decreasing: {pair:?}");
        assert!(
            pair[0].created_at >= pair[1].created_at,
            "not newest first: {pair:?}"
        );
    }
}

/// 250 activities 3 hours apart (31 days: across a month), listed in pages of 100.
async fn lists_newest_first_and_pages_without_gaps(family: Family) {
    let f = Flotilla::start(family).await;
    let calls = calls(&f);
    let before = counts(&calls);
    let mut recorded = Vec::new();
    for n in 0..250 {
        let expected_at = f
            .clock
            .now()
            .duration_trunc(Duration::milliseconds(1))
            .expect("truncate");
        let activity = record(&f, new(user(1 + n as u64 % 3), "edited_agent_options", n)).await;
        assert_eq!(activity.created_at, expected_at);
        assert_eq!(activity.details, json!({ "n": n }));
        recorded.push(activity);
        f.clock.advance(Duration::hours(3));
    }
    // One atomic write per activity, nothing else (no counter, no read).
    assert_eq!(delta(counts(&calls), before), [0, 0, 0, 250]);
    let unique: HashSet<u64> = recorded.iter().map(|a| a.id).collect();
    assert_eq!(unique.len(), 250, "duplicate ids");
    assert!(recorded.iter().all(|a| a.id < (1 << 53)));

    let mut cursor: Option<String> = None;
    let mut listed: Vec<Activity> = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let before = counts(&calls);
        let (page, next) = activities::list(
            store(&f),
            f.clock.now(),
            RETENTION_DAYS,
            &Filter::default(),
            cursor.as_deref(),
            100,
        )
        .await
        .expect("list");
        // A page reads the 4 shards of at most 2 months (101 activities span 12.5 days); the
        // last one walks on to the retention horizon (90 days: at most 5 months).
        let used = delta(counts(&calls), before);
        assert_eq!(used[0..2], [0, 0], "the log's records are read by Query");
        let most = if next.is_some() { 8 } else { 4 * 6 };
        assert!(used[2] <= most, "{} queries for one page", used[2]);
        sizes.push(page.len());
        listed.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(sizes.len() < 10, "listing does not end: {sizes:?}");
    }
    assert_eq!(sizes, [100, 100, 50], "pages, and no next after the last");
    assert_newest_first(&listed);
    let mut expected = recorded.clone();
    expected.reverse();
    assert_eq!(listed, expected, "every activity once, newest first");

    // Fleet's shape of a listed one, and the record by id.
    let newest = &listed[0];
    let shown = newest.to_json();
    assert_eq!(shown["id"], newest.id);
    assert_eq!(shown["type"], "edited_agent_options");
    assert_eq!(shown["actor_email"], "user1@example.com"); // n = 249: user 1 + 249 % 3
    assert_eq!(
        activities::get(store(&f), newest.id).await.expect("get"),
        Some(newest.clone())
    );
    assert_eq!(
        activities::get(store(&f), newest.id + 1)
            .await
            .expect("get"),
        None
    );

    // A page size is clamped to 1..=500.
    let (one, next) = activities::list(
        store(&f),
        f.clock.now(),
        RETENTION_DAYS,
        &Filter::default(),
        None,
        0,
    )
    .await
    .expect("list");
    assert_eq!(ids(&one), [newest.id]);
    assert!(next.is_some());
    let (many, next) = activities::list(
        store(&f),
        f.clock.now(),
        RETENTION_DAYS,
        &Filter::default(),
        None,
        100_000,
    )
    .await
    .expect("list");
    assert_eq!(many.len(), 250.min(MAX_LIMIT));
    assert_eq!(next, None);
}

/// A mix of actors and types over ten days; every filter against the unfiltered listing.
async fn filters_by_actor_type_and_time(family: Family) {
    let f = Flotilla::start(family).await;
    let kinds = ["created_user", "deleted_user", "user_logged_in"];
    let actors = [
        user(1),
        user(2),
        Actor::BreakGlass,
        Actor::Anonymous,
        user(3),
    ];
    let mut recorded = Vec::new();
    for n in 0..60 {
        let actor = actors[n % actors.len()].clone();
        let kind = kinds[(n / 2) % kinds.len()];
        recorded.push(record(&f, new(actor, kind, n)).await);
        f.clock.advance(Duration::hours(4));
    }
    let (all, _) = list_all(&f, RETENTION_DAYS, &Filter::default(), 500).await;
    assert_eq!(all.len(), 60);

    let actor_id = |a: &Activity| match a.actor {
        Actor::User { id, .. } => Some(id),
        _ => None,
    };
    let since = recorded[10].created_at;
    let until = recorded[40].created_at;
    let filters: Vec<(&str, Filter)> = vec![
        (
            "actor 1",
            Filter {
                actor_id: Some(1),
                ..Filter::default()
            },
        ),
        (
            "actor 3",
            Filter {
                actor_id: Some(3),
                ..Filter::default()
            },
        ),
        (
            "type",
            Filter {
                kind: Some("deleted_user".into()),
                ..Filter::default()
            },
        ),
        (
            "actor and type",
            Filter {
                actor_id: Some(2),
                kind: Some("user_logged_in".into()),
                ..Filter::default()
            },
        ),
        (
            "since",
            Filter {
                since: Some(since),
                ..Filter::default()
            },
        ),
        (
            "until",
            Filter {
                until: Some(until),
                ..Filter::default()
            },
        ),
        (
            "since and until",
            Filter {
                since: Some(since),
                until: Some(until),
                ..Filter::default()
            },
        ),
        (
            "all four",
            Filter {
                actor_id: Some(1),
                kind: Some("created_user".into()),
                since: Some(since - Duration::microseconds(1)),
                until: Some(until + Duration::microseconds(1)),
            },
        ),
        (
            "an actor with no activity",
            Filter {
                actor_id: Some(99),
                ..Filter::default()
            },
        ),
        (
            "a type no activity can have",
            Filter {
                kind: Some("not#a type".into()),
                ..Filter::default()
            },
        ),
    ];
    for (name, filter) in &filters {
        let expected: Vec<Activity> = all
            .iter()
            .filter(|a| filter.actor_id.is_none_or(|id| actor_id(a) == Some(id)))
            .filter(|a| filter.kind.as_ref().is_none_or(|k| &a.kind == k))
            .filter(|a| filter.since.is_none_or(|t| a.created_at >= t))
            .filter(|a| filter.until.is_none_or(|t| a.created_at < t))
            .cloned()
            .collect();
        // Small pages, so that filtered listings page too.
        let (listed, sizes) = list_all(&f, RETENTION_DAYS, filter, 7).await;
        assert_eq!(ids(&listed), ids(&expected), "filter {name}");
        assert_eq!(listed, expected, "filter {name}");
        assert!(sizes.iter().all(|&n| n <= 7), "filter {name}: {sizes:?}");
    }

    // The filters select what they say (so the comparisons above are not vacuous).
    let fr = &f;
    let by = |filter: Filter| async move { list_all(fr, RETENTION_DAYS, &filter, 500).await.0 };
    let actor_1 = by(Filter {
        actor_id: Some(1),
        ..Filter::default()
    })
    .await;
    assert_eq!(actor_1.len(), 12);
    assert!(actor_1.iter().all(|a| a.actor == user(1)));
    let windowed = by(Filter {
        since: Some(since),
        until: Some(until),
        ..Filter::default()
    })
    .await;
    assert_eq!(
        ids(&windowed).first(),
        Some(&recorded[39].id),
        "until excludes"
    );
    assert_eq!(
        ids(&windowed).last(),
        Some(&recorded[10].id),
        "since includes"
    );
    assert_eq!(windowed.len(), 30);
    let combined = by(Filter {
        actor_id: Some(2),
        kind: Some("user_logged_in".into()),
        ..Filter::default()
    })
    .await;
    assert!(!combined.is_empty());
    assert!(combined
        .iter()
        .all(|a| a.actor == user(2) && a.kind == "user_logged_in"));

    // A filtered page reads only its index: one Query per month, one BatchGetItem.
    let calls = calls(&f);
    let before = counts(&calls);
    let (page, _) = activities::list(
        store(&f),
        f.clock.now(),
        RETENTION_DAYS,
        &Filter {
            kind: Some("created_user".into()),
            ..Filter::default()
        },
        None,
        100,
    )
    .await
    .expect("list");
    assert_eq!(page.len(), 20);
    let used = delta(counts(&calls), before);
    assert_eq!(used[1], 1, "one BatchGetItem for the records");
    assert!(used[2] <= 6, "{} queries over a 90-day window", used[2]);
}

/// Every item expires with the retention: a listing and a get no longer see it.
async fn retention_expires_activities(family: Family) {
    let f = Flotilla::start(family).await;
    let retention = 2;
    let first = activities::record(
        store(&f),
        f.clock.now(),
        retention,
        new(user(1), "created_team", 0),
    )
    .await
    .expect("record");
    f.clock.advance(Duration::days(1));
    let second = activities::record(
        store(&f),
        f.clock.now(),
        retention,
        new(user(1), "created_team", 1),
    )
    .await
    .expect("record");
    let by_actor = Filter {
        actor_id: Some(1),
        ..Filter::default()
    };
    let (listed, _) = list_all(&f, retention, &Filter::default(), 10).await;
    assert_eq!(ids(&listed), [second.id, first.id]);

    // 2.5 days after the first: it is gone, from the log and from its indexes.
    f.clock.advance(Duration::hours(36));
    for filter in [Filter::default(), by_actor.clone()] {
        let (listed, _) = list_all(&f, retention, &filter, 10).await;
        assert_eq!(ids(&listed), [second.id], "{filter:?}");
    }
    assert_eq!(
        activities::get(store(&f), first.id).await.expect("get"),
        None
    );
    assert!(activities::get(store(&f), second.id)
        .await
        .expect("get")
        .is_some());

    // A longer retention asked of the listing does not bring expired items back.
    let (listed, _) = list_all(&f, 30, &Filter::default(), 10).await;
    assert_eq!(ids(&listed), [second.id]);

    f.clock.advance(Duration::days(1));
    for filter in [Filter::default(), by_actor] {
        let (listed, sizes) = list_all(&f, retention, &filter, 10).await;
        assert!(listed.is_empty(), "{filter:?}: {listed:?}");
        assert_eq!(sizes, [0]);
    }
}

/// Items of a shorter retention (recorded before it was raised) expire among live ones: the
/// listing reads past them, pages stay whole and nothing is skipped.
async fn expired_items_between_live_ones_are_skipped(family: Family) {
    let f = Flotilla::start(family).await;
    let mut kept = Vec::new();
    for n in 0..40 {
        let retention = if n % 3 == 0 { 30 } else { 1 };
        let activity = activities::record(
            store(&f),
            f.clock.now(),
            retention,
            new(user(7), "live_query", n),
        )
        .await
        .expect("record");
        if retention == 30 {
            kept.push(activity);
        }
        f.clock.advance(Duration::minutes(1));
    }
    f.clock.advance(Duration::days(2));
    kept.reverse();
    for filter in [
        Filter::default(),
        Filter {
            kind: Some("live_query".into()),
            ..Filter::default()
        },
    ] {
        let (listed, sizes) = list_all(&f, 30, &filter, 4).await;
        assert_eq!(ids(&listed), ids(&kept), "{filter:?}");
        // Full pages until the last: expired items do not make pages short.
        let (last, full) = sizes.split_last().expect("a page");
        assert!(full.iter().all(|&n| n == 4), "{sizes:?}");
        assert_eq!(*last, kept.len() - 4 * full.len());
    }
}

/// Nothing recorded: a listing walks the retention's months, not its days, and nothing more.
async fn empty_log_costs_a_bounded_number_of_queries(family: Family) {
    let f = Flotilla::start(family).await;
    let calls = calls(&f);
    let cases: [(u32, Filter, u64); 5] = [
        // 4 shards × the months a 30-day window (+ the clock skew margin) can touch.
        (30, Filter::default(), 4 * 4),
        // A year: 4 × 14 at most, never 4 × 365.
        (365, Filter::default(), 4 * 14),
        // Any retention is bounded (clamped to ten years).
        (u32::MAX, Filter::default(), 4 * 124),
        (
            365,
            Filter {
                actor_id: Some(1),
                ..Filter::default()
            },
            14,
        ),
        (
            365,
            Filter {
                since: Some(f.clock.now() - Duration::hours(1)),
                until: Some(f.clock.now()),
                ..Filter::default()
            },
            8,
        ),
    ];
    for (retention, filter, most) in cases {
        let before = counts(&calls);
        let (page, next) =
            activities::list(store(&f), f.clock.now(), retention, &filter, None, 100)
                .await
                .expect("list");
        assert!(page.is_empty());
        assert_eq!(next, None);
        let used = delta(counts(&calls), before);
        assert!(
            used[2] <= most && used[2] > 0,
            "{retention} days, {filter:?}: {} queries",
            used[2]
        );
        assert_eq!(used[0] + used[1] + used[3], 0);
    }
    // An empty time range costs nothing at all.
    let before = counts(&calls);
    let now = f.clock.now();
    let (page, next) = activities::list(
        store(&f),
        now,
        30,
        &Filter {
            since: Some(now),
            until: Some(now - Duration::hours(1)),
            ..Filter::default()
        },
        None,
        100,
    )
    .await
    .expect("list");
    assert!(page.is_empty() && next.is_none());
    assert_eq!(delta(counts(&calls), before), [0; 4]);
}

async fn bad_cursors_are_refused(family: Family) {
    let f = Flotilla::start(family).await;
    for n in 0..3 {
        record(&f, new(Actor::BreakGlass, "deleted_host", n)).await;
        f.clock.advance(Duration::seconds(1));
    }
    let list = |cursor: String| {
        let f = &f;
        async move {
            activities::list(
                store(f),
                f.clock.now(),
                RETENTION_DAYS,
                &Filter::default(),
                Some(&cursor),
                2,
            )
            .await
        }
    };
    for garbage in [
        String::new(),
        "garbage".to_string(),
        "eyJiZWZvcmUiOiJ4In0".to_string(), // {"before":"x"}
        "e30".to_string(),                 // {}
        "!!!!".to_string(),
        "A".repeat(5000),
    ] {
        match list(garbage.clone()).await {
            Err(ListError::BadCursor) => {}
            other => panic!("{garbage:?}: {other:?}"),
        }
    }
    // The real one works and is not the same as the first page.
    let (first, next) = activities::list(
        store(&f),
        f.clock.now(),
        RETENTION_DAYS,
        &Filter::default(),
        None,
        2,
    )
    .await
    .expect("list");
    let next = next.expect("a next page");
    let (second, after) = list(next.clone()).await.expect("next page");
    assert_eq!(first.len(), 2);
    assert_eq!(second.len(), 1);
    assert_eq!(after, None);
    assert!(second[0].id < first[1].id);
    // A tampered cursor (one character changed) is refused or reads a valid page, never panics.
    let mut tampered = next.into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let _ = list(tampered).await;
    // A type the log cannot key is refused when recorded, and nothing is written.
    let calls = calls(&f);
    let before = counts(&calls);
    let refused =
        activities::record(store(&f), f.clock.now(), 30, new(user(1), "bad#type", 0)).await;
    assert!(
        matches!(refused, Err(StoreError::Corrupt(_))),
        "{refused:?}"
    );
    assert_eq!(delta(counts(&calls), before), [0; 4]);
}

/// Activities of one millisecond: distinct ids (a clash is retried), all listed.
async fn ids_are_unique_within_one_millisecond(family: Family) {
    let f = Flotilla::start(family).await;
    let now: DateTime<Utc> = f.clock.now();
    let mut recorded = Vec::new();
    for n in 0..200 {
        let activity = record(&f, new(user(5), "user_logged_in", n)).await;
        assert_eq!(
            activity.created_at.timestamp_millis(),
            now.timestamp_millis()
        );
        recorded.push(activity.id);
    }
    let unique: HashSet<u64> = recorded.iter().copied().collect();
    assert_eq!(unique.len(), 200, "duplicate ids");
    let (listed, sizes) = list_all(&f, RETENTION_DAYS, &Filter::default(), 500).await;
    assert_eq!(sizes, [200]);
    assert_newest_first(&listed);
    let listed_ids: HashSet<u64> = listed.iter().map(|a| a.id).collect();
    assert_eq!(listed_ids, unique);
    // Each details came back with its own record.
    let mut ns: Vec<u64> = listed
        .iter()
        .map(|a| a.details["n"].as_u64().expect("n"))
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..200).collect::<Vec<u64>>());
}
