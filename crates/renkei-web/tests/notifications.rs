//! Notifications through a real server, on both backends: @mentions resolve to the care
//! team only (an outsider named gets nothing), replies and urgent posts, the inbox page and
//! its badge, marking one and all read (own notifications only, CSRF), the live stream
//! (SSE) after a post, and notification e-mail through an in-process SMTP sink carrying a
//! link and no patient data.

mod testkit;

use base64::Engine;
use std::sync::Arc;
use std::time::Duration;
use testkit::{between, csrf, each_backend, TestApp};

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, String)],
) -> (u16, String) {
    let res = client.post(app.url(path)).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location)
}

async fn register(app: &TestApp, client: &reqwest::Client, local_id: &str) -> String {
    let token = csrf(app, client).await;
    let form = [
        ("csrf", token),
        ("local_id", local_id.into()),
        ("family_kanji", "苫小牧".into()),
        ("given_kanji", "花子".into()),
        ("family_kana", "とまこまい".into()),
        ("given_kana", "はなこ".into()),
        ("birth_date", "1938-04-12".into()),
        ("sex", "female".into()),
        ("postal_code", "053-0022".into()),
        ("address", "北海道苫小牧市表町1丁目2-3".into()),
        ("phone", "0144-32-1111".into()),
        ("care_level", "care2".into()),
    ];
    let (status, location) = post_form(app, client, "/patients/new", &form).await;
    assert_eq!(status, 303);
    location
        .trim_start_matches("/patients/")
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

/// Consent in force and the other hospital an active team member.
async fn consent_and_join_other(
    app: &TestApp,
    doctor: &reqwest::Client,
    other: &reqwest::Client,
    person: &str,
) {
    let token = csrf(app, doctor).await;
    let form = [
        ("csrf", token.clone()),
        ("scope", "comprehensive".into()),
        ("form", "written".into()),
        ("signer", "patient".into()),
    ];
    let (status, _) = post_form(app, doctor, &format!("/patients/{person}/consent"), &form).await;
    assert_eq!(status, 303);
    let form = [("csrf", token), ("facility", "F00002".into())];
    let (status, _) = post_form(
        app,
        doctor,
        &format!("/patients/{person}/team/invite"),
        &form,
    )
    .await;
    assert_eq!(status, 303);
    let form = [
        ("csrf", csrf(app, other).await),
        ("answer", "accept".into()),
    ];
    let (status, _) = post_form(app, other, &format!("/invitations/{person}"), &form).await;
    assert_eq!(status, 303);
}

/// Posts to the timeline; returns the new post's id.
async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    person: &str,
    fields: &[(&str, &str)],
) -> String {
    let mut form = reqwest::multipart::Form::new().text("csrf", csrf(app, client).await);
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let res = client
        .post(app.url(&format!("/patients/{person}/timeline")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    location.split("#post-").nth(1).unwrap().to_string()
}

/// The badge count in the navigation of any page (0 when hidden).
async fn badge(app: &TestApp, client: &reqwest::Client) -> i64 {
    let (status, html) = get(app, client, "/account").await;
    assert_eq!(status, 200);
    let span = between(&html, "id=\"notify-badge\"", "</span>").expect("badge on every page");
    let n: i64 = span.rsplit('>').next().unwrap().parse().unwrap();
    if span.contains(" hidden") {
        assert_eq!(n, 0);
    }
    n
}

async fn stored_count(app: &TestApp, login: &str) -> i64 {
    let id = app.user_id(login).await;
    app.store
        .notifications()
        .unread_notification_counts(&[id])
        .await
        .unwrap()
        .first()
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

/// Reads SSE `unread` events off a streaming response.
struct Stream {
    res: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(app: &TestApp, client: &reqwest::Client) -> Stream {
        let res = client
            .get(app.url("/notifications/stream"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Stream {
            res,
            buf: String::new(),
        }
    }

    /// The next `unread` count, within 5 s.
    async fn next(&mut self) -> i64 {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                while let Some(end) = self.buf.find("\n\n") {
                    let event: String = self.buf.drain(..end + 2).collect();
                    if event.contains("event: unread") {
                        let data = between(&event, "data: ", "\n").unwrap();
                        let v: serde_json::Value = serde_json::from_str(&data).unwrap();
                        return v["unread"].as_i64().unwrap();
                    }
                }
                let chunk = self.res.chunk().await.unwrap().expect("stream open");
                self.buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an event within 5 s")
    }
}

#[tokio::test]
async fn mentions_replies_urgent_inbox_and_live_badge() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let (other, _) = app.sign_in("otherdoc").await;
        let (cm, _) = app.sign_in("cm1").await;
        let (nurse, _) = app.sign_in("nurse1").await;
        let person = register(&app, &doctor, "N-1").await;
        consent_and_join_other(&app, &doctor, &other, &person).await;
        // The invitation reached every member of the invited facility.
        assert_eq!(badge(&app, &other).await, 1);
        let (_, html) = get(&app, &other, "/notifications").await;
        assert!(html.contains("ケアチームへの招待"), "{html}");
        assert_eq!(
            stored_count(&app, "doctor1").await,
            0,
            "not the inviter's facility"
        );
        let (status, _) = post_form(
            &app,
            &other,
            "/notifications/read-all",
            &[("csrf", csrf(&app, &other).await)],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(badge(&app, &other).await, 0);
        let mut live = Stream::open(&app, &other).await;
        assert_eq!(live.next().await, 0, "the count on connect");

        // A mention of a team member and of an outsider (the care office is not in the team).
        let first = post(
            &app,
            &doctor,
            &person,
            &[
                ("kind", "consultation"),
                ("text", "@otherdoc 先生、ご確認ください。@cm1 さんにも"),
            ],
        )
        .await;
        assert_eq!(live.next().await, 1, "the stream hears of the mention");
        assert_eq!(badge(&app, &other).await, 1);
        assert_eq!(stored_count(&app, "otherdoc").await, 1);
        assert_eq!(
            stored_count(&app, "cm1").await,
            0,
            "outside the team: nothing"
        );
        assert_eq!(badge(&app, &cm).await, 0);
        assert_eq!(stored_count(&app, "nurse1").await, 0, "not mentioned");
        assert_eq!(stored_count(&app, "doctor1").await, 0);

        // The inbox: kind, patient (the viewer may see them), author; no post text.
        let (status, html) = get(&app, &other, "/notifications").await;
        assert_eq!(status, 200);
        let inbox = between(&html, "id=\"inbox\"", "</ul>").unwrap();
        assert!(inbox.contains("あなた宛ての言及"), "{inbox}");
        assert!(inbox.contains("苫小牧 花子"), "{inbox}");
        assert!(inbox.contains("テスト 医師1（テスト総合病院）"), "{inbox}");
        assert!(!inbox.contains("ご確認ください"), "no post text");
        let (_, html) = get(&app, &cm, "/notifications").await;
        assert!(html.contains("id=\"inbox-empty\""));

        // The mention is a highlighted link; the outsider's is plain text.
        let (_, html) = get(&app, &doctor, &format!("/patients/{person}/timeline")).await;
        assert!(
            html.contains("<a class=\"mention\" href=\"/facilities/"),
            "mention link"
        );
        assert!(html.contains(">@otherdoc</a>"));
        assert!(!html.contains(">@cm1</a>") && html.contains("@cm1 さんにも"));

        // A facility mention reaches every member of that facility; an urgent post the whole
        // team (but never its author).
        post(
            &app,
            &other,
            &person,
            &[("kind", "report"), ("text", "＠テスト総合病院 へ")],
        )
        .await;
        assert_eq!(stored_count(&app, "doctor1").await, 1);
        assert_eq!(stored_count(&app, "nurse1").await, 1);
        assert_eq!(stored_count(&app, "admin1").await, 1);
        post(
            &app,
            &doctor,
            &person,
            &[("kind", "instruction"), ("urgent", "1"), ("text", "至急")],
        )
        .await;
        assert_eq!(live.next().await, 2, "urgent post");
        assert_eq!(stored_count(&app, "nurse1").await, 2);
        assert_eq!(
            stored_count(&app, "doctor1").await,
            1,
            "not for one's own post"
        );
        assert_eq!(stored_count(&app, "cm1").await, 0);

        // A reply notifies the author of the post it answers.
        post(
            &app,
            &nurse,
            &person,
            &[("kind", "report"), ("text", "了解"), ("reply_to", &first)],
        )
        .await;
        assert_eq!(stored_count(&app, "doctor1").await, 2);

        // Mark one read: the viewer's own only; CSRF required.
        let mine = app
            .store
            .notifications()
            .notifications_of(&app.user_id("otherdoc").await, true, 10, 0)
            .await
            .unwrap();
        assert_eq!(mine.len(), 2);
        let (status, _) = post_form(
            &app,
            &nurse,
            &format!("/notifications/{}/read", mine[0].id),
            &[("csrf", csrf(&app, &nurse).await)],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(
            stored_count(&app, "otherdoc").await,
            2,
            "another user's: untouched"
        );
        let res = other
            .post(app.url(&format!("/notifications/{}/read", mine[0].id)))
            .form(&[("csrf", "wrong")])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error());
        assert_eq!(stored_count(&app, "otherdoc").await, 2);
        let (status, _) = post_form(
            &app,
            &other,
            &format!("/notifications/{}/read", mine[0].id),
            &[("csrf", csrf(&app, &other).await)],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(live.next().await, 1, "other tabs hear of it");
        // Opening one marks it read and goes to the post.
        let (status, location) = post_form(
            &app,
            &other,
            &format!("/notifications/{}/open", mine[1].id),
            &[("csrf", csrf(&app, &other).await)],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(location, mine[1].link);
        assert!(location.starts_with(&format!("/patients/{person}/timeline#post-")));
        assert_eq!(live.next().await, 0);
        assert_eq!(badge(&app, &other).await, 0);

        // Viewing the timeline reads the notifications of what it showed.
        assert_eq!(stored_count(&app, "nurse1").await, 2);
        get(&app, &nurse, &format!("/patients/{person}/timeline")).await;
        assert_eq!(stored_count(&app, "nurse1").await, 0);

        // Mark all read.
        assert_eq!(badge(&app, &doctor).await, 2);
        let (status, _) = post_form(
            &app,
            &doctor,
            "/notifications/read-all",
            &[("csrf", csrf(&app, &doctor).await)],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(badge(&app, &doctor).await, 0);

        // Break-glass access by a paramedic: every member of the team hears of it.
        let (crew, _) = app.sign_in("paramedic1").await;
        let (status, _) = post_form(
            &app,
            &crew,
            "/emergency",
            &[
                ("csrf", csrf(&app, &crew).await),
                ("kana", "とまこまい はなこ".into()),
                ("birth_date", "1938-04-12".into()),
                ("reason", "救急搬送中、意識レベル低下".into()),
            ],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(live.next().await, 1, "break-glass notice");
        assert_eq!(stored_count(&app, "nurse1").await, 1);
        assert_eq!(stored_count(&app, "paramedic1").await, 0);
        assert_eq!(stored_count(&app, "cm1").await, 0);
        let (_, html) = get(&app, &other, "/notifications").await;
        assert!(html.contains("緊急アクセスの通知"));

        // The stream: signed-in, same origin.
        let res = app
            .anon()
            .get(app.url("/notifications/stream"))
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), 200);
        let res = other
            .get(app.url("/notifications/stream"))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    })
    .await;
}

// --- e-mail ------------------------------------------------------------------------------

/// A minimal SMTP server: accepts every message and hands over its DATA.
async fn smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            tx.send(data.take().unwrap()).unwrap();
                            w.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

/// The decoded text body of a captured message (base64, as the mailer sends it).
fn body_of(message: &str) -> String {
    let (headers, body) = message.split_once("\n\n").unwrap();
    assert!(
        headers.contains("Content-Transfer-Encoding: base64"),
        "{headers}"
    );
    let b64: String = body.split_whitespace().collect();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn notification_email_carries_a_link_only() {
    let (port, mut mails) = smtp_sink().await;
    let mailer = renkei_web::mail::SmtpMailer::new(
        &format!("smtp://127.0.0.1:{port}"),
        "Renkei <noreply@example.jp>",
    )
    .unwrap();
    let config = renkei_web::WebConfig {
        mailer: Some(Arc::new(mailer)),
        ..Default::default()
    };
    let app = TestApp::spawn_with(testkit::Backend::Sqlite, config).await;
    let (doctor, _) = app.sign_in("doctor1").await;
    let (other, _) = app.sign_in("otherdoc").await;
    let person = register(&app, &doctor, "M-1").await;
    consent_and_join_other(&app, &doctor, &other, &person).await;

    // Not opted in: no mail.
    post(
        &app,
        &doctor,
        &person,
        &[("kind", "report"), ("text", "@otherdoc 血圧 180/100")],
    )
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), mails.recv())
            .await
            .is_err()
    );

    // Opt in on the account page (audited).
    let (_, html) = get(&app, &other, "/account").await;
    assert!(html.contains("id=\"notification-email\"") && html.contains("name=\"email\""));
    let (status, _) = post_form(
        &app,
        &other,
        "/account/notifications",
        &[("csrf", csrf(&app, &other).await), ("email", "on".into())],
    )
    .await;
    assert_eq!(status, 303);
    assert!(app
        .store
        .notifications()
        .notification_email(&app.user_id("otherdoc").await)
        .await
        .unwrap());

    post(
        &app,
        &doctor,
        &person,
        &[
            ("kind", "report"),
            ("urgent", "1"),
            ("text", "@otherdoc 苫小牧花子さん 血圧 180/100"),
        ],
    )
    .await;
    let message = tokio::time::timeout(Duration::from_secs(10), mails.recv())
        .await
        .expect("a mail within 10 s")
        .unwrap();
    assert!(message.contains("To: otherdoc@example.jp"), "{message}");
    let body = body_of(&message);
    assert!(body.contains("http://test.invalid/notifications"), "{body}");
    for secret in ["苫小牧", "花子", "とまこまい", "血圧", "180", &person] {
        assert!(!body.contains(secret), "{secret} in the mail: {body}");
        assert!(!message.contains(secret), "{secret} in the raw message");
    }
    // Opted out again: no further mail.
    let (status, _) = post_form(
        &app,
        &other,
        "/account/notifications",
        &[("csrf", csrf(&app, &other).await)],
    )
    .await;
    assert_eq!(status, 303);
    post(
        &app,
        &doctor,
        &person,
        &[("kind", "report"), ("text", "@otherdoc again")],
    )
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), mails.recv())
            .await
            .is_err()
    );
}
