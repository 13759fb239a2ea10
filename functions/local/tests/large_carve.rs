//! A large file carve through the real flotilla-local binary, with the server's memory
//! measured (peak resident set, /proc/<pid>/status VmHWM): blocks are stored as they come and
//! assembled a part at a time by the background worker, so the peak must not grow with the
//! size of the carve. Prints the numbers (`-- --nocapture`).

mod common;

use base64::Engine;
use common::{post, start, wait_ready};
use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;
/// orbit's --carver_block_size.
const BLOCK: usize = 2_000_000;

/// Peak and current resident set of a process, in bytes.
fn memory(pid: u32) -> (usize, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Carves `size` bytes of seeded random data the way osquery does (begin, then each block in
/// order), without ever holding the whole carve in the test either. Answers the data's SHA-256.
async fn carve(
    client: &reqwest::Client,
    base: &str,
    node_key: &str,
    size: usize,
    seed: u64,
) -> String {
    let (status, begun) = post(
        client,
        format!("{base}/api/v1/osquery/carve/begin"),
        json!({"node_key": node_key, "block_count": size.div_ceil(BLOCK), "block_size": BLOCK,
               "carve_size": size, "carve_id": format!("carve-{seed}"), "request_id": ""}),
    )
    .await;
    assert_eq!(status, 200, "{begun}");
    let session = begun["session_id"].as_str().expect("session id");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut hash = Sha256::new();
    let mut block = vec![0u8; BLOCK];
    for block_id in 0..size.div_ceil(BLOCK) {
        let len = BLOCK.min(size - block_id * BLOCK);
        rng.fill_bytes(&mut block[..len]);
        hash.update(&block[..len]);
        let (status, answer) = post(
            client,
            format!("{base}/api/v1/osquery/carve/block"),
            json!({"block_id": block_id, "session_id": session, "request_id": "",
                   "data": base64::engine::general_purpose::STANDARD.encode(&block[..len])}),
        )
        .await;
        assert_eq!(status, 200, "block {block_id}: {answer}");
    }
    hex::encode(hash.finalize())
}

/// Waits for the worker to assemble the carve, then streams the download through a hash.
async fn download_when_complete(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: u64,
) -> (String, usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let carve: Value = client
            .get(format!("{base}/api/v1/fleet/carves/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("carve")
            .json()
            .await
            .expect("json");
        if carve["carve"]["completed_at"].is_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "carve {id} never completed: {carve}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut response = client
        .get(format!("{base}/api/v1/fleet/carves/{id}/download"))
        .bearer_auth(token)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 200);
    let mut hash = Sha256::new();
    let mut len = 0;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        len += chunk.len();
        hash.update(&chunk);
    }
    (hex::encode(hash.finalize()), len)
}

#[tokio::test]
async fn large_carves_complete_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    // glibc keeps freed memory per thread arena (up to 8 per core), which would show as peak
    // growth that has nothing to do with what the server holds; two arenas keep the
    // measurement about the data.
    let server = start(dir.path(), &[], &[("MALLOC_ARENA_MAX", "2")]);
    wait_ready(&client, &server.base).await;
    let pid = server.child.id();
    let uuid = "1A26E000-0000-0000-0000-000000000001";
    let (status, enrolled) = post(
        &client,
        format!("{}/api/osquery/enroll", server.base),
        json!({"enroll_secret": server.enroll_secret, "host_identifier": uuid,
               "host_details": {"system_info": {"uuid": uuid, "hostname": "big"}}}),
    )
    .await;
    assert_eq!(status, 200, "{enrolled}");
    let node_key = enrolled["node_key"].as_str().expect("node key");

    let (start_peak, _) = memory(pid);
    let mut peaks = Vec::new();
    for (id, size) in [(1u64, 16 * MIB), (2, 128 * MIB)] {
        let started = Instant::now();
        let sent = carve(&client, &server.base, node_key, size, id).await;
        let upload = started.elapsed();
        let (received, len) =
            download_when_complete(&client, &server.base, &server.admin_token, id).await;
        assert_eq!(len, size);
        assert_eq!(
            received, sent,
            "the {size}-byte carve comes back byte for byte"
        );
        let (peak, rss) = memory(pid);
        println!(
            "carve of {} MiB: blocks sent in {:.1} s ({:.0} MB/s), server peak RSS {:.1} MiB \
             (started at {:.1} MiB), RSS now {:.1} MiB",
            size / MIB,
            upload.as_secs_f64(),
            size as f64 / 1e6 / upload.as_secs_f64(),
            peak as f64 / MIB as f64,
            start_peak as f64 / MIB as f64,
            rss as f64 / MIB as f64,
        );
        peaks.push(peak);
    }
    // Eight times the data, and the peak stays about where the small carve put it: memory is
    // bounded by a few blocks and one part, not by the carve.
    let growth = peaks[1].saturating_sub(peaks[0]);
    assert!(
        growth < 16 * MIB,
        "the 128 MiB carve raised the server's peak by {} MiB over the 16 MiB carve's",
        growth / MIB
    );
    assert!(
        peaks[1] < start_peak + 48 * MIB,
        "peak RSS {} MiB (from {} MiB) for a 128 MiB carve",
        peaks[1] / MIB,
        start_peak / MIB
    );
}
