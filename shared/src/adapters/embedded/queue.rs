//! The queue on one machine: tables in the state store's redb database, with SQS's delivery
//! model (visibility timeout, receive count, receipts, a dead-letter table after too many
//! receives).

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use super::EmbeddedError;
use crate::clock::Clock;
use crate::ports::queue::MAX_DELAY;
use crate::ports::{Queue, QueueError, ReceivedMessage};

/// id -> a JSON `Message`.
const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("queue_messages");
/// (visible_at_ms, id): the receive order, earliest visible first.
const VISIBLE: TableDefinition<(i64, u64), ()> = TableDefinition::new("queue_visible");
/// id -> body of a message received too many times.
const DEAD: TableDefinition<u64, &str> = TableDefinition::new("queue_dead_letters");
const META: TableDefinition<&str, u64> = TableDefinition::new("queue_meta");
const NEXT_ID: &str = "next_id";

/// The default number of receives after which a message goes to the dead letters
/// (the provisioned SQS RedrivePolicy's maxReceiveCount).
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Message {
    body: String,
    receive_count: u32,
    visible_at_ms: i64,
    /// The receipt of the latest receive; only it acks the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receipt: Option<String>,
}

/// The embedded `Queue`. Uses the injected clock for visibility, so tests can move time.
#[derive(Clone)]
pub struct EmbeddedQueue {
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
    max_receives: u32,
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(format!("embedded queue: {e}"))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, QueueError> + Send + 'static,
) -> Result<T, QueueError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| QueueError::Unavailable(format!("queue task failed: {e}")))?
}

fn decode(bytes: &[u8]) -> Result<Message, QueueError> {
    serde_json::from_slice(bytes).map_err(|e| unavailable(format!("corrupt message: {e}")))
}

fn encode(message: &Message) -> Result<Vec<u8>, QueueError> {
    serde_json::to_vec(message).map_err(unavailable)
}

/// A receipt names the message and its receive; the random part makes a receipt of an
/// earlier receive useless once the message has been received again.
fn new_receipt(id: u64) -> String {
    format!("{id}.{:016x}", rand::random::<u64>())
}

fn receipt_id(receipt: &str) -> Option<u64> {
    let (id, nonce) = receipt.split_once('.')?;
    if nonce.len() != 16 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    id.parse().ok()
}

impl EmbeddedQueue {
    /// A queue in `db` (shared with `EmbeddedState`); its tables are created if missing.
    /// A message received `max_receives` times goes to the dead letters on its next receive.
    pub fn new(
        db: Arc<Database>,
        clock: Arc<dyn Clock>,
        max_receives: u32,
    ) -> Result<Self, EmbeddedError> {
        let create = || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            txn.open_table(MESSAGES)?;
            txn.open_table(VISIBLE)?;
            txn.open_table(DEAD)?;
            txn.open_table(META)?;
            txn.commit()?;
            Ok(())
        };
        create().map_err(EmbeddedError::Tables)?;
        Ok(EmbeddedQueue {
            db,
            clock,
            max_receives: max_receives.max(1),
        })
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }
}

