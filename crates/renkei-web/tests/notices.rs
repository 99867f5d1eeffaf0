//! Notices and the discussion board through a real server, on both backends: the
//! secretariat publishes to everyone, a facility administrator to the facility's staff
//! only (invisible elsewhere), others are refused with a message; read tracking (badge,
//! home page, the publisher's counts and who read); edits and withdrawal; board topics,
//! threads, replies, the author-only edit with its history, moderation, paging, hostile
//! input and length checks.

mod testkit;

use testkit::{between, csrf, each_backend, TestApp};

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Posts a form; returns the status, the redirect target and the body.
async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, String)],
) -> (u16, String, String) {
    let res = client.post(app.url(path)).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, res.text().await.unwrap())
}

/// Publishes a notice; returns its id.
async fn publish(
    app: &TestApp,
    client: &reqwest::Client,
    scope: &str,
    title: &str,
    importance: &str,
) -> String {
    let form = [
        ("csrf", csrf(app, client).await),
        ("scope", scope.into()),
        ("title", title.into()),
        ("body", "1行目\r\n2行目：会場は市立病院 講堂です。".into()),
        ("importance", importance.into()),
        ("publish_at", String::new()),
        ("expires_on", String::new()),
    ];
    let (status, location, body) = post_form(app, client, "/notices/new", &form).await;
    assert_eq!(status, 303, "{body}");
    location
        .trim_start_matches("/notices/")
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

/// The unread-notices badge in the navigation (0 when absent).
fn notices_badge(html: &str) -> i64 {
    match between(html, "id=\"notices-badge\"", "</span>") {
        Some(span) => span.rsplit('>').next().unwrap().parse().unwrap(),
        None => 0,
    }
}

fn read_count(html: &str) -> (i64, i64) {
    let read = between(html, "id=\"read-count\">", "<").unwrap();
    let audience = between(html, "id=\"audience-count\">", "<").unwrap();
    (read.parse().unwrap(), audience.parse().unwrap())
}

async fn audited(app: &TestApp, action: &str) -> usize {
    app.store
        .search_audit(&renkei_storage::AuditQuery {
            action_prefix: Some(action.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn secretariat_notice_reaches_everyone_with_read_counts() {
    each_backend(|app| async move {
        let (sec, _) = app.sign_in("secretariat").await;
        let (doctor, _) = app.sign_in("doctor1").await;
        let (cm, _) = app.sign_in("cm1").await;
        let (status, form) = get(&app, &sec, "/notices/new").await;
        assert_eq!(status, 200);
        assert!(form.contains("value=\"network\""), "{form}");
        assert!(
            form.contains("患者を特定できる情報"),
            "the form warns about patient data"
        );

        let id = publish(
            &app,
            &sec,
            "network",
            "<script>alert(1)</script>多職種研修会のお知らせ",
            "important",
        )
        .await;
        assert_eq!(audited(&app, "notice.publish").await, 1);

        // The doctor sees it as unread and important on the home page and in the nav.
        let (_, home) = get(&app, &doctor, "/").await;
        assert_eq!(notices_badge(&home), 1);
        let section = between(&home, "id=\"important-notices\"", "</section>")
            .expect("important notices on home");
        assert!(section.contains(&format!("/notices/{id}")));
        assert!(
            section.contains("&#60;script&#62;alert(1)&#60;/script&#62;多職種研修会のお知らせ"),
            "{section}"
        );
        assert!(!home.contains("<script>alert(1)"));
        let (_, list) = get(&app, &doctor, "/notices?filter=unread").await;
        assert!(
            list.contains(&format!("id=\"notice-{id}\" class=\"unread\"")),
            "{list}"
        );

        // The publisher's own view counts the publisher (who is in the audience too).
        let (status, page) = get(&app, &sec, &format!("/notices/{id}")).await;
        assert_eq!(status, 200);
        let (read, audience) = read_count(&page);
        assert_eq!(
            (read, audience),
            (1, 7),
            "seven active users in the test network"
        );

        // The doctor opens it: read, gone from the home page and the badge.
        let (status, page) = get(&app, &doctor, &format!("/notices/{id}")).await;
        assert_eq!(status, 200);
        assert!(page.contains("1行目\n2行目"), "line breaks kept: {page}");
        assert!(
            !page.contains("id=\"notice-reach\""),
            "readers do not see the counts"
        );
        assert_eq!(
            notices_badge(&page),
            0,
            "the page that marks it read shows no badge"
        );
        let (_, home) = get(&app, &doctor, "/").await;
        assert!(!home.contains("id=\"important-notices\""));
        let (_, page) = get(&app, &sec, &format!("/notices/{id}")).await;
        assert_eq!(read_count(&page), (2, 7));
        let (_, list) = get(&app, &sec, "/notices").await;
        let row = between(&list, &format!("id=\"published-{id}\""), "</tr>").unwrap();
        assert!(row.contains("2 / 7"), "{row}");
        // Opening again does not count twice.
        get(&app, &doctor, &format!("/notices/{id}")).await;
        let (_, page) = get(&app, &sec, &format!("/notices/{id}")).await;
        assert_eq!(read_count(&page), (2, 7));
        // Reading leaves no audit record (bookkeeping), publishing did.
        assert_eq!(audited(&app, "notice.").await, 1);

        // The care manager (another facility) sees it too.
        let (status, _) = get(&app, &cm, &format!("/notices/{id}")).await;
        assert_eq!(status, 200);
    })
    .await;
}

#[tokio::test]
async fn facility_notice_stays_in_its_facility_and_others_cannot_publish() {
    each_backend(|app| async move {
        let (admin, _) = app.sign_in("admin1").await;
        let (nurse, _) = app.sign_in("nurse1").await;
        let (doctor, _) = app.sign_in("doctor1").await;
        let (outsider, _) = app.sign_in("otherdoc").await;

        // A member who is not an administrator: 403 with the reason.
        let (status, page) = get(&app, &doctor, "/notices/new").await;
        assert_eq!(status, 403);
        assert!(page.contains("施設管理者"), "{page}");
        let form = [
            ("csrf", csrf(&app, &doctor).await),
            ("scope", "facility".to_string()),
            ("title", "勝手な掲載".into()),
            ("body", "本文".into()),
            ("importance", "normal".into()),
        ];
        let (status, _, page) = post_form(&app, &doctor, "/notices/new", &form).await;
        assert_eq!(status, 403);
        assert!(page.contains("施設管理者"), "{page}");
        // A facility administrator cannot publish network-wide.
        let form = [
            ("csrf", csrf(&app, &admin).await),
            ("scope", "network".to_string()),
            ("title", "全体へ".into()),
            ("body", "本文".into()),
            ("importance", "normal".into()),
        ];
        let (status, _, _) = post_form(&app, &admin, "/notices/new", &form).await;
        assert_eq!(status, 403);
        // Without the CSRF token nothing happens.
        let (status, _, _) = post_form(&app, &admin, "/notices/new", &form[1..]).await;
        assert_eq!(status, 403);
        // Length and required checks answer with the form and its messages.
        let form = [
            ("csrf", csrf(&app, &admin).await),
            ("scope", "facility".to_string()),
            ("title", String::new()),
            ("body", "あ".repeat(4001)),
            ("importance", "normal".into()),
            ("expires_on", "2001-01-01".into()),
        ];
        let (status, _, page) = post_form(&app, &admin, "/notices/new", &form).await;
        assert_eq!(status, 400);
        assert!(page.contains("件名: 入力してください。"), "{page}");
        assert!(
            page.contains("本文: 4000字以内で入力してください。"),
            "{page}"
        );
        assert!(page.contains("掲載期限は掲載日時より後"), "{page}");
        assert_eq!(audited(&app, "notice.").await, 0, "nothing stored");

        let id = publish(&app, &admin, "facility", "病棟の面会制限について", "normal").await;
        // The outsider neither lists nor opens it.
        let (_, list) = get(&app, &outsider, "/notices").await;
        assert!(!list.contains(&id));
        let (status, _) = get(&app, &outsider, &format!("/notices/{id}")).await;
        assert_eq!(status, 404);
        let (_, home) = get(&app, &outsider, "/").await;
        assert_eq!(notices_badge(&home), 0);
        // Staff see it.
        let (_, home) = get(&app, &nurse, "/").await;
        assert_eq!(notices_badge(&home), 1);
        assert!(
            !home.contains("id=\"important-notices\""),
            "a normal notice is not on the home page"
        );
        let (status, _) = get(&app, &nurse, &format!("/notices/{id}")).await;
        assert_eq!(status, 200);
        // The administrator sees who read it: the nurse and the administrator, not the doctor.
        let (_, page) = get(&app, &admin, &format!("/notices/{id}")).await;
        assert_eq!(read_count(&page), (2, 3));
        let readers = between(&page, "id=\"readers\"", "</table>").unwrap();
        let doctor_row = between(&readers, "テスト 医師1", "</tr>").unwrap();
        assert!(doctor_row.contains("未読"), "{readers}");
        let nurse_row = between(&readers, "テスト 看護師1", "</tr>").unwrap();
        assert!(!nurse_row.contains("未読"), "{readers}");

        // Staff may not change it (403 with the reason); outsiders do not see it at all.
        let form = [("csrf", csrf(&app, &doctor).await)];
        let (status, _, page) =
            post_form(&app, &doctor, &format!("/notices/{id}/withdraw"), &form).await;
        assert_eq!(status, 403);
        assert!(page.contains("同じ範囲の管理者"), "{page}");
        let form = [("csrf", csrf(&app, &outsider).await)];
        let (status, _, _) =
            post_form(&app, &outsider, &format!("/notices/{id}/withdraw"), &form).await;
        assert_eq!(status, 404);

        // The administrator edits (marked 編集済み) and withdraws it.
        let form = [
            ("csrf", csrf(&app, &admin).await),
            ("title", "病棟の面会制限について（改訂）".to_string()),
            ("body", "面会は 14 時から 16 時までです。".into()),
            ("importance", "important".into()),
            ("expires_on", String::new()),
        ];
        let (status, _, _) = post_form(&app, &admin, &format!("/notices/{id}/edit"), &form).await;
        assert_eq!(status, 303);
        let (_, page) = get(&app, &nurse, &format!("/notices/{id}")).await;
        assert!(
            page.contains("（改訂）") && page.contains("編集済み"),
            "{page}"
        );
        let form = [("csrf", csrf(&app, &admin).await)];
        let (status, _, _) =
            post_form(&app, &admin, &format!("/notices/{id}/withdraw"), &form).await;
        assert_eq!(status, 303);
        let (status, _) = get(&app, &nurse, &format!("/notices/{id}")).await;
        assert_eq!(status, 404);
        assert_eq!(audited(&app, "notice.").await, 3, "publish, edit, withdraw");
    })
    .await;
}

#[tokio::test]
async fn board_threads_replies_edits_and_moderation() {
    each_backend(|app| async move {
        let (sec, _) = app.sign_in("secretariat").await;
        let (doctor, _) = app.sign_in("doctor1").await;
        let (nurse, _) = app.sign_in("nurse1").await;

        // Only the secretariat adds topics.
        let form = [
            ("csrf", csrf(&app, &doctor).await),
            ("title", "雑談".to_string()),
            ("description", String::new()),
            ("sort_order", String::new()),
        ];
        let (status, _, page) = post_form(&app, &doctor, "/board/topics", &form).await;
        assert_eq!(status, 403);
        assert!(page.contains("事務局"), "{page}");
        let form = [
            ("csrf", csrf(&app, &sec).await),
            ("title", "入退院支援".to_string()),
            ("description", "入退院時の情報共有について".into()),
            ("sort_order", "10".into()),
        ];
        let (status, location, _) = post_form(&app, &sec, "/board/topics", &form).await;
        assert_eq!(status, 303);
        let topic = location.trim_start_matches("/board/topics/").to_string();

        // Any member opens a thread; hostile text is escaped.
        let (_, page) = get(&app, &doctor, &format!("/board/topics/{topic}")).await;
        assert!(
            page.contains("患者を特定できる情報"),
            "the form warns about patient data"
        );
        let form = [
            ("csrf", csrf(&app, &doctor).await),
            (
                "title",
                "<img src=x onerror=alert(1)>退院前カンファレンスの日程調整".to_string(),
            ),
            ("body", "各施設の都合を教えてください。".into()),
        ];
        let (status, location, _) = post_form(
            &app,
            &doctor,
            &format!("/board/topics/{topic}/threads"),
            &form,
        )
        .await;
        assert_eq!(status, 303);
        let thread = location.trim_start_matches("/board/threads/").to_string();
        let (status, page) = get(&app, &nurse, &format!("/board/threads/{thread}")).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("&#60;img src=x onerror=alert(1)&#62;"),
            "{page}"
        );
        assert!(!page.contains("<img src=x"));
        let opening = between(&page, "class=\"card board-post opening\" id=\"post-", "\"").unwrap();

        // A reply; an oversized one is refused with a message.
        let form = [
            ("csrf", csrf(&app, &nurse).await),
            ("body", "木曜午後なら可能です。".to_string()),
        ];
        let (status, location, _) = post_form(
            &app,
            &nurse,
            &format!("/board/threads/{thread}/replies"),
            &form,
        )
        .await;
        assert_eq!(status, 303);
        let reply = location.split("#post-").nth(1).unwrap().to_string();
        let form = [
            ("csrf", csrf(&app, &nurse).await),
            ("body", "x".repeat(4001)),
        ];
        let (status, _, page) = post_form(
            &app,
            &nurse,
            &format!("/board/threads/{thread}/replies"),
            &form,
        )
        .await;
        assert_eq!(status, 400);
        assert!(page.contains("4000字以内"), "{page}");
        let (_, page) = get(&app, &doctor, &format!("/board/topics/{topic}")).await;
        let row = between(&page, &format!("id=\"thread-{thread}\""), "</tr>").unwrap();
        assert!(row.contains("class=\"reply-count\">1<"), "{row}");

        // Someone else's post cannot be edited or withdrawn.
        let form = [
            ("csrf", csrf(&app, &nurse).await),
            ("body", "書き換え".to_string()),
        ];
        let (status, _, page) =
            post_form(&app, &nurse, &format!("/board/posts/{opening}/edit"), &form).await;
        assert_eq!(status, 403);
        assert!(page.contains("投稿者本人だけ"), "{page}");
        let form = [("csrf", csrf(&app, &nurse).await)];
        let (status, _, _) = post_form(
            &app,
            &nurse,
            &format!("/board/posts/{opening}/withdraw"),
            &form,
        )
        .await;
        assert_eq!(status, 403);
        // The author edits: marked, the earlier text kept.
        let form = [
            ("csrf", csrf(&app, &doctor).await),
            (
                "body",
                "各施設の都合を金曜までに教えてください。".to_string(),
            ),
        ];
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &format!("/board/posts/{opening}/edit"),
            &form,
        )
        .await;
        assert_eq!(status, 303);
        let (_, page) = get(&app, &nurse, &format!("/board/threads/{thread}")).await;
        let post = between(&page, &format!("id=\"post-{opening}\""), "</article>").unwrap();
        assert!(
            post.contains("編集済み") && post.contains("金曜まで"),
            "{post}"
        );
        let history = between(&post, "<details class=\"history\">", "</details>").unwrap();
        assert!(
            history.contains("各施設の都合を教えてください。"),
            "{history}"
        );
        assert!(!page.contains("書き換え"));

        // Moderation: only the secretariat hides, with a reason; the text disappears.
        let form = [
            ("csrf", csrf(&app, &doctor).await),
            ("reason", "x".to_string()),
        ];
        let (status, _, _) =
            post_form(&app, &doctor, &format!("/board/posts/{reply}/hide"), &form).await;
        assert_eq!(status, 403);
        let form = [
            ("csrf", csrf(&app, &sec).await),
            ("reason", "患者を特定できる記載のため".to_string()),
        ];
        let (status, _, _) =
            post_form(&app, &sec, &format!("/board/posts/{reply}/hide"), &form).await;
        assert_eq!(status, 303);
        let (_, page) = get(&app, &doctor, &format!("/board/threads/{thread}")).await;
        let post = between(&page, &format!("id=\"post-{reply}\""), "</article>").unwrap();
        assert!(
            post.contains("事務局により非表示") && !post.contains("木曜午後"),
            "{post}"
        );
        let (_, page) = get(&app, &nurse, &format!("/board/threads/{thread}")).await;
        assert!(
            page.contains("患者を特定できる記載のため"),
            "the author sees the reason"
        );
        let form = [
            ("csrf", csrf(&app, &nurse).await),
            ("body", "再投稿".to_string()),
        ];
        let (status, _, _) =
            post_form(&app, &nurse, &format!("/board/posts/{reply}/edit"), &form).await;
        assert_eq!(status, 403, "a hidden post stays hidden");
        let (_, page) = get(&app, &doctor, &format!("/board/topics/{topic}")).await;
        let row = between(&page, &format!("id=\"thread-{thread}\""), "</tr>").unwrap();
        assert!(row.contains("class=\"reply-count\">0<"), "{row}");
        assert_eq!(audited(&app, "board.post.hide").await, 1);
        assert_eq!(
            audited(&app, "board.").await,
            5,
            "topic, thread, reply, edit, hide"
        );

        // The author withdraws the thread: gone from the list for others.
        let form = [("csrf", csrf(&app, &doctor).await)];
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &format!("/board/posts/{opening}/withdraw"),
            &form,
        )
        .await;
        assert_eq!(status, 303);
        let (status, _) = get(&app, &nurse, &format!("/board/threads/{thread}")).await;
        assert_eq!(status, 404);
        let form = [
            ("csrf", csrf(&app, &nurse).await),
            ("body", "まだ返信".to_string()),
        ];
        let (status, _, _) = post_form(
            &app,
            &nurse,
            &format!("/board/threads/{thread}/replies"),
            &form,
        )
        .await;
        assert_eq!(status, 403, "a closed thread takes no replies");

        // Paging: 21 threads make two pages, newest activity first.
        for i in 0..21 {
            let form = [
                ("csrf", csrf(&app, &nurse).await),
                ("title", format!("研修会の感想 {i:02}")),
                ("body", "よかったです。".to_string()),
            ];
            let (status, _, _) = post_form(
                &app,
                &nurse,
                &format!("/board/topics/{topic}/threads"),
                &form,
            )
            .await;
            assert_eq!(status, 303);
        }
        let (_, page1) = get(&app, &doctor, &format!("/board/topics/{topic}")).await;
        assert!(page1.contains("id=\"threads-next\""));
        assert!(page1.contains("研修会の感想 20") && !page1.contains("研修会の感想 00"));
        let (_, page2) = get(&app, &doctor, &format!("/board/topics/{topic}?page=2")).await;
        assert!(page2.contains("研修会の感想 00") && !page2.contains("id=\"threads-next\""));
        let (_, board) = get(&app, &doctor, "/board").await;
        let row = between(&board, &format!("id=\"topic-{topic}\""), "</tr>").unwrap();
        assert!(row.contains("<td>21</td>"), "{row}");
    })
    .await;
}

/// The secretariat's care of topics: editing a topic's title and description (bad input is a
/// form message, nothing stored; members may not), archiving it — listed apart, readable, the
/// thread and reply forms gone, a forged thread or reply refused with a message and nothing
/// stored — and reopening it; every change audited.
#[tokio::test]
async fn board_topics_edited_archived_and_reopened() {
    each_backend(|app| async move {
        let (sec, _) = app.sign_in("secretariat").await;
        let (doctor, _) = app.sign_in("doctor1").await;
        let form = [
            ("csrf", csrf(&app, &sec).await),
            ("title", "2031年度 研修会".to_string()),
            ("description", "研修会の連絡".into()),
            ("sort_order", "20".into()),
        ];
        let (status, location, _) = post_form(&app, &sec, "/board/topics", &form).await;
        assert_eq!(status, 303);
        let topic = location.trim_start_matches("/board/topics/").to_string();
        let topic_path = format!("/board/topics/{topic}");
        let form = [
            ("csrf", csrf(&app, &doctor).await),
            ("title", "第1回の感想".to_string()),
            ("body", "資料を共有してください。".into()),
        ];
        let (status, location, _) =
            post_form(&app, &doctor, &format!("{topic_path}/threads"), &form).await;
        assert_eq!(status, 303);
        let thread = location.trim_start_matches("/board/threads/").to_string();

        // Editing: members may not; an empty title is a form message; the secretariat may.
        let edit = |client: &reqwest::Client, title: &str| {
            let app = &app;
            let client = client.clone();
            let title = title.to_string();
            let path = format!("{topic_path}/edit");
            async move {
                let form = [
                    ("csrf", csrf(app, &client).await),
                    ("title", title),
                    ("description", "研修会の連絡と資料（2031年度）".into()),
                ];
                post_form(app, &client, &path, &form).await
            }
        };
        let (_, page) = get(&app, &doctor, &topic_path).await;
        assert!(
            !page.contains("id=\"topic-manage\""),
            "members have no topic form"
        );
        assert_eq!(edit(&doctor, "乗っ取り").await.0, 403);
        let (status, _, page) = edit(&sec, "  ").await;
        assert_eq!(status, 400);
        assert!(page.contains("id=\"topic-form-errors\""), "{page}");
        let (status, location, _) = edit(&sec, "2031年度 多職種研修会").await;
        assert_eq!(
            (status, location.contains("notice.board_topic_saved")),
            (303, true)
        );
        let stored = app
            .store
            .notices()
            .board_topic(&topic)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.title, "2031年度 多職種研修会");
        assert!(stored.edited_at.is_some());

        // Archiving: members may not; the secretariat does.
        let csrf_only = |client: &reqwest::Client| {
            let app = &app;
            let client = client.clone();
            async move { vec![("csrf", csrf(app, &client).await)] }
        };
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &format!("{topic_path}/archive"),
            &csrf_only(&doctor).await,
        )
        .await;
        assert_eq!(status, 403);
        assert!(!app
            .store
            .notices()
            .board_topic(&topic)
            .await
            .unwrap()
            .unwrap()
            .is_archived());
        let (status, location, _) = post_form(
            &app,
            &sec,
            &format!("{topic_path}/archive"),
            &csrf_only(&sec).await,
        )
        .await;
        assert_eq!(
            (status, location.contains("notice.board_topic_archived")),
            (303, true)
        );
        // Listed apart, readable, without forms.
        let (_, board) = get(&app, &doctor, "/board").await;
        let open_list = between(&board, "id=\"topics\"", "</table>").unwrap_or_default();
        let archived_list = between(&board, "id=\"archived-topics\"", "</table>").unwrap();
        assert!(
            !open_list.contains(&topic) && archived_list.contains(&topic),
            "{board}"
        );
        let (status, page) = get(&app, &doctor, &topic_path).await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"topic-archived\"") && page.contains("第1回の感想"));
        assert!(!page.contains("id=\"thread-form\""), "{page}");
        let (status, page) = get(&app, &doctor, &format!("/board/threads/{thread}")).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("資料を共有してください。") && page.contains("id=\"topic-archived\"")
        );
        assert!(!page.contains("id=\"reply-form\""), "{page}");
        // Forged posts are refused with a message; nothing stored.
        let posts_before = app
            .store
            .notices()
            .count_board_posts(&thread)
            .await
            .unwrap();
        let form = [
            ("csrf", csrf(&app, &doctor).await),
            ("body", "アーカイブ後の返信".to_string()),
        ];
        let (status, _, page) = post_form(
            &app,
            &doctor,
            &format!("/board/threads/{thread}/replies"),
            &form,
        )
        .await;
        assert_eq!(status, 409);
        assert!(page.contains("アーカイブされているため"), "{page}");
        let form = [
            ("csrf", csrf(&app, &doctor).await),
            ("title", "アーカイブ後のスレッド".to_string()),
            ("body", "本文".into()),
        ];
        let (status, _, page) =
            post_form(&app, &doctor, &format!("{topic_path}/threads"), &form).await;
        assert_eq!(status, 409);
        assert!(page.contains("アーカイブされているため"), "{page}");
        assert_eq!(
            app.store
                .notices()
                .count_board_posts(&thread)
                .await
                .unwrap(),
            posts_before
        );
        assert_eq!(
            app.store
                .notices()
                .count_board_threads(&topic, true)
                .await
                .unwrap(),
            1
        );
        // Archiving twice changes nothing; reopening restores the forms and replies.
        let (status, _, _) = post_form(
            &app,
            &sec,
            &format!("{topic_path}/archive"),
            &csrf_only(&sec).await,
        )
        .await;
        assert_eq!(status, 303);
        let (status, location, _) = post_form(
            &app,
            &sec,
            &format!("{topic_path}/reopen"),
            &csrf_only(&sec).await,
        )
        .await;
        assert_eq!(
            (status, location.contains("notice.board_topic_reopened")),
            (303, true)
        );
        let (_, page) = get(&app, &doctor, &topic_path).await;
        assert!(page.contains("id=\"thread-form\"") && !page.contains("id=\"topic-archived\""));
        let form = [
            ("csrf", csrf(&app, &doctor).await),
            ("body", "再開後の返信".to_string()),
        ];
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &format!("/board/threads/{thread}/replies"),
            &form,
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(audited(&app, "board.topic.edit").await, 1);
        assert_eq!(audited(&app, "board.topic.archive").await, 1);
        assert_eq!(audited(&app, "board.topic.reopen").await, 1);
        let (status, _, _) = post_form(
            &app,
            &sec,
            "/board/topics/no-such-topic/archive",
            &csrf_only(&sec).await,
        )
        .await;
        assert_eq!(status, 404);
    })
    .await;
}
