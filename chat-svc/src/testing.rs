//! Test support (feature `testing`): what chat-svc's integration tests need that only a
//! running media-svc could do otherwise.

use anyhow::Context as _;
use parley_proto::media::v1 as media;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{
    domain::{AttachmentId, MessageId},
    grpc::convert,
    repo::{self, Attachment, Claim},
};

/// Stores `attachments` (as media-svc would resolve them) as the files of the stored message
/// `message`, in order, as the writer stores those of a send.
pub async fn attach(
    database_url: &str,
    message: Uuid,
    attachments: Vec<media::Attachment>,
) -> anyhow::Result<()> {
    let mut db = PgConnection::connect(database_url).await?;
    let found = repo::message(&mut db, MessageId(message))
        .await?
        .context("no such message")?;
    let rows = attachments
        .into_iter()
        .enumerate()
        .map(|(position, resolved)| {
            let id = AttachmentId::parse("id", &resolved.id)?;
            let position = i16::try_from(position)?;
            Ok(convert::resolved_attachment(
                id,
                resolved,
                found.id,
                found.room_id,
                position,
            ))
        })
        .collect::<anyhow::Result<Vec<Attachment>>>()?;
    let claims: Vec<Claim<'_>> = rows
        .iter()
        .map(|attachment| Claim {
            attachment,
            seq: found.seq,
        })
        .collect();
    let mut tx = db.begin().await?;
    let claimed = repo::claim_attachments(&mut tx, &claims, found.created_at).await?;
    anyhow::ensure!(
        claimed.len() == claims.len(),
        "another message holds one of these attachments"
    );
    tx.commit().await?;
    Ok(())
}
