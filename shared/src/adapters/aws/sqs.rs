//! The queue on SQS. The dead-letter move is SQS's own (the queue's RedrivePolicy, set by the
//! template or the test provisioning), not this adapter's.

use async_trait::async_trait;
use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;
use std::collections::HashSet;
use std::time::Duration;

use crate::ports::queue::MAX_DELAY;
use crate::ports::{Queue, QueueError, ReceivedMessage};

/// ReceiveMessage's limit of messages per call.
const RECEIVE_MAX: usize = 10;
/// SQS's longest visibility timeout (12 hours).
const VISIBILITY_MAX_SECS: u64 = 43_200;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: String,
}

fn unavailable<E, R>(operation: &str, e: SdkError<E, R>) -> QueueError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    QueueError::Unavailable(format!("SQS {operation}: {}", DisplayErrorContext(&e)))
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>, dlq_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
            dlq_url: dlq_url.into(),
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        let delay = delay.min(MAX_DELAY).as_secs() as i32;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| unavailable("SendMessage", e))?;
        Ok(())
    }

    /// At most 10 messages per call (SQS's limit). Short poll: an empty answer comes at once,
    /// and may miss messages that a later receive returns.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // Whole seconds, rounded up so that a message is never visible earlier than asked.
        let secs = visibility.as_secs() + u64::from(visibility.subsec_nanos() > 0);
        let secs = i32::try_from(secs.min(VISIBILITY_MAX_SECS)).unwrap_or(i32::MAX);
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max.min(RECEIVE_MAX)).unwrap_or(1))
            .visibility_timeout(secs)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| unavailable("ReceiveMessage", e))?;
        let mut received = Vec::new();
        for message in out.messages.unwrap_or_default() {
            let receive_count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|count| count.parse().ok())
                .unwrap_or(1);
            let Some(receipt) = message.receipt_handle else {
                continue;
            };
            received.push(ReceivedMessage {
                body: message.body.unwrap_or_default(),
                receipt,
                receive_count,
            });
        }
        Ok(received)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        match self
            .client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    e.is_receipt_handle_is_invalid() || e.is_invalid_id_format()
                }) =>
            {
                Err(QueueError::UnknownReceipt)
            }
            Err(e) => Err(unavailable("DeleteMessage", e)),
        }
    }

    /// Peeks at the dead-letter queue: received with a zero visibility timeout and not deleted,
    /// so the messages stay there for operators. SQS samples its servers on a short poll, so
    /// this can return fewer messages than there are.
    async fn dead_letters(&self, max: usize) -> Result<Vec<String>, QueueError> {
        let mut seen = HashSet::new();
        let mut bodies = Vec::new();
        // A zero visibility timeout returns the same messages again: stop when a call brings
        // nothing new.
        while bodies.len() < max {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(
                    i32::try_from((max - bodies.len()).min(RECEIVE_MAX)).unwrap_or(1),
                )
                .visibility_timeout(0)
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(|e| unavailable("ReceiveMessage (dead letters)", e))?;
            let mut new = 0;
            for message in out.messages.unwrap_or_default() {
                let id = message.message_id.unwrap_or_default();
                if seen.insert(id) {
                    new += 1;
                    bodies.push(message.body.unwrap_or_default());
                }
            }
            if new == 0 {
                break;
            }
        }
        bodies.truncate(max);
        Ok(bodies)
    }
}
