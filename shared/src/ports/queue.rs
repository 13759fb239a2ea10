//! The queue port: durable background jobs with at-least-once delivery
//! (SQS with a dead-letter queue on AWS, an embedded table locally).

use async_trait::async_trait;
use std::time::Duration;

/// The longest delay a message can be sent with (SQS's DelaySeconds limit).
pub const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    pub body: String,
    /// Pass to `ack` to delete the message once it has been handled.
    pub receipt: String,
    /// How many times this message has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("unknown or expired receipt")]
    UnknownReceipt,
}

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.send_delayed(body, Duration::ZERO).await
    }
    /// Sends a message that no receiver sees before `delay` has passed (at most
    /// [`MAX_DELAY`], SQS's limit; longer delays are cut to it).
    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<(), QueueError>;
    /// Up to `max` messages; each stays invisible to other receivers for `visibility`,
    /// then comes back unless acked. A message received more than the queue's
    /// maximum receive count moves to the dead-letter queue instead.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
    /// Messages currently in the dead-letter queue (for operators and tests).
    async fn dead_letters(&self, max: usize) -> Result<Vec<String>, QueueError>;
}