fn receive_now(
    db: &Database,
    max: usize,
    visible_at_ms: i64,
    now_ms: i64,
    max_receives: u32,
) -> Result<Vec<ReceivedMessage>, QueueError> {
    let txn = db.begin_write().map_err(unavailable)?;
    let mut delivered = Vec::new();
    {
        let mut visible = txn.open_table(VISIBLE).map_err(unavailable)?;
        let mut messages = txn.open_table(MESSAGES).map_err(unavailable)?;
        let mut dead = txn.open_table(DEAD).map_err(unavailable)?;
        // First pick (the table cannot change while it is being iterated), then move.
        let mut picked = Vec::new();
        let mut deliverable = 0usize;
        for entry in visible
            .range::<(i64, u64)>(..=(now_ms, u64::MAX))
            .map_err(unavailable)?
        {
            let (slot, _) = entry.map_err(unavailable)?;
            let (at, id) = slot.value();
            let Some(bytes) = messages.get(id).map_err(unavailable)? else {
                picked.push((at, id, None));
                continue;
            };
            let message = decode(bytes.value())?;
            if message.receive_count < max_receives {
                deliverable += 1;
            }
            picked.push((at, id, Some(message)));
            if deliverable == max {
                break;
            }
        }
        for (at, id, message) in picked {
            visible.remove((at, id)).map_err(unavailable)?;
            let Some(mut message) = message else {
                continue;
            };
            if message.receive_count >= max_receives {
                dead.insert(id, message.body.as_str())
                    .map_err(unavailable)?;
                messages.remove(id).map_err(unavailable)?;
                continue;
            }
            message.receive_count += 1;
            message.visible_at_ms = visible_at_ms;
            let receipt = new_receipt(id);
            message.receipt = Some(receipt.clone());
            visible
                .insert((visible_at_ms, id), ())
                .map_err(unavailable)?;
            messages
                .insert(id, encode(&message)?.as_slice())
                .map_err(unavailable)?;
            delivered.push(ReceivedMessage {
                body: message.body,
                receipt,
                receive_count: message.receive_count,
            });
        }
    }
    txn.commit().map_err(unavailable)?;
    Ok(delivered)
}

fn ack_now(db: &Database, receipt: &str) -> Result<(), QueueError> {
    let id = receipt_id(receipt).ok_or(QueueError::UnknownReceipt)?;
    let txn = db.begin_write().map_err(unavailable)?;
    let outcome = (|| {
        let mut messages = txn.open_table(MESSAGES).map_err(unavailable)?;
        let mut visible = txn.open_table(VISIBLE).map_err(unavailable)?;
        let message = match messages.get(id).map_err(unavailable)? {
            Some(bytes) => decode(bytes.value())?,
            // Already acked (or dead-lettered): acking twice is harmless, as on SQS.
            None => return Ok(false),
        };
        if message.receipt.as_deref() != Some(receipt) {
            // Received again since: the newer receiver owns it now.
            return Err(QueueError::UnknownReceipt);
        }
        messages.remove(id).map_err(unavailable)?;
        visible
            .remove((message.visible_at_ms, id))
            .map_err(unavailable)?;
        Ok(true)
    })();
    match outcome {
        Ok(true) => txn.commit().map_err(unavailable),
        Ok(false) => txn.abort().map_err(unavailable),
        Err(e) => {
            txn.abort().map_err(unavailable)?;
            Err(e)
        }
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        let db = self.db.clone();
        let body = body.to_string();
        let delay_ms = delay.min(MAX_DELAY).as_millis() as i64;
        let visible_at_ms = self.now_ms() + delay_ms;
        blocking(move || {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut meta = txn.open_table(META).map_err(unavailable)?;
                let id = meta
                    .get(NEXT_ID)
                    .map_err(unavailable)?
                    .map_or(1, |v| v.value());
                meta.insert(NEXT_ID, id + 1).map_err(unavailable)?;
                let message = Message {
                    body,
                    receive_count: 0,
                    visible_at_ms,
                    receipt: None,
                };
                txn.open_table(MESSAGES)
                    .map_err(unavailable)?
                    .insert(id, encode(&message)?.as_slice())
                    .map_err(unavailable)?;
                txn.open_table(VISIBLE)
                    .map_err(unavailable)?
                    .insert((visible_at_ms, id), ())
                    .map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)
        })
        .await
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let db = self.db.clone();
        let now_ms = self.now_ms();
        let visibility_ms = i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
        let visible_at_ms = now_ms.saturating_add(visibility_ms);
        let max_receives = self.max_receives;
        blocking(move || receive_now(&db, max, visible_at_ms, now_ms, max_receives)).await
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let db = self.db.clone();
        let receipt = receipt.to_string();
        blocking(move || ack_now(&db, &receipt)).await
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<String>, QueueError> {
        let db = self.db.clone();
        blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let dead = txn.open_table(DEAD).map_err(unavailable)?;
            let mut bodies = Vec::new();
            for entry in dead.iter().map_err(unavailable)?.take(max) {
                let (_, body) = entry.map_err(unavailable)?;
                bodies.push(body.value().to_string());
            }
            Ok(bodies)
        })
        .await
    }
}
