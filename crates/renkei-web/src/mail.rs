//! Notification e-mail. Optional (configured with an SMTP URL); a message carries a link to
//! the inbox and nothing else — never a patient's name, never post text — because e-mail
//! leaves the network unencrypted at rest in mailboxes the network does not control.
//!
//! Sending goes through the [`Mailer`] trait so tests can capture messages; the real one is
//! [`SmtpMailer`] (lettre over rustls).

use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Sends one plain-text message.
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String>;
}

/// SMTP through lettre. The URL decides the transport: `smtps://user:pass@host:465`
/// (implicit TLS), `smtp://host:587?tls=required` (STARTTLS), `smtp://localhost:25` (plain,
/// for a local relay).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: not printed.
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<SmtpMailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("smtp_url: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("smtp_from {from:?}: {e}"))?;
        Ok(SmtpMailer { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|e| format!("address {to:?}: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            // Base64 always: one predictable encoding for any text.
            .body(
                Body::new_with_encoding(body.to_string(), ContentTransferEncoding::Base64)
                    .map_err(|_| "body encoding".to_string())?,
            )
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The one message the network sends: subject and body, both languages, a link only.
pub fn notification_message(network_name: &str, public_url: &str) -> (String, String) {
    let link = format!("{}/notifications", public_url.trim_end_matches('/'));
    (
        format!("[{network_name}] 新しいお知らせ / New notification"),
        format!(
            "{network_name} に新しいお知らせがあります。内容はログインしてご確認ください。\n\
             {link}\n\n\
             There is a new notification for you on {network_name}. Sign in to read it.\n\
             {link}\n\n\
             このメールには患者情報は含まれていません。通知メールは「アカウント」画面で停止できます。\n\
             This message carries no patient information. Turn these e-mails off on your account page.\n"
        ),
    )
}
