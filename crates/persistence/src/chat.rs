//! Chat history: every line said in a room, paged newest first.

use crate::error::StoreError;
use crate::ids::next_id;
use crate::store::Store;

/// One stored chat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// Its id; later lines have larger ids.
    pub id: i64,
    /// The space.
    pub space_id: i64,
    /// The room within it (a zone, or a named channel).
    pub room: String,
    /// Who said it.
    pub sender_id: i64,
    /// Their username, as the history reads it (none from `append_chat`, or
    /// if the account is gone).
    pub sender_name: Option<String>,
    /// `proximity` or `zone`.
    pub channel: String,
    /// The text.
    pub body: String,
    /// When, seconds since the Unix epoch.
    pub sent_at: i64,
}

type ChatRow = (i64, i64, String, i64, Option<String>, String, String, i64);

impl Store {
    /// Stores a line and returns it with its id.
    pub async fn append_chat(
        &self,
        space_id: i64,
        room: &str,
        sender_id: i64,
        channel: &str,
        body: &str,
        sent_at: i64,
    ) -> Result<ChatLine, StoreError> {
        let mut transaction = self.begin_write().await?;
        let id = next_id(&mut *transaction, "chat_messages").await?;
        sqlx::query(
            "INSERT INTO chat_messages (id, space_id, room, sender_id, channel, body, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(space_id)
        .bind(room)
        .bind(sender_id)
        .bind(channel)
        .bind(body)
        .bind(sent_at)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(ChatLine {
            id,
            space_id,
            room: room.to_owned(),
            sender_id,
            sender_name: None,
            channel: channel.to_owned(),
            body: body.to_owned(),
            sent_at,
        })
    }

    /// Like [`Store::chat_history`], but only the lines said on `channel` (the
    /// history readers may see holds the zone-wide lines, never the nearby
    /// ones).
    pub async fn channel_history(
        &self,
        space_id: i64,
        room: &str,
        channel: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ChatLine>, StoreError> {
        let rows: Vec<ChatRow> = sqlx::query_as(
            "SELECT m.id, m.space_id, m.room, m.sender_id, a.username, m.channel, m.body, \
             m.sent_at FROM chat_messages m LEFT JOIN accounts a ON a.id = m.sender_id \
             WHERE m.space_id = $1 AND m.room = $2 AND m.channel = $3 AND m.id < $4 \
             ORDER BY m.id DESC LIMIT $5",
        )
        .bind(space_id)
        .bind(room)
        .bind(channel)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit.min(1_000)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(chat_line).collect())
    }

    /// Up to `limit` lines of a room older than `before` (all if none), newest
    /// first: the next page starts before the last id returned.
    pub async fn chat_history(
        &self,
        space_id: i64,
        room: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ChatLine>, StoreError> {
        let rows: Vec<ChatRow> = sqlx::query_as(
            "SELECT m.id, m.space_id, m.room, m.sender_id, a.username, m.channel, m.body, \
             m.sent_at FROM chat_messages m LEFT JOIN accounts a ON a.id = m.sender_id \
             WHERE m.space_id = $1 AND m.room = $2 AND m.id < $3 ORDER BY m.id DESC LIMIT $4",
        )
        .bind(space_id)
        .bind(room)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit.min(1_000)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(chat_line).collect())
    }
}

fn chat_line(
    (id, space_id, room, sender_id, sender_name, channel, body, sent_at): ChatRow,
) -> ChatLine {
    ChatLine {
        id,
        space_id,
        room,
        sender_id,
        sender_name,
        channel,
        body,
        sent_at,
    }
}
